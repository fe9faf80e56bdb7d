package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lookout-dev/lookout/collectors/mongodb/internal/atlastest"
	"github.com/lookout-dev/lookout/config"
)

// Credentials shaped as Atlas issues them: an API key's public key and
// private key (a UUID), a service account's client ID and secret.
const (
	atlasGroup        = "5f4d6e8a9b1c2d3e4f5a6b7c"
	atlasCluster      = "prod-eu"
	atlasPublicKey    = "qwmtlzpe"
	atlasPrivateKey   = "8e1c5b0f-4a2d-4c7e-9f3a-2b6d1e0c9a7f"
	atlasClientID     = "mdb_sa_id_6650ce2e1a2b3c4d5e6f7a8b"
	atlasClientSecret = "mdb_sa_sk_Q7xv2LmN9pRt4WyZ8bKc3DfGh6JsEu1A"
)

// apiKey and serviceAccount are a fake Atlas's options with one kind of
// credentials.
func apiKey(o atlastest.Options) atlastest.Options {
	o.GroupID, o.Cluster, o.PublicKey, o.PrivateKey = atlasGroup, atlasCluster, atlasPublicKey, atlasPrivateKey
	return o
}

func serviceAccount(o atlastest.Options) atlastest.Options {
	o.GroupID, o.Cluster, o.ClientID, o.ClientSecret = atlasGroup, atlasCluster, atlasClientID, atlasClientSecret
	return o
}

