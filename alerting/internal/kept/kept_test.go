package kept_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/internal/kept"
)

// stored is the test codec's value: the ID and the times.
type stored struct {
	ID       string
	From, To time.Time
}

var codec = kept.Codec{
	Encode: func(s dispatch.Silence) ([]byte, error) {
		return json.Marshal(stored{ID: s.ID, From: s.StartsAt, To: s.EndsAt})
	},
	Decode: func(key, v []byte) (dispatch.Silence, error) {
		var st stored
		if err := json.Unmarshal(v, &st); err != nil {
			return dispatch.Silence{}, err
		}
		if st.ID != string(key) {
			return dispatch.Silence{}, errors.New("stored under another ID")
		}
		return dispatch.Silence{ID: st.ID, StartsAt: st.From, EndsAt: st.To}, nil
	},
}

type storageError struct{ err error }

func (e *storageError) Error() string { return "test: " + e.err.Error() }

func open(t *testing.T, db *bolt.DB) *kept.Silences {
	t.Helper()
	b, err := kept.BoltBucket(db, "test")
	if err != nil {
		t.Fatal(err)
	}
	k, err := kept.Open(b, kept.Config{
		Codec: codec, Retention: time.Hour,
		StorageError: func(err error) error { return &storageError{err} },
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ids(l dispatch.SilenceList) (out []string) {
	for _, s := range l {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

// TestListNeverChangesUnderItsReader: the list All returned stays as it
// was through Add (with a replacement), End and DeleteExpired, while the
// store and the bucket move on; a reopened store reads what was written.
func TestListNeverChangesUnderItsReader(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(dir, "lookout.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		k := open(t, db)
		now := time.Now()
		keep := func(dispatch.SilenceList) (int, error) { return -1, nil }
		for _, id := range []string{"a", "b", "c"} {
			if err := k.Add(dispatch.Silence{ID: id, StartsAt: now, EndsAt: now.Add(time.Minute)}, keep); err != nil {
				t.Fatal(err)
			}
		}
		held := k.All()
		before := slices.Clone(held)

		// d replaces a, b ends now, and c is deleted an hour after it ended.
		replaceA := func(l dispatch.SilenceList) (int, error) {
			return slices.IndexFunc(l, func(s dispatch.Silence) bool { return s.ID == "a" }), nil
		}
		if err := k.Add(dispatch.Silence{ID: "d", StartsAt: now, EndsAt: now.Add(2 * time.Hour)}, replaceA); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := k.End("b", now); !ok || err != nil {
			t.Fatalf("End(b) = %v, %v", ok, err)
		}
		if _, ok, _ := k.End("nope", now); ok {
			t.Error("End of an unknown ID found one")
		}
		time.Sleep(time.Hour + time.Minute)
		if n, err := k.DeleteExpired(time.Now()); n != 2 || err != nil {
			t.Errorf("DeleteExpired = %d, %v; want b and c deleted", n, err)
		}

		if !slices.EqualFunc(held, before, func(a, b dispatch.Silence) bool { return a.ID == b.ID && a.EndsAt.Equal(b.EndsAt) }) {
			t.Errorf("the list held changed: %v, want %v", held, before)
		}
		if got := ids(k.All()); !slices.Equal(got, []string{"d"}) {
			t.Errorf("kept %v, want [d]", got)
		}
		if got := ids(open(t, db).All()); !slices.Equal(got, []string{"d"}) {
			t.Errorf("reopened: %v, want [d]", got)
		}
	})
}

// TestRefusedWrite: a write the database refuses returns the owner's
// storage error and leaves the list as it was.
func TestRefusedWrite(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "lookout.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := open(t, db)
	now := time.Now()
	if err := k.Add(dispatch.Silence{ID: "a", StartsAt: now, EndsAt: now.Add(time.Hour)}, func(dispatch.SilenceList) (int, error) { return -1, nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	sil, ok, err := k.End("a", now)
	var se *storageError
	if !ok || !errors.As(err, &se) || !errors.Is(se.err, bolt.ErrDatabaseNotOpen) {
		t.Errorf("End on a closed database: %v, %v; want the owner's storage error", ok, err)
	}
	if !sil.EndsAt.Equal(now.Add(time.Hour)) || !k.All()[0].EndsAt.Equal(now.Add(time.Hour)) {
		t.Errorf("End returned %v and kept %v; want both unchanged", sil, k.All())
	}
}
