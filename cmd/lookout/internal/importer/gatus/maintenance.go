package gatus

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maintenanceWindow is Gatus's maintenance, and one of an endpoint's
// maintenance-windows: from start (hh:mm) for duration, in timezone, on
// the days of every (all days when empty).
type maintenanceWindow struct {
	Enabled  *bool    `yaml:"enabled"`
	Start    string   `yaml:"start"`
	Duration string   `yaml:"duration"`
	Timezone string   `yaml:"timezone"`
	Every    []string `yaml:"every"`
}

// readGlobalMaintenance converts the top-level maintenance, which mutes
// every endpoint's alerts.
func (c *converter) readGlobalMaintenance(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	var w maintenanceWindow
	unknown, err := decodeStrict(n, &w)
	if err != nil {
		return err
	}
	for _, k := range unknown {
		c.leave(nil, "maintenance."+k.Value, "", "not a maintenance setting Lookout knows")
	}
	c.addWindow(nil, "maintenance", "gatus-maintenance", `probe=~".+"`, "Gatus's maintenance window: every probe's alerts are muted", w)
	return nil
}

// addMaintenance converts an endpoint's maintenance-windows into windows
// that mute its probes' alerts.
func (c *converter) addMaintenance(notes *[]string, path string, probes []string, windows []maintenanceWindow) {
	for i, w := range windows {
		name := probes[0] + "-maintenance"
		if len(windows) > 1 {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		c.addWindow(notes, fmt.Sprintf("%s.maintenance-windows[%d]", path, i), name, matcherFor(probes),
			fmt.Sprintf("Gatus's maintenance window of %s", probes[0]), w)
	}
}

// weekdays are Gatus's day names as cron writes them.
var weekdays = map[string]string{
	"sunday": "SUN", "monday": "MON", "tuesday": "TUE", "wednesday": "WED",
	"thursday": "THU", "friday": "FRI", "saturday": "SAT",
}

// addWindow writes one window as a maintenance of the output.
func (c *converter) addWindow(notes *[]string, path, name, matcher, message string, w maintenanceWindow) {
	if w.Enabled != nil && !*w.Enabled {
		c.leave(notes, path, "", "disabled in Gatus (enabled: false)")
		return
	}
	start, err := time.Parse("15:04", w.Start)
	if err != nil {
		c.leave(notes, path+".start", w.Start, "not a time of day in hh:mm; the window is not converted")
		return
	}
	d, ok := duration(w.Duration)
	switch {
	case !ok:
		c.leave(notes, path+".duration", w.Duration, "not a positive duration; the window is not converted")
		return
	case d > 7*24*time.Hour:
		c.leave(notes, path+".duration", w.Duration, "longer than a Lookout maintenance window may last (168h); the window is not converted")
		return
	}
	if w.Timezone != "" {
		if _, err := time.LoadLocation(w.Timezone); err != nil {
			c.leave(notes, path+".timezone", w.Timezone, "not a known time zone; the window is not converted")
			return
		}
	}
	days := "*"
	if len(w.Every) > 0 {
		var ds []string
		for _, day := range w.Every {
			cron, ok := weekdays[strings.ToLower(strings.TrimSpace(day))]
			if !ok {
				c.leave(notes, path+".every", day, "not a day of the week; the window is not converted")
				return
			}
			ds = append(ds, cron)
		}
		days = strings.Join(ds, ",")
	}
	for _, m := range c.maintenance {
		if m.Content[1].Value == name {
			name += "-2"
		}
	}
	m := mapping()
	set(m, "name", str(name))
	set(m, "schedule", withComment(str(fmt.Sprintf("%d %d * * %s", start.Minute(), start.Hour(), days)),
		fmt.Sprintf("Gatus: start %s, every %s", w.Start, everyText(w.Every))))
	if w.Timezone != "" {
		set(m, "timezone", str(w.Timezone))
	}
	set(m, "duration", str(shortDuration(d)))
	set(m, "matchers", flowList(matcher))
	set(m, "message", str(message))
	c.maintenance = append(c.maintenance, m)
}

func everyText(days []string) string {
	if len(days) == 0 {
		return "day"
	}
	return strings.Join(days, ", ")
}