// atlasBackups is a target's backups reading one atlas source at baseURL,
// decoded from a config file as the daemon decodes it. creds is the YAML
// of the credentials.
func atlasBackups(t *testing.T, baseURL, creds string) *config.Backups {
	t.Helper()
	cfg, err := config.Parse("lookout.yml", []byte(fmt.Sprintf(`
mongodb:
  - name: main
    uri: mongodb://127.0.0.1:27017
    backups:
      expect: {every: 1h}
      sources:
        - atlas: {group_id: %q, cluster: %q, base_url: %q, %s}
`, atlasGroup, atlasCluster, baseURL, creds)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.MongoDB[0].Backups
}

func apiKeyYAML(private string) string {
	return fmt.Sprintf("public_key: %q, private_key: %q", atlasPublicKey, private)
}

func serviceAccountYAML(secret string) string {
	return fmt.Sprintf("client_id: %q, client_secret: %q", atlasClientID, secret)
}

// atlasRead is a backup step's atlas source (as newBackupStep wires it),
// read at now with ctx.
type atlasRead func(ctx context.Context, now time.Time) (*backupReport, error)

func atlasSource(t *testing.T, b *config.Backups) atlasRead {
	t.Helper()
	s := newBackupStep(b, time.Now)
	if len(s.sources) != 1 || s.sources[0].cfg.Kind != config.BackupAtlas {
		t.Fatalf("sources %+v, want one atlas source", s.sources)
	}
	return func(ctx context.Context, now time.Time) (*backupReport, error) {
		return s.sources[0].read(ctx, nil, now)
	}
}

func readOK(t *testing.T, read atlasRead, now time.Time) *backupReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rep, err := read(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// atlasWant is what a read should report.
type atlasWant struct {
	lastSuccess    time.Time
	size, prevSize int64
	running        bool
	failures       int
	lastErrorHas   string
	restorable     int
	oldest         time.Time
	hasCopy        bool
	copied         time.Time
}

func checkAtlasReport(t *testing.T, rep *backupReport, w atlasWant) {
	t.Helper()
	if len(rep.types) != 1 || rep.types[0].name != atlasSnapshotType {
		t.Fatalf("types %+v, want one, %q", rep.types, atlasSnapshotType)
	}
	bt := rep.types[0]
	same := func(what string, got, want time.Time) {
		t.Helper()
		if !got.Equal(want) {
			t.Errorf("%s %s, want %s", what, got.UTC().Format(time.RFC3339), want.UTC().Format(time.RFC3339))
		}
	}
	same("last success", bt.lastSuccess, w.lastSuccess)
	same("oldest restorable", rep.oldest, w.oldest)
	same("newest copied", rep.copied, w.copied)
	if bt.size != w.size || bt.prevSize != w.prevSize {
		t.Errorf("size %d, previous %d; want %d, %d", bt.size, bt.prevSize, w.size, w.prevSize)
	}
	if bt.running != w.running || bt.stuck || bt.hasDuration {
		t.Errorf("running %v, stuck %v, has duration %v; want running %v, never stuck nor a duration", bt.running, bt.stuck, bt.hasDuration, w.running)
	}
	if bt.failures != w.failures {
		t.Errorf("%d failures since the last success, want %d", bt.failures, w.failures)
	}
	if w.lastErrorHas == "" && bt.lastError != "" || !strings.Contains(bt.lastError, w.lastErrorHas) {
		t.Errorf("last error %q, want it to hold %q", bt.lastError, w.lastErrorHas)
	}
	if rep.restorable != w.restorable {
		t.Errorf("%d restorable, want %d", rep.restorable, w.restorable)
	}
	if rep.hasCopy != w.hasCopy {
		t.Errorf("has copy %v, want %v", rep.hasCopy, w.hasCopy)
	}
}

// TestAtlasAPIKeyReadsEveryPage: 1,200 snapshots over three pages, oldest
// first, so the newest are on the last page and the oldest restorable on
// the first; an API key answering the digest challenge of the first
// request, and reusing it with a counted nonce on every request after,
// into the next read.
func TestAtlasAPIKeyReadsEveryPage(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	size := func(ageHours int) int64 { return 5_000_000_000 + int64(ageHours)*1_000 }
	var snaps []atlastest.Snapshot
	// 1,196 hourly snapshots 1,197 h to 2 h old, each kept 30 days; the
	// ones 5 h, 29 h, … old copied to another region.
	for age := 1197; age >= 2; age-- {
		s := atlastest.Snapshot{CreatedAt: ago(time.Duration(age) * time.Hour), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: size(age)}
		s.ExpiresAt = s.CreatedAt.Add(720 * time.Hour)
		if age%24 == 5 {
			s.CopyRegions = []string{"EU_WEST_1"}
		}
		snaps = append(snaps, s)
	}
	snaps = append(snaps[:1150:1150], append([]atlastest.Snapshot{
		{CreatedAt: ago(50 * time.Hour), Status: "failed", SnapshotType: "scheduled"}, // before the last success: forgotten
		{CreatedAt: ago(30 * time.Hour), Status: "queued", SnapshotType: "onDemand"},  // older than the last success: not running
	}, snaps[1150:]...)...)
	snaps = append(snaps,
		atlastest.Snapshot{CreatedAt: ago(90 * time.Minute), Status: "failed", SnapshotType: "scheduled"},
		atlastest.Snapshot{CreatedAt: ago(10 * time.Minute), Status: "inProgress", SnapshotType: "scheduled"},
	)
	if len(snaps) != 1200 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	srv := atlastest.Start(t, apiKey(atlastest.Options{
		Snapshots:    snaps,
		CopySettings: []atlastest.CopySetting{{RegionName: "EU_WEST_1", Frequencies: []string{"DAILY"}}},
	}))
	read := atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey)))
	want := atlasWant{
		lastSuccess: ago(2 * time.Hour), size: size(2), prevSize: size(3),
		running: true, failures: 1, lastErrorHas: "scheduled snapshot taken at " + ago(90*time.Minute).Format(time.RFC3339) + ": failed",
		restorable: 718, oldest: ago(719 * time.Hour), // 2 h to 719 h old: younger than their 720 h
		hasCopy: true, copied: ago(5 * time.Hour),
	}

	rep := readOK(t, read, now)
	checkAtlasReport(t, rep, want)
	if next := rep.nextPlanned; !next.After(time.Now()) || next.After(time.Now().Add(time.Hour)) {
		t.Errorf("next planned snapshot %s; want the schedule's nextSnapshot, within the hour", next)
	}
	if len(rep.recent) != recentBackups || rep.recent[0].Status != "inProgress" || rep.recent[1].Status != "failed" || rep.recent[2].Size != size(2) {
		t.Errorf("the API's newest snapshots: %+v; want the 10 newest, newest first", rep.recent)
	}
	reqs := srv.Requests()
	if reqs[0].Status != http.StatusUnauthorized || srv.Challenges() != 1 {
		t.Fatalf("first request answered %d, %d challenges; want the digest challenge first, once", reqs[0].Status, srv.Challenges())
	}
	var pages []string
	for _, r := range reqs[1:] {
		if r.Status != http.StatusOK {
			t.Errorf("%s %s?%s answered %d after the challenge", r.Method, r.Path, r.Query.Encode(), r.Status)
		}
		if strings.HasSuffix(r.Path, "/snapshots") {
			pages = append(pages, r.Query.Get("pageNum")+"×"+r.Query.Get("itemsPerPage"))
		}
	}
	if got := strings.Join(pages, " "); got != "1×500 2×500 3×500" {
		t.Errorf("pages read %q, want 1×500 2×500 3×500", got)
	}

	// The next read reuses the challenge: no new 401.
	checkAtlasReport(t, readOK(t, read, now), want)
	if n := srv.Challenges(); n != 1 {
		t.Errorf("%d challenges after the second read, want the first reused", n)
	}
}

