package daemon

import "github.com/lookout-dev/lookout/config"

// applyMaintenance applies a reloaded config's maintenance windows.
func (d *daemon) applyMaintenance(cfg *config.Config) {}

// maintenanceRoutes are the admin API's maintenance endpoints.
func (d *daemon) maintenanceRoutes() []endpoint { return nil }
