package daemon

import (
	"errors"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// dryRunRestartOnly builds what a reload does not apply but the next start
// will, so that a reload whose config would not start is refused now
// rather than at the next start: every receiver's integrations (on a
// throwaway registry, then dropped), and, when they changed, the listen
// addresses (bound, then closed) and the storage path (its database opened,
// then closed, with the start's own checks).
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
		errs = append(errs, tryListen("server.listen", cfg.Server.Listen))
	}
	if p := cfg.Server.Public; p != nil && p.Listen != d.publicListen {
		errs = append(errs, tryListen("server.public.listen", p.Listen))
	}
	if cfg.Storage.Path != d.storagePath {
		if db, err := openStorage(cfg.Storage.Path); err != nil {
			errs = append(errs, err)
		} else {
			_ = db.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the next start would fail (sections a reload does not apply):\n%w", err)
	}
	return nil
}

// tryListen binds addr and closes it again; the error names field.
func tryListen(field, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return ln.Close()
}
