package blackbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer"
)

// Prometheus' defaults, and blackbox_exporter's.
const (
	defaultScrapeInterval = time.Minute
	defaultScrapeTimeout  = 10 * time.Second
	// timeoutOffset is what blackbox_exporter takes off the scrape timeout
	// Prometheus sends, so its answer arrives in time (--timeout-offset).
	timeoutOffset = 500 * time.Millisecond
	// defaultModule is the module blackbox_exporter probes with when a
	// scrape names none.
	defaultModule = "http_2xx"
)

// job is a Prometheus scrape job that has blackbox_exporter probe its
// targets.
type job struct {
	name     string
	interval time.Duration
	// timeout is the scrape timeout, which blackbox_exporter shortens by
	// timeoutOffset and by a module's timeout.
	timeout time.Duration
	targets []target
}

// target is one target of a job, as Prometheus has relabelled it: the
// parameters blackbox_exporter reads from the scrape and the labels the
// scraped series carry.
type target struct {
	where    string // its place in prometheus.yml
	target   string // the target parameter: what blackbox_exporter probes
	module   string
	hostname string // the hostname parameter, or ""
	labels   map[string]string
}

// scrapeConfig is what the importer reads of a scrape config; Rest holds
// the other keys, among them the service discovery configs.
type scrapeConfig struct {
	JobName        string              `yaml:"job_name"`
	MetricsPath    string              `yaml:"metrics_path"`
	Params         map[string][]string `yaml:"params"`
	ScrapeInterval string              `yaml:"scrape_interval"`
	ScrapeTimeout  string              `yaml:"scrape_timeout"`
	StaticConfigs  []targetGroup       `yaml:"static_configs"`
	FileSDConfigs  []struct {
		Files []string `yaml:"files"`
	} `yaml:"file_sd_configs"`
	RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
	Rest           map[string]any    `yaml:",inline"`
}

