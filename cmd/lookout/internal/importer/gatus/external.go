package gatus

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// externalEndpoint is one of Gatus's external-endpoints: a job that
// pushes its results, which Lookout's heartbeat probe receives.
type externalEndpoint struct {
	Enabled   *bool   `yaml:"enabled"`
	Name      string  `yaml:"name"`
	Group     string  `yaml:"group"`
	Token     string  `yaml:"token"`
	Alerts    []alert `yaml:"alerts"`
	Heartbeat *struct {
		Interval string `yaml:"interval"`
	} `yaml:"heartbeat"`
}

// noHeartbeat is the heartbeat's every when Gatus expects pushes on no
// schedule: long enough that silence alone never makes it down.
const noHeartbeat = "8760h"

func (c *converter) readExternalEndpoints(n *yaml.Node) error {
	items, err := seq(n)
	if err != nil {
		return err
	}
	for i, item := range items {
		path := fmt.Sprintf("external-endpoints[%d]", i)
		var ep externalEndpoint
		unknown, err := decodeStrict(item, &ep)
		if err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		if strings.TrimSpace(ep.Name) == "" {
			c.leave(nil, path, "", "an external endpoint without a name, which Gatus refuses")
			continue
		}
		var notes []string
		for _, k := range unknown {
			why, ok := endpointKeysLeft[k.Value]
			if !ok {
				why = "not an external endpoint setting Lookout knows"
			}
			c.leave(&notes, path+"."+k.Value, "", why)
		}
		name := c.probeName(lookoutEnv(ep.Group), lookoutEnv(ep.Name))
		p := mapping()
		set(p, "name", str(name))
		if d := c.alerting.endpointAlerts(c, &notes, path, name, ep.Group, ep.Alerts); d != nil {
			set(p, "failure_threshold", d)
		}
		if ep.Group != "" {
			m := stringMap(map[string]string{"group": lookoutEnv(ep.Group)})
			m.Style = yaml.FlowStyle
			set(p, "labels", m)
		}
		hb := mapping()
		every := noHeartbeat
		if ep.Heartbeat != nil && ep.Heartbeat.Interval != "" && ep.Heartbeat.Interval != "0" {
			if d, ok := duration(ep.Heartbeat.Interval); ok {
				every = shortDuration(d)
			} else {
				c.leave(&notes, path+".heartbeat.interval", ep.Heartbeat.Interval, "not a duration")
			}
		}
		if every == noHeartbeat {
			set(hb, "every", withComment(str(every), "Gatus expects pushes on no schedule; set how often the job reports"))
		} else {
			set(hb, "every", withComment(str(every), "Gatus: heartbeat.interval"))
			set(hb, "grace", withComment(str("0s"), "Gatus fails the endpoint as soon as the interval passes"))
		}
		set(hb, "token", str(c.heartbeatToken(&notes, path, ep.Token)))
		set(p, "heartbeat", hb)
		c.leave(&notes, path, name, fmt.Sprintf("the job must report to Lookout's check-in URL instead of Gatus's push API: /v1/heartbeat/%s on success, /v1/heartbeat/%s/fail with the error as the body, with the token in Authorization: Bearer", name, name))
		out := &probeOut{node: p, notes: notes, disabled: ep.Enabled != nil && !*ep.Enabled}
		if out.disabled {
			out.notes = append([]string{fmt.Sprintf("%s is disabled in Gatus (enabled: false); remove the comment marks to run it:", name)}, out.notes...)
		}
		c.probes = append(c.probes, out)
	}
	return nil
}

// heartbeatToken carries the push token when Lookout accepts it, else
// makes a new one.
func (c *converter) heartbeatToken(notes *[]string, path, token string) string {
	t := lookoutEnv(token)
	if envRef.MatchString(token) {
		return t
	}
	switch {
	case token == "":
		c.leave(notes, path+".token", "", "missing; a new token was generated, give it to the job")
	case len(token) < 16:
		c.leave(notes, path+".token", "", "shorter than the 16 characters Lookout wants; a new token was generated, give it to the job")
	case strings.ContainsAny(token, " \t\r\n"):
		c.leave(notes, path+".token", "", "holds white space, which Lookout refuses; a new token was generated, give it to the job")
	default:
		return lookoutLiteral(token)
	}
	return newToken()
}
