package daemon

import (
	"context"

	"github.com/lookout-dev/lookout/config"
)

// setupStatusPages builds the status pages and the incidents at start.
func (d *daemon) setupStatusPages(cfg *config.Config) error { return nil }

// applyStatusPages applies a reloaded config's status pages.
func (d *daemon) applyStatusPages(cfg *config.Config) {}

// runStatusPages keeps the incidents and the pages' cache until ctx ends.
func (d *daemon) runStatusPages(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// statusRoutes are the status pages, their JSON and badges, on the public
// listener.
func (d *daemon) statusRoutes() []endpoint { return nil }

// incidentRoutes are the admin API's incident endpoints.
func (d *daemon) incidentRoutes() []endpoint { return nil }