// targetGroup is a static_configs entry, or one of a file_sd file.
type targetGroup struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// readJobs reads the scrape jobs of a Prometheus config that probe
// through blackbox_exporter; dir is the config's folder, for the files of
// file_sd_configs ("": none read). A job it cannot read, or reads only in
// part, is in ls; the error is for a file that cannot be read at all.
func readJobs(data []byte, dir string, ls *leftSet) ([]job, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	doc := deref(&root)
	if doc == nil {
		return nil, nil
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the file is not a YAML mapping; want a Prometheus config with scrape_configs", doc.Line)
	}
	interval, timeout := defaultScrapeInterval, time.Duration(0)
	var configs *yaml.Node
	for _, f := range fields(doc, "") {
		switch f.key {
		case "global":
			var g struct {
				ScrapeInterval string `yaml:"scrape_interval"`
				ScrapeTimeout  string `yaml:"scrape_timeout"`
			}
			if err := f.value.Decode(&g); err != nil {
				return nil, fmt.Errorf("line %d: global: %w", f.value.Line, err)
			}
			var err error
			if interval, err = promDuration(g.ScrapeInterval, defaultScrapeInterval); err != nil {
				return nil, fmt.Errorf("line %d: global.scrape_interval: %w", f.value.Line, err)
			}
			if timeout, err = promDuration(g.ScrapeTimeout, 0); err != nil {
				return nil, fmt.Errorf("line %d: global.scrape_timeout: %w", f.value.Line, err)
			}
		case "scrape_configs":
			configs = f.value
		}
	}
	if timeout == 0 {
		timeout = min(defaultScrapeTimeout, interval)
	}
	if configs == nil {
		return nil, nil
	}
	if configs.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: scrape_configs is not a list", configs.Line)
	}
	var jobs []job
	for i, n := range configs.Content {
		where := fmt.Sprintf("scrape_configs[%d]", i)
		if j, ok := readJob(deref(n), where, dir, interval, timeout, ls); ok {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// readJob reads one scrape config; ok is false when it is not a job of
// blackbox_exporter, or one the importer cannot read (then in ls).
func readJob(n *yaml.Node, where, dir string, globalInterval, globalTimeout time.Duration, ls *leftSet) (job, bool) {
	var sc scrapeConfig
	if err := n.Decode(&sc); err != nil {
		// Only a job that reads like blackbox_exporter's is worth a word.
		if looksLikeProbeJob(n) {
			ls.addTop(importer.Left{Where: where, Item: jobItem(n), Why: "cannot be read: " + yamlReason(err)})
		}
		return job{}, false
	}
	if !strings.HasSuffix(sc.MetricsPath, "/probe") {
		return job{}, false
	}
	j := job{name: sc.JobName}
	item := "job " + sc.JobName
	bad := func(field string, err error) (job, bool) {
		ls.addTop(importer.Left{Where: where + "." + field, Item: item, Why: "cannot be read: " + err.Error()})
		return job{}, false
	}
	var err error
	if j.interval, err = promDuration(sc.ScrapeInterval, globalInterval); err != nil {
		return bad("scrape_interval", err)
	}
	if j.timeout, err = promDuration(sc.ScrapeTimeout, 0); err != nil {
		return bad("scrape_timeout", err)
	}
	if j.timeout == 0 {
		j.timeout = min(globalTimeout, j.interval)
	}
	if j.timeout > j.interval {
		return bad("scrape_timeout", fmt.Errorf("%s is longer than the scrape interval %s, which Prometheus refuses", j.timeout, j.interval))
	}
	for i, rc := range sc.RelabelConfigs {
		if rc == nil {
			return bad(fmt.Sprintf("relabel_configs[%d]", i), errors.New("empty rule"))
		}
		if err := rc.Validate(model.UTF8Validation); err != nil {
			return bad(fmt.Sprintf("relabel_configs[%d]", i), err)
		}
	}
	groups := make([]placedGroup, 0, len(sc.StaticConfigs))
	for g, sg := range sc.StaticConfigs {
		groups = append(groups, placedGroup{fmt.Sprintf("%s.static_configs[%d]", where, g), sg})
	}
	for i, fc := range sc.FileSDConfigs {
		fwhere := fmt.Sprintf("%s.file_sd_configs[%d]", where, i)
		read, err := fileGroups(dir, fc.Files, fwhere)
		if err != nil {
			ls.addTop(importer.Left{Where: fwhere, Item: item, Why: err.Error()})
		}
		groups = append(groups, read...)
	}
	for _, key := range slices.Sorted(maps.Keys(sc.Rest)) {
		if strings.HasSuffix(key, "_sd_configs") {
			ls.addTop(importer.Left{Where: where + "." + key, Item: item,
				Why: "Lookout imports static_configs and the files of file_sd_configs only: the targets " + key + " finds are known only while Prometheus runs; add a probe for each of them"})
		}
	}
	if mods := sc.Params["module"]; len(mods) > 1 {
		ls.addTop(importer.Left{Where: where + ".params.module", Item: "[" + strings.Join(mods, ", ") + "]",
			Why: fmt.Sprintf("blackbox_exporter probes with the first module a scrape names, %s; the others were never probed, so no probe is made for them (a job per module would probe with each)", mods[0])})
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	noTarget := 0
	for _, pg := range groups {
		for k, addr := range pg.group.Targets {
			twhere := fmt.Sprintf("%s.targets[%d]", pg.where, k)
			t, keep := relabelTarget(lb, &sc, j, addr, pg.group.Labels)
			if !keep {
				continue // dropped by relabelling: Prometheus never scrapes it
			}
			t.where = twhere
			if t.target == "" {
				noTarget++
				continue
			}
			j.targets = append(j.targets, t)
		}
	}
	if noTarget > 0 {
		ls.addTop(importer.Left{Where: where, Item: item,
			Why: fmt.Sprintf("no target parameter for %d target%s (neither params.target nor a relabelling to __param_target), so blackbox_exporter refuses the scrape", noTarget, plural(noTarget))})
	}
	return j, true
}

// relabelTarget builds a static target's labels as Prometheus does before
// a scrape, relabels them, and reads blackbox_exporter's parameters and
// the series' labels from the result; keep is false when relabelling
// drops the target.
func relabelTarget(lb *labels.Builder, sc *scrapeConfig, j job, addr string, group map[string]string) (target, bool) {
	lb.Reset(labels.EmptyLabels())
	for k, v := range group {
		lb.Set(k, v)
	}
	lb.Set(model.AddressLabel, addr)
	for _, l := range []labels.Label{
		{Name: model.JobLabel, Value: j.name},
		{Name: model.ScrapeIntervalLabel, Value: model.Duration(j.interval).String()},
		{Name: model.ScrapeTimeoutLabel, Value: model.Duration(j.timeout).String()},
		{Name: model.MetricsPathLabel, Value: sc.MetricsPath},
		{Name: model.SchemeLabel, Value: "http"},
	} {
		if lb.Get(l.Name) == "" {
			lb.Set(l.Name, l.Value)
		}
	}
	for k, v := range sc.Params {
		if name := model.ParamLabelPrefix + k; len(v) > 0 && lb.Get(name) == "" {
			lb.Set(name, v[0])
		}
	}
	if !relabel.ProcessBuilder(lb, sc.RelabelConfigs...) || lb.Get(model.AddressLabel) == "" {
		return target{}, false
	}
	t := target{
		target:   lb.Get(model.ParamLabelPrefix + "target"),
		module:   lb.Get(model.ParamLabelPrefix + "module"),
		hostname: lb.Get(model.ParamLabelPrefix + "hostname"),
		labels:   map[string]string{},
	}
	if t.module == "" {
		t.module = defaultModule
	}
	lb.Range(func(l labels.Label) {
		if !strings.HasPrefix(l.Name, "__") {
			t.labels[l.Name] = l.Value
		}
	})
	return t, true
}

// placedGroup is a target group and its place in the configs.
type placedGroup struct {
	where string
	group targetGroup
}

// fileGroups reads the target groups of the files a file_sd_configs entry
// names, as Prometheus does: each pattern relative to dir (the Prometheus
// config's folder), its last element a glob; a file .json, .yml or .yaml,
// holding a list of {targets, labels}; each target labelled
// __meta_filepath. What cannot be read is in the error, beside the groups
// that could.
func fileGroups(dir string, patterns []string, where string) ([]placedGroup, error) {
	if dir == "" {
		return nil, errors.New("its files are not read: the import was given no Prometheus config file")
	}
	var groups []placedGroup
	var errs []error
	for i, pattern := range patterns {
		path := pattern
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		files, err := filepath.Glob(path)
		if err == nil && len(files) == 0 {
			err = fmt.Errorf("matches no file here (%s); copy the files beside prometheus.yml as on the Prometheus host, or import there", path)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("files[%d] %q: %w", i, pattern, err))
			continue
		}
		for _, f := range files {
			read, err := readTargetFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("files[%d] %s: cannot be read: %w", i, f, err))
				continue
			}
			for g, tg := range read {
				labels := maps.Clone(tg.Labels)
				if labels == nil {
					labels = map[string]string{}
				}
				labels[model.MetaLabelPrefix+"filepath"] = f
				groups = append(groups, placedGroup{fmt.Sprintf("%s.files[%d] %s[%d]", where, i, filepath.Base(f), g), targetGroup{tg.Targets, labels}})
			}
		}
	}
	return groups, errors.Join(errs...)
}

// readTargetFile reads a file_sd file: JSON or YAML by its extension.
func readTargetFile(path string) ([]targetGroup, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var groups []targetGroup
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		err = json.Unmarshal(data, &groups)
	case ".yml", ".yaml":
		err = yaml.Unmarshal(data, &groups)
	default:
		return nil, errors.New("not .json, .yml or .yaml, which Prometheus reads")
	}
	return groups, err
}

// looksLikeProbeJob reports whether a scrape config that failed to decode
// reads like a job of blackbox_exporter.
func looksLikeProbeJob(n *yaml.Node) bool {
	for _, f := range fields(n, "") {
		if f.key == "metrics_path" && f.value.Kind == yaml.ScalarNode && strings.HasSuffix(f.value.Value, "/probe") {
			return true
		}
	}
	return false
}

func jobItem(n *yaml.Node) string {
	for _, f := range fields(n, "") {
		if f.key == "job_name" && f.value.Kind == yaml.ScalarNode {
			return "job " + f.value.Value
		}
	}
	return ""
}

// promDuration reads a Prometheus duration (1m, 30s, 1h30m, 1d); def when
// it is not set.
func promDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return time.Duration(d), nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
