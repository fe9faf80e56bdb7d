package browserprobe

import (
	"testing"

	"github.com/lookout-dev/lookout/config"
)

// TestPressKeys: every key name that config accepts for a press step is
// one the prober can type, so a file that passes lookout check never
// fails a run on its key.
func TestPressKeys(t *testing.T) {
	keys := keyNames()
	for _, name := range config.BrowserKeys {
		if _, ok := keys[name]; !ok {
			t.Errorf("config accepts press key %q, which the prober cannot type", name)
		}
	}
	for _, c := range []string{"a", "Z", "7", "@"} {
		if _, ok := keys[c]; !ok {
			t.Errorf("the prober cannot type the character %q", c)
		}
	}
}
