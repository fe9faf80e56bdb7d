package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/slack-go/slack"

	"github.com/lookout-dev/lookout/alerting"
)

// rendered is a message's blocks' texts and its fallback.
func rendered(t *testing.T, m Message) string {
	t.Helper()
	b, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	return blockText(string(b)) + "\n" + m.Text
}

func TestNewMessage(t *testing.T) {
	many := probeDown("m", false)
	many.GroupLabels = model.LabelSet{"alertname": "ProbeDown", "team": "shop"}
	for i := range 11 {
		a := many.Alerts[0]
		a.Labels = a.Labels.Clone()
		a.Labels["probe"] = model.LabelValue(fmt.Sprintf("p%02d", i+1))
		many.Alerts = append(many.Alerts, a)
	}
	many.Alerts = many.Alerts[1:]
	hostile := probeDown("h", false)
	hostile.GroupLabels = nil
	hostile.Alerts[0].Annotations = model.LabelSet{"summary": "<!channel> & <b>", "runbook_url": "javascript:alert(1)"}
	hostile.Alerts[0].GeneratorURL = "http://lookout/x?a=1&b=<2>|3"
	tests := []struct {
		name string
		n    *alerting.Notification
		o    MessageOptions
		want []string
		not  []string
	}{
		{
			name: "firing: mentions and buttons",
			n:    probeDown("f", false),
			o: MessageOptions{Mention: []string{"<!here>"}, Buttons: true, Reason: reason, ExternalURL: "http://lookout.example:9090",
				TraceURL: func(model.LabelSet) string { return "https://grafana.example/explore?traceId=0af7651916cd43dd" },
				ScreenshotURL: func(model.LabelSet) string {
					return "http://lookout.example:9090/api/v1/probes/shop/artifacts/20261207T031500.000Z/screenshot.png"
				},
			},
			want: []string{":rotating_light: FIRING · PAGE · ProbeDown", "<!here>", "Silence 1h", "Acknowledge",
				"*Reason:* HTTP 503 from https://shop.example", "<http://lookout.example:9090|Lookout> · since <!date^1893553445^",
				"<https://grafana.example/explore?traceId=0af7651916cd43dd|:link: Trace>",
				"<http://lookout.example:9090/api/v1/probes/shop/artifacts/20261207T031500.000Z/screenshot.png|:camera: Screenshot>"},
		},
		{
			name: "resolved: no mentions, no buttons",
			n:    probeDown("r", true),
			o: MessageOptions{Mention: []string{"<!here>"}, Buttons: true,
				TraceURL: func(model.LabelSet) string { return "https://grafana.example/explore?traceId=0af7651916cd43dd" },
				ScreenshotURL: func(model.LabelSet) string {
					return "http://lookout.example:9090/api/v1/probes/shop/artifacts/20261207T031500.000Z/screenshot.png"
				},
			},
			want: []string{":white_check_mark: RESOLVED · PAGE · ProbeDown", ":large_green_circle: *shop is down*", "[RESOLVED:1]"},
			not:  []string{"<!here>", "Silence 1h", "Reason", "Trace", "Screenshot"},
		},
		{
			name: "ten alerts shown, the rest counted",
			n:    many,
			want: []string{`ProbeDown (team="shop") ×11`, `probe="p10"`, "…and 1 more alert\n", "[FIRING:11]"},
			not:  []string{`probe="p11"`},
		},
		{
			name: "text from alerts is escaped, odd links dropped, no silence without group labels",
			n:    hostile,
			o:    MessageOptions{Buttons: true},
			want: []string{"&lt;!channel&gt; &amp; &lt;b&gt;", "<http://lookout/x?a=1&amp;b=&lt;2&gt;%7C3|:mag: Source>", "Acknowledge"},
			not:  []string{"<!channel>", "javascript", "Silence 1h"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage(tt.n, tt.o)
			if len(m.Blocks) > 50 {
				t.Errorf("%d blocks; Slack takes 50", len(m.Blocks))
			}
			text := rendered(t, m)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("message lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w) {
					t.Errorf("message has %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestButtonValue(t *testing.T) {
	n := probeDown("b", false)
	m := NewMessage(n, MessageOptions{Buttons: true})
	ab, ok := m.Blocks[len(m.Blocks)-2].(*slack.ActionBlock)
	if !ok {
		t.Fatalf("block before the footer is %T, want the actions", m.Blocks[len(m.Blocks)-2])
	}
	for _, e := range ab.Elements.ElementSet {
		var v ButtonValue
		if err := json.Unmarshal([]byte(e.(*slack.ButtonBlockElement).Value), &v); err != nil {
			t.Fatal(err)
		}
		if v.GroupKey != n.GroupKey || !v.GroupLabels.Equal(n.GroupLabels) {
			t.Errorf("button value = %+v", v)
		}
	}
	big := probeDown("big", false)
	big.GroupKey = strings.Repeat("x", maxButtonValue)
	if got := rendered(t, NewMessage(big, MessageOptions{Buttons: true})); strings.Contains(got, "Acknowledge") {
		t.Error("buttons on a group whose key does not fit in a button")
	}
}

func TestAfterAction(t *testing.T) {
	blocks := NewMessage(probeDown("a", false), MessageOptions{Buttons: true}).Blocks
	once := AfterAction(blocks, ActionAck, "acked")
	twice := AfterAction(once, ActionSilence, "silenced")
	tests := []struct {
		name      string
		blocks    []slack.Block
		want, not []string
	}{
		{name: "ack leaves the silence button", blocks: once, want: []string{"Silence 1h", "acked"}, not: []string{"Acknowledge"}},
		{name: "both gone, the block too", blocks: twice, want: []string{"acked", "silenced"}, not: []string{"Silence 1h", "Acknowledge", actionsBlockID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(tt.blocks)
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("lacks %q: %s", w, b)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(string(b), w) {
					t.Errorf("has %q: %s", w, b)
				}
			}
		})
	}
}