// TestAtlasServiceAccount: a token from the token endpoint, sent as a
// Bearer token and reused across requests and reads until a minute before
// it expires.
func TestAtlasServiceAccount(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	snaps := []atlastest.Snapshot{
		{CreatedAt: now.Add(-26 * time.Hour), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: 300},
		{CreatedAt: now.Add(-2 * time.Hour), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: 310},
	}
	want := atlasWant{lastSuccess: now.Add(-2 * time.Hour), size: 310, prevSize: 300, restorable: 2, oldest: now.Add(-26 * time.Hour)}
	tests := []struct {
		name     string
		lifetime time.Duration
		// wantTokens after two reads of two requests each.
		wantTokens int
	}{
		{"an hour's token is reused", time.Hour, 1},
		{"a token expiring within a minute is fetched anew", 30 * time.Second, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := atlastest.Start(t, serviceAccount(atlastest.Options{Snapshots: snaps, TokenLifetime: tt.lifetime}))
			read := atlasSource(t, atlasBackups(t, srv.URL, serviceAccountYAML(atlasClientSecret)))
			checkAtlasReport(t, readOK(t, read, now), want)
			checkAtlasReport(t, readOK(t, read, now), want)
			if n := srv.TokensIssued(); n != tt.wantTokens {
				t.Errorf("%d tokens fetched, want %d", n, tt.wantTokens)
			}
			reqs := srv.Requests()
			if reqs[0].Method != http.MethodPost || reqs[0].Path != "/api/oauth/token" {
				t.Errorf("first request %s %s, want the token request", reqs[0].Method, reqs[0].Path)
			}
			for _, r := range reqs {
				if r.Status != http.StatusOK {
					t.Errorf("%s %s answered %d", r.Method, r.Path, r.Status)
				}
			}
		})
	}
}

// TestAtlasSnapshotStates: what each mix of snapshots reports.
func TestAtlasSnapshotStates(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	done := func(age time.Duration, size int64) atlastest.Snapshot {
		return atlastest.Snapshot{CreatedAt: ago(age), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: size}
	}
	with := func(s atlastest.Snapshot, f func(*atlastest.Snapshot)) atlastest.Snapshot { f(&s); return s }
	daily := []atlastest.CopySetting{{RegionName: "US_EAST_1", Frequencies: []string{"DAILY"}}}
	tests := []struct {
		name   string
		snaps  []atlastest.Snapshot
		copies []atlastest.CopySetting
		want   atlasWant
	}{
		{
			name:  "the newest snapshot failed",
			snaps: []atlastest.Snapshot{done(50*time.Hour, 90), done(26*time.Hour, 100), {CreatedAt: ago(2 * time.Hour), Status: "failed", SnapshotType: "fallback"}},
			want: atlasWant{lastSuccess: ago(26 * time.Hour), size: 100, prevSize: 90, failures: 1,
				lastErrorHas: "fallback snapshot taken at " + ago(2*time.Hour).Format(time.RFC3339), restorable: 2, oldest: ago(50 * time.Hour)},
		},
		{
			name:  "a failure before the last success is forgotten",
			snaps: []atlastest.Snapshot{{CreatedAt: ago(30 * time.Hour), Status: "failed", SnapshotType: "scheduled"}, done(26*time.Hour, 100)},
			want:  atlasWant{lastSuccess: ago(26 * time.Hour), size: 100, prevSize: -1, restorable: 1, oldest: ago(26 * time.Hour)},
		},
		{
			name: "expired snapshots are not restorable",
			snaps: []atlastest.Snapshot{
				with(done(200*time.Hour, 70), func(s *atlastest.Snapshot) { s.ExpiresAt = ago(20 * time.Hour) }),
				with(done(100*time.Hour, 80), func(s *atlastest.Snapshot) { s.ExpiresAt = now.Add(10 * time.Hour) }),
				done(2*time.Hour, 90), // no expiresAt: kept until deleted
			},
			want: atlasWant{lastSuccess: ago(2 * time.Hour), size: 90, prevSize: 80, restorable: 2, oldest: ago(100 * time.Hour)},
		},
		{
			name:  "snapshots queued and in progress after the last success",
			snaps: []atlastest.Snapshot{done(26*time.Hour, 100), {CreatedAt: ago(time.Hour), Status: "inProgress"}, {CreatedAt: ago(time.Minute), Status: "queued"}},
			want:  atlasWant{lastSuccess: ago(26 * time.Hour), size: 100, prevSize: -1, running: true, restorable: 1, oldest: ago(26 * time.Hour)},
		},
		{
			name:  "no snapshot yet",
			snaps: []atlastest.Snapshot{{CreatedAt: ago(time.Minute), Status: "failed", SnapshotType: "onDemand"}},
			want:  atlasWant{prevSize: -1, failures: 1, lastErrorHas: "onDemand snapshot", restorable: 0},
		},
		{
			name:   "copied to another region",
			snaps:  []atlastest.Snapshot{with(done(26*time.Hour, 100), func(s *atlastest.Snapshot) { s.CopyRegions = []string{"US_EAST_1"} }), done(2*time.Hour, 110)},
			copies: daily,
			want:   atlasWant{lastSuccess: ago(2 * time.Hour), size: 110, prevSize: 100, restorable: 2, oldest: ago(26 * time.Hour), hasCopy: true, copied: ago(26 * time.Hour)},
		},
		{
			name:   "copy settings, nothing copied yet",
			snaps:  []atlastest.Snapshot{done(2*time.Hour, 110)},
			copies: daily,
			want:   atlasWant{lastSuccess: ago(2 * time.Hour), size: 110, prevSize: -1, restorable: 1, oldest: ago(2 * time.Hour), hasCopy: true},
		},
		{
			name:   "a copy setting with nothing to copy",
			snaps:  []atlastest.Snapshot{done(2*time.Hour, 110)},
			copies: []atlastest.CopySetting{{RegionName: "US_EAST_1"}},
			want:   atlasWant{lastSuccess: ago(2 * time.Hour), size: 110, prevSize: -1, restorable: 1, oldest: ago(2 * time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := atlastest.Start(t, apiKey(atlastest.Options{Snapshots: tt.snaps, CopySettings: tt.copies}))
			checkAtlasReport(t, readOK(t, atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey))), now), tt.want)
		})
	}
}

