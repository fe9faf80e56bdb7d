// Package importertest loads what an importer wrote as `lookout check`
// does, for the importers' tests.
package importertest

import (
	"maps"
	"slices"
	"testing"

	"github.com/lookout-dev/lookout/config"
)

// Loaded is an importer's output, loaded.
type Loaded struct {
	Out    string
	Cfg    *config.Config
	Probes map[string]config.Probe // by name
}

// Load parses out as `lookout check` loads a file, environment references
// read with lookupEnv, and fails the test when it does not load.
func Load(t *testing.T, out []byte, lookupEnv func(string) (string, bool)) Loaded {
	t.Helper()
	cfg, err := config.Parse("lookout.yml", out, lookupEnv)
	if err != nil {
		t.Fatalf("the converted config does not load: %v\n%s", err, out)
	}
	l := Loaded{Out: string(out), Cfg: cfg, Probes: map[string]config.Probe{}}
	for _, p := range cfg.Probes {
		l.Probes[p.Name] = p
	}
	return l
}

// Probe returns the probe named name, failing the test without it.
func (l Loaded) Probe(t *testing.T, name string) config.Probe {
	t.Helper()
	p, ok := l.Probes[name]
	if !ok {
		t.Fatalf("no probe %q; probes: %v\n%s", name, slices.Sorted(maps.Keys(l.Probes)), l.Out)
	}
	return p
}
