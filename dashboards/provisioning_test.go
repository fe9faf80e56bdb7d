package dashboards_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestProvisioning: the provisioning files are Grafana's format (version
// 1), the data source is a Prometheus one the dashboards' datasource
// variable picks (type prometheus, the default), and the dashboard
// provider reads files from the folder the README tells to copy them to.
func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, Access, URL string
			IsDefault                    bool `yaml:"isDefault"`
			JSONData                     struct {
				TimeInterval string `yaml:"timeInterval"`
			} `yaml:"jsonData"`
		}
	}
	read(t, "provisioning/datasources/lookout.yml", &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %+v; want apiVersion 1 and one data source", ds)
	}
	if d := ds.Datasources[0]; d.Type != "prometheus" || !d.IsDefault || d.URL == "" || d.Access != "proxy" || d.JSONData.TimeInterval == "" {
		t.Errorf("data source %+v; want the default, of type prometheus, through Grafana's proxy, with the scrape interval", d)
	}
	var dash struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Folder, Type    string
			AllowUIUpdates        bool `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int  `yaml:"updateIntervalSeconds"`
			Options               struct{ Path string }
		}
	}
	read(t, "provisioning/dashboards/lookout.yml", &dash)
	if dash.APIVersion != 1 || len(dash.Providers) != 1 {
		t.Fatalf("dashboards: %+v; want apiVersion 1 and one provider", dash)
	}
	p := dash.Providers[0]
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != "file" || p.Folder != "Lookout" || p.Options.Path == "" || !strings.Contains(string(readme), p.Options.Path) {
		t.Errorf("provider %+v; want type file, folder Lookout, and the path the README names", p)
	}
	if files, _ := filepath.Glob("*.json"); len(files) == 0 {
		t.Error("no dashboards for the provider to read")
	}
}

func read(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