// TestAtlasRateLimited: a 429 is retried after its Retry-After, within
// the deadline and three times at most.
func TestAtlasRateLimited(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	snaps := []atlastest.Snapshot{{CreatedAt: now.Add(-time.Hour), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: 10}}
	count429 := func(srv *atlastest.Server) int {
		n := 0
		for _, r := range srv.Requests() {
			if r.Status == http.StatusTooManyRequests {
				n++
			}
		}
		return n
	}

	t.Run("waits Retry-After, then reads", func(t *testing.T) {
		srv := atlastest.Start(t, serviceAccount(atlastest.Options{Snapshots: snaps}))
		srv.RateLimit(1, "1")
		start := time.Now()
		rep := readOK(t, atlasSource(t, atlasBackups(t, srv.URL, serviceAccountYAML(atlasClientSecret))), now)
		if took := time.Since(start); took < time.Second {
			t.Errorf("read in %s, sooner than Retry-After: 1", took)
		}
		checkAtlasReport(t, rep, atlasWant{lastSuccess: now.Add(-time.Hour), size: 10, prevSize: -1, restorable: 1, oldest: now.Add(-time.Hour)})
		if n := count429(srv); n != 1 {
			t.Errorf("%d 429s answered, want 1", n)
		}
	})

	t.Run("a Retry-After past the deadline fails at once", func(t *testing.T) {
		srv := atlastest.Start(t, apiKey(atlastest.Options{Snapshots: snaps}))
		srv.RateLimit(1, "30")
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey)))(ctx, now)
		if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "/backup/snapshots") {
			t.Fatalf("error %v, want the 429 on the snapshots' path", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("gave up after %s; the wait could never fit", took)
		}
	})

	t.Run("gives up after three retries", func(t *testing.T) {
		srv := atlastest.Start(t, apiKey(atlastest.Options{Snapshots: snaps}))
		srv.RateLimit(100, "0")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey)))(ctx, now)
		var ae *atlasError
		if !errors.As(err, &ae) || ae.status != http.StatusTooManyRequests {
			t.Fatalf("error %v, want the last 429", err)
		}
		if n := count429(srv); n != 1+atlasMaxRetries {
			t.Errorf("%d 429s answered, want %d", n, 1+atlasMaxRetries)
		}
	})
}

