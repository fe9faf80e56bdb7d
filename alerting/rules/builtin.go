package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

//go:embed *.yml
var builtinFiles embed.FS

// Builtin returns Lookout's default rule pack, without the rules named in
// disabled or overridden (defined again) by user groups.
func Builtin(disabled []string, user []*Group, log *slog.Logger) ([]*Group, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	drop := map[string]bool{}
	for _, n := range disabled {
		drop[n] = true
	}
	for _, g := range user {
		for _, r := range g.Rules {
			drop[r.Name()] = true
		}
	}
	names, err := fs.Glob(builtinFiles, "*.yml")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	p := NewParser()
	var groups []*Group
	var errs []error
	for _, name := range names {
		data, err := builtinFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		rgs, perrs := rulefmt.Parse(data, false, model.UTF8Validation, p, log)
		if len(perrs) > 0 {
			errs = append(errs, fmt.Errorf("built-in %s: %w", name, errors.Join(perrs...)))
			continue
		}
		for _, rg := range rgs.Groups {
			g, err := newGroup("builtin:"+name, rg, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			g.Rules = slices.DeleteFunc(g.Rules, func(r Rule) bool { return drop[r.Name()] })
			if len(g.Rules) > 0 {
				groups = append(groups, g)
			}
		}
	}
	return groups, errors.Join(errs...)
}

// BuiltinFiles are the built-in rule files as Lookout embeds them, by
// file name, for `lookout rules export`: the rule pack in Prometheus's
// format, for teams that evaluate it in their own Prometheus.
func BuiltinFiles() (map[string][]byte, error) {
	names, err := fs.Glob(builtinFiles, "*.yml")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		if out[name], err = builtinFiles.ReadFile(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}
