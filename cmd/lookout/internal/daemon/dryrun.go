package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/config"
)

// dryRunRestartOnly builds what a reload does not apply but the next start
// will, so that a reload whose config would not start is refused now
// rather than at the next start: every receiver's integrations (on a
// throwaway registry, then dropped), and, when they changed, the listen
// address (bound, then closed) and the storage path (its database opened,
// then closed).
func (d *daemon) dryRunRestartOnly(cfg *config.Config) error {
	var errs []error
	deps := d.alerting.deps
	deps.reg = prometheus.NewRegistry()
	for _, r := range cfg.Alerting.Receivers {
		_, sentries, err := d.integrations(r, deps)
		for _, s := range sentries {
			_ = s.Close(0)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Server.Listen != d.listen {
		ln, err := net.Listen("tcp", cfg.Server.Listen)
		if err != nil {
			errs = append(errs, fmt.Errorf("server.listen: %w", err))
		} else {
			_ = ln.Close()
		}
	}
	if cfg.Storage.Path != d.storagePath {
		if err := tryStorage(cfg.Storage.Path); err != nil {
			errs = append(errs, fmt.Errorf("storage.path: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the next start would fail (sections a reload does not apply):\n%w", err)
	}
	return nil
}

// tryStorage opens (creating it if need be) the database in path and
// closes it again.
func tryStorage(path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(path, "lookout.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	return db.Close()
}