// TestAtlasWrongCredentials: refused credentials give an error that names
// the request and what to check, and never shows a secret.
func TestAtlasWrongCredentials(t *testing.T) {
	const wrongPrivate, wrongSecret = "0b7e9c2a-1d3f-4e5a-8b6c-7d9e0f1a2b3c", "mdb_sa_sk_WrongWrongWrongWrongWrongWrong"
	tests := []struct {
		name    string
		opts    atlastest.Options
		creds   string
		secret  string
		wantHas []string
	}{
		{"a wrong private key", apiKey(atlastest.Options{}), apiKeyYAML(wrongPrivate), wrongPrivate,
			[]string{"GET /api/atlas/v2/groups/" + atlasGroup + "/clusters/" + atlasCluster + "/backup/snapshots", "401 Unauthorized", "UNAUTHORIZED", "check public_key and private_key"}},
		{"a wrong client secret", serviceAccount(atlastest.Options{}), serviceAccountYAML(wrongSecret), wrongSecret,
			[]string{"POST /api/oauth/token", "401 Unauthorized", "invalid_client", "check client_id and client_secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := atlastest.Start(t, tt.opts)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := atlasSource(t, atlasBackups(t, srv.URL, tt.creds))(ctx, time.Now())
			if err == nil {
				t.Fatal("read with wrong credentials")
			}
			msg := err.Error()
			for _, s := range tt.wantHas {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %q", msg, s)
				}
			}
			for _, secret := range []string{tt.secret, atlasPrivateKey, atlasClientSecret} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a secret", msg)
				}
			}
		})
	}
}

// TestAtlasErrorExcerpt: of an error's body, the error shows the errorCode
// and a short, one-line excerpt of the detail without the secret, even
// when the body quotes it.
func TestAtlasErrorExcerpt(t *testing.T) {
	detail := "The key " + atlasPrivateKey + " may not read this project.\n" + strings.Repeat("Lorem ipsum dolor sit amet. ", 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"detail": %q, "error": 403, "errorCode": "ORG_REQUIRES_ACCESS_LIST", "reason": "Forbidden"}`, detail)
	}))
	defer srv.Close()
	_, err := atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey)))(t.Context(), time.Now())
	if err == nil {
		t.Fatal("no error for a 403")
	}
	msg := err.Error()
	for _, s := range []string{"403 Forbidden", "ORG_REQUIRES_ACCESS_LIST", "The key REDACTED may not read this project. Lorem", "…", "Project Read Only"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q lacks %q", msg, s)
		}
	}
	if strings.Contains(msg, atlasPrivateKey) || strings.Contains(msg, "\n") || len(msg) > 600 {
		t.Errorf("error shows the secret, a line break or more than a short excerpt (%d bytes):\n%s", len(msg), msg)
	}
}

// TestAtlasRedirectToAnotherHost: a redirect to another host is refused,
// and the other host never sees a request (nor the token).
func TestAtlasRedirectToAnotherHost(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		leaked = append(leaked, r.URL.Path+" "+r.Header.Get("Authorization"))
	}))
	defer other.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token": "mdb_sa_at_secret", "token_type": "Bearer", "expires_in": 3600}`)
			return
		}
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer front.Close()
	_, err := atlasSource(t, atlasBackups(t, front.URL, serviceAccountYAML(atlasClientSecret)))(t.Context(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "another host") || !strings.Contains(err.Error(), "/backup/snapshots") {
		t.Errorf("error %v, want the redirect refused", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the other host got %q", leaked)
	}
}

// TestAtlasBounds: an answer is read up to 16 MiB, and the listing up to
// 50 pages.
func TestAtlasBounds(t *testing.T) {
	t.Run("an answer over 16 MiB", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", atlastest.SnapshotsVersion)
			fmt.Fprint(w, `{"results": [`)
			chunk := []byte(strings.Repeat(" ", 1<<20))
			for range 17 {
				_, _ = w.Write(chunk)
			}
			fmt.Fprint(w, `]}`)
		}))
		defer srv.Close()
		_, err := atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey)))(t.Context(), time.Now())
		if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
			t.Errorf("error %v, want the answer refused as too large", err)
		}
	})

	t.Run("a listing that never ends", func(t *testing.T) {
		var page strings.Builder
		page.WriteString(`{"totalCount": 1000000, "results": [`)
		for i := range atlasPageSize {
			if i > 0 {
				page.WriteString(",")
			}
			page.WriteString(`{"status": "completed", "createdAt": "2026-12-01T02:00:00Z", "storageSizeBytes": 1}`)
		}
		page.WriteString(`]}`)
		var mu sync.Mutex
		pages := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			pages++
			mu.Unlock()
			fmt.Fprint(w, page.String())
		}))
		defer srv.Close()
		_, err := atlasSource(t, atlasBackups(t, srv.URL, apiKeyYAML(atlasPrivateKey)))(t.Context(), time.Now())
		if err == nil || !strings.Contains(err.Error(), "more than 50 pages") {
			t.Errorf("error %v, want the listing cut at 50 pages", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if pages != atlasMaxPages {
			t.Errorf("%d pages read, want %d", pages, atlasMaxPages)
		}
	})
}

