package daemon

import (
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/config"
)

// LoadRules loads the rule files of cfg (globs relative to the config
// file's folder, as in Prometheus) and, unless turned off, the built-in
// pack without the rules disabled or overridden.
func LoadRules(configFile string, cfg *config.Config, log *slog.Logger) ([]*rules.Group, error) {
	patterns := make([]string, len(cfg.Alerting.RuleFiles))
	for i, p := range cfg.Alerting.RuleFiles {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(configFile), p)
		}
		patterns[i] = p
	}
	user, err := rules.Load(patterns, log)
	if !*cfg.Alerting.BuiltinRules {
		return user, err
	}
	builtin, berr := rules.Builtin(cfg.Alerting.DisabledRules, user, log)
	return append(builtin, user...), errors.Join(err, berr)
}
