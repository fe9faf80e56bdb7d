package mongodb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/config"
)

// dumpType is the type label of dump files and objects (mongodump's
// archives, or any file a backup job writes).
const dumpType = "dump"

// dumpSet keeps what a listing of dumps found, one entry at a time: the
// newest and the one before it, the oldest, how many, and the newest few
// for the API. Its memory does not grow with the listing.
type dumpSet struct {
	count                int
	newest, prev, oldest time.Time
	newestSize, prevSize int64
	recent               []BackupEntry // newest first, at most recentBackups
}

func (s *dumpSet) add(name string, at time.Time, size int64) {
	s.count++
	if i := len(s.recent); i < recentBackups || at.After(s.recent[i-1].End) {
		e := BackupEntry{Name: name, Type: dumpType, Status: "done", End: at, Size: size}
		if i == recentBackups {
			s.recent = s.recent[:i-1]
		}
		j, _ := slices.BinarySearchFunc(s.recent, at, func(e BackupEntry, at time.Time) int { return at.Compare(e.End) })
		s.recent = slices.Insert(s.recent, j, e)
	}
	switch {
	case at.After(s.newest):
		s.prev, s.prevSize = s.newest, s.newestSize
		s.newest, s.newestSize = at, size
	case at.After(s.prev):
		s.prev, s.prevSize = at, size
	}
	if s.oldest.IsZero() || at.Before(s.oldest) {
		s.oldest = at
	}
}

// report is the set as a source's report: every dump counts as restorable.
func (s *dumpSet) report() *backupReport {
	t := backupType{name: dumpType, lastSuccess: s.newest, size: s.newestSize, prevSize: -1}
	if !s.prev.IsZero() {
		t.prevSize = s.prevSize
	}
	return &backupReport{types: []backupType{t}, restorable: s.count, oldest: s.oldest, recent: s.recent}
}

// filesBatch is how many entries of the folder are read at a time.
const filesBatch = 256

// filesReader reads the dumps in a folder: the regular files whose name
// matches the pattern, by modification time.
func filesReader(cfg *config.FilesSource) func(context.Context, *mongo.Client, time.Time) (*backupReport, error) {
	return func(ctx context.Context, _ *mongo.Client, _ time.Time) (*backupReport, error) {
		dir, err := os.Open(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		defer dir.Close()
		var set dumpSet
		for {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("files: list %s: %w", cfg.Path, err)
			}
			entries, err := dir.ReadDir(filesBatch)
			for _, e := range entries {
				if !e.Type().IsRegular() {
					continue
				}
				if ok, _ := path.Match(cfg.Pattern, e.Name()); !ok {
					continue
				}
				info, err := e.Info()
				if err != nil {
					continue // removed since the listing
				}
				set.add(e.Name(), info.ModTime(), info.Size())
			}
			if errors.Is(err, io.EOF) {
				return set.report(), nil
			}
			if err != nil {
				return nil, fmt.Errorf("files: list %s: %w", cfg.Path, err)
			}
		}
	}
}