// backupPass serves a pass of the backup step, for testutil.
type backupPass struct {
	p *pass
	d *backupDescs
}

func (c backupPass) Describe(ch chan<- *prometheus.Desc) { c.d.describe(ch) }
func (c backupPass) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.p.metrics {
		ch <- m
	}
}

// TestAtlasMetrics: the backup step's metrics of an atlas source,
// including the copy's newest snapshot under the source's own name.
func TestAtlasMetrics(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	srv := atlastest.Start(t, serviceAccount(atlastest.Options{
		Snapshots: []atlastest.Snapshot{
			{CreatedAt: ago(26 * time.Hour), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: 4000, CopyRegions: []string{"EU_WEST_1"}},
			{CreatedAt: ago(2 * time.Hour), Status: "completed", SnapshotType: "scheduled", StorageSizeBytes: 4200},
			{CreatedAt: ago(time.Hour), Status: "failed", SnapshotType: "scheduled"},
		},
		CopySettings: []atlastest.CopySetting{{RegionName: "EU_WEST_1", Frequencies: []string{"DAILY"}}},
	}))
	step := newBackupStep(atlasBackups(t, srv.URL, serviceAccountYAML(atlasClientSecret)), func() time.Time { return now })
	p := &pass{target: "main", features: map[string]bool{}}
	for _, sub := range step.subCollectors() {
		if err := sub.collect(t.Context(), nil, p); err != nil {
			t.Fatalf("%s: %v", sub.name, err)
		}
	}
	want := fmt.Sprintf(`
# HELP mongodb_backup_last_success_timestamp_seconds When the newest successful backup of the type completed; 0 when the source has none.
# TYPE mongodb_backup_last_success_timestamp_seconds gauge
mongodb_backup_last_success_timestamp_seconds{source="atlas",target="main",type="snapshot"} %d
# HELP mongodb_backup_last_size_bytes The newest successful backup's size.
# TYPE mongodb_backup_last_size_bytes gauge
mongodb_backup_last_size_bytes{source="atlas",target="main",type="snapshot"} 4200
# HELP mongodb_backup_previous_size_bytes The size of the successful backup before the newest.
# TYPE mongodb_backup_previous_size_bytes gauge
mongodb_backup_previous_size_bytes{source="atlas",target="main",type="snapshot"} 4000
# HELP mongodb_backup_failures_since_success Failed backups newer than the newest success.
# TYPE mongodb_backup_failures_since_success gauge
mongodb_backup_failures_since_success{source="atlas",target="main",type="snapshot"} 1
# HELP mongodb_backup_restorable How many restorable backups the source holds.
# TYPE mongodb_backup_restorable gauge
mongodb_backup_restorable{source="atlas",target="main"} 2
# HELP mongodb_backup_oldest_timestamp_seconds The restore point of the oldest restorable backup.
# TYPE mongodb_backup_oldest_timestamp_seconds gauge
mongodb_backup_oldest_timestamp_seconds{source="atlas",target="main"} %d
# HELP mongodb_backup_copy_last_success_timestamp_seconds The newest backup in the off-site copy of the source.
# TYPE mongodb_backup_copy_last_success_timestamp_seconds gauge
mongodb_backup_copy_last_success_timestamp_seconds{source="atlas",target="main"} %d
`, ago(2*time.Hour).Unix(), ago(26*time.Hour).Unix(), ago(26*time.Hour).Unix())
	if err := testutil.CollectAndCompare(backupPass{p, step.descs}, strings.NewReader(want),
		"mongodb_backup_last_success_timestamp_seconds", "mongodb_backup_last_size_bytes", "mongodb_backup_previous_size_bytes",
		"mongodb_backup_failures_since_success", "mongodb_backup_restorable", "mongodb_backup_oldest_timestamp_seconds",
		"mongodb_backup_copy_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}
