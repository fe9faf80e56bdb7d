package daemon

// uiRoutes are the admin web UI's pages and assets.
func (d *daemon) uiRoutes() []endpoint { return nil }
