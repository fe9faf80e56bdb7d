package slack

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/slack-go/slack"

	"github.com/lookout-dev/lookout/alerting"
)

// Block Kit limits, and what a message shows.
const (
	maxAlertsShown = 10   // three blocks each; a message holds 50
	maxHeader      = 150  // plain_text in a header block
	maxSection     = 3000 // mrkdwn in a section or context element
	maxText        = 4000 // the fallback; Slack truncates at 40,000
	maxButtonValue = 2000
)

// Block and action IDs the interaction handler knows.
const (
	actionsBlockID = "lookout_actions"
	ActionSilence  = "lookout_silence_1h"
	ActionAck      = "lookout_ack"
)

// Message is one Slack message: Block Kit blocks and the plain-text
// fallback Slack shows in notifications and to screen readers.
type Message struct {
	Text   string
	Blocks []slack.Block
}

// MessageOptions are what a message takes beyond the notification.
type MessageOptions struct {
	// ExternalURL is Lookout's own URL, linked in the footer.
	ExternalURL string
	// Mention is in Slack's syntax (<!here>, <@U123>); only firing
	// messages carry it.
	Mention []string
	// Reason returns why an alert's probe fails, or "".
	Reason func(model.LabelSet) string
	// TraceURL returns the link to the failing run's trace, or "".
	TraceURL func(model.LabelSet) string
	// ScreenshotURL returns the link to the failing run's screenshot
	// (a browser probe's evidence), or "".
	ScreenshotURL func(model.LabelSet) string
	// Buttons adds "Silence 1h" and "Acknowledge" to firing messages.
	Buttons bool
}

// ButtonValue is what the buttons carry back to the interaction handler.
type ButtonValue struct {
	GroupKey    string         `json:"k"`
	GroupLabels model.LabelSet `json:"l"`
}

// NewMessage is the message for n: status and severity up front, then
// each alert (summary, description, the probe's failure reason, labels,
// links), mentions and buttons when firing, and a footer. Alerts are as
// of n.CreatedAt, so a retry builds the same message.
func NewMessage(n *alerting.Notification, o MessageOptions) Message {
	at := n.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	firing := n.Status != alerting.StatusResolved
	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(plain(header(n))))
	if firing && len(o.Mention) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(o.Mention, " ")), nil, nil))
	}
	shown := n.Alerts[:min(len(n.Alerts), maxAlertsShown)]
	for i := range shown {
		if i > 0 {
			blocks = append(blocks, slack.NewDividerBlock())
		}
		blocks = append(blocks, alertBlocks(&shown[i], at, &o)...)
	}
	if more := len(n.Alerts) - len(shown); more > 0 {
		plural := "s"
		if more == 1 {
			plural = ""
		}
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("…and %d more alert%s", more, plural))))
	}
	if firing && o.Buttons {
		if b := buttons(n); b != nil {
			blocks = append(blocks, b)
		}
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(footer(n, o.ExternalURL))))
	text := fallback(n)
	if firing && len(o.Mention) > 0 {
		text = strings.Join(o.Mention, " ") + " " + text
	}
	return Message{Text: truncate(text, maxText), Blocks: blocks}
}

// ResolvedMessage is what the original message of a thread becomes once
// its group resolves: n's message without mentions or buttons.
func ResolvedMessage(n *alerting.Notification, o MessageOptions) Message {
	o.Mention, o.Buttons = nil, false
	return NewMessage(n, o)
}

// header is the first line: status, severity and the group's name.
func header(n *alerting.Notification) string {
	status := ":rotating_light: FIRING"
	if n.Status == alerting.StatusResolved {
		status = ":white_check_mark: RESOLVED"
	}
	parts := []string{status}
	if sev := severity(n.Alerts); sev != "" {
		parts = append(parts, strings.ToUpper(sev))
	}
	parts = append(parts, title(n))
	return truncate(strings.Join(parts, " · "), maxHeader)
}

// severity is the alerts' severity labels, distinct and sorted.
func severity(alerts []alerting.Alert) string {
	var sev []string
	for i := range alerts {
		if s := string(alerts[i].Labels["severity"]); s != "" && !slices.Contains(sev, s) {
			sev = append(sev, s)
		}
	}
	slices.Sort(sev)
	return strings.Join(sev, "/")
}

// title names the group: its alertname, or its labels, and the count.
func title(n *alerting.Notification) string {
	t := string(n.GroupLabels[model.AlertNameLabel])
	if t == "" && len(n.Alerts) > 0 {
		t = n.Alerts[0].Name()
	}
	if rest := labelPairs(n.GroupLabels, model.AlertNameLabel); len(rest) > 0 {
		t += " (" + strings.Join(rest, ", ") + ")"
	}
	if len(n.Alerts) > 1 {
		t += fmt.Sprintf(" ×%d", len(n.Alerts))
	}
	return t
}

// alertBlocks shows one alert: what and why, its labels, its links.
func alertBlocks(a *alerting.Alert, at time.Time, o *MessageOptions) []slack.Block {
	icon := ":red_circle:"
	if a.ResolvedAt(at) {
		icon = ":large_green_circle:"
	}
	headline := string(a.Annotations["summary"])
	if headline == "" {
		headline = a.Name()
	}
	text := icon + " *" + escape(headline) + "*"
	if d := a.Annotations["description"]; d != "" {
		text += "\n" + escape(string(d))
	}
	if o.Reason != nil {
		if r := o.Reason(a.Labels); r != "" {
			text += "\n*Reason:* " + escape(r)
		}
	}
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(truncate(text, maxSection)), nil, nil)}
	if pairs := labelPairs(a.Labels); len(pairs) > 0 {
		code := make([]string, len(pairs))
		for i, p := range pairs {
			code[i] = "`" + strings.ReplaceAll(escape(p), "`", "'") + "`"
		}
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(truncate(strings.Join(code, "  "), maxSection))))
	}
	var trace, shot string
	if !a.ResolvedAt(at) {
		trace, shot = linkOf(o.TraceURL, a.Labels), linkOf(o.ScreenshotURL, a.Labels)
	}
	if l := links(a, trace, shot); l != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(l)))
	}
	return blocks
}

// linkOf is f(ls), or "" when f is nil.
func linkOf(f func(model.LabelSet) string, ls model.LabelSet) string {
	if f == nil {
		return ""
	}
	return f(ls)
}

// links are the alert's runbook, dashboard, source, and the failing
// run's trace and screenshot; only http(s) URLs.
func links(a *alerting.Alert, trace, shot string) string {
	var out []string
	for _, l := range []struct{ url, name string }{
		{string(a.Annotations["runbook_url"]), ":book: Runbook"},
		{string(a.Annotations["dashboard_url"]), ":bar_chart: Dashboard"},
		{a.GeneratorURL, ":mag: Source"},
		{trace, ":link: Trace"},
		{shot, ":camera: Screenshot"},
	} {
		if s := link(l.url, l.name); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "  ")
}

// link is <url|name>, or "" when raw is not an http(s) URL.
func link(raw, name string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return "<" + strings.ReplaceAll(escape(u.String()), "|", "%7C") + "|" + name + ">"
}

// footer says where the message comes from and since when.
func footer(n *alerting.Notification, externalURL string) string {
	from := "Lookout"
	if l := link(externalURL, "Lookout"); l != "" {
		from = l
	}
	var since time.Time
	for i := range n.Alerts {
		if s := n.Alerts[i].StartsAt; !s.IsZero() && (since.IsZero() || s.Before(since)) {
			since = s
		}
	}
	if since.IsZero() {
		return from
	}
	return fmt.Sprintf("%s · since <!date^%d^{date_short_pretty} {time}|%s>", from, since.Unix(), since.UTC().Format(time.RFC3339))
}

// fallback is the plain text: [FIRING:2] ProbeDown (page): summaries.
func fallback(n *alerting.Notification) string {
	status := strings.ToUpper(string(n.Status))
	if status == "" {
		status = "FIRING"
	}
	t := fmt.Sprintf("[%s:%d] %s", status, len(n.Alerts), title(n))
	if sev := severity(n.Alerts); sev != "" {
		t += " [" + sev + "]"
	}
	var summaries []string
	for i := range n.Alerts {
		if s := string(n.Alerts[i].Annotations["summary"]); s != "" && !slices.Contains(summaries, s) {
			summaries = append(summaries, s)
		}
	}
	if len(summaries) > 0 {
		t += ": " + strings.Join(summaries, "; ")
	}
	return escape(t)
}

// buttons is the actions block, or nil when the group's key and labels
// do not fit in a button's value.
func buttons(n *alerting.Notification) slack.Block {
	v, err := json.Marshal(ButtonValue{GroupKey: n.GroupKey, GroupLabels: n.GroupLabels})
	if err != nil || len(v) > maxButtonValue {
		return nil
	}
	var elems []slack.BlockElement
	if len(n.GroupLabels) > 0 { // with none, a silence would mute everything
		elems = append(elems, slack.NewButtonBlockElement(ActionSilence, string(v), plain("Silence 1h")))
	}
	elems = append(elems, slack.NewButtonBlockElement(ActionAck, string(v), plain("Acknowledge")).WithStyle(slack.StylePrimary))
	return slack.NewActionBlock(actionsBlockID, elems...)
}

// AfterAction is the message blocks once someone pressed the button
// actionID: that button is gone (the actions block too when it was the
// last) and note is added at the end.
func AfterAction(blocks []slack.Block, actionID, note string) []slack.Block {
	out := make([]slack.Block, 0, len(blocks)+1)
	for _, b := range blocks {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.BlockID != actionsBlockID || ab.Elements == nil {
			out = append(out, b)
			continue
		}
		var keep []slack.BlockElement
		for _, e := range ab.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == actionID {
				continue
			}
			keep = append(keep, e)
		}
		if len(keep) > 0 {
			out = append(out, slack.NewActionBlock(ab.BlockID, keep...))
		}
	}
	return append(out, slack.NewContextBlock("", mrkdwn(note)))
}

// labelPairs is name="value" for each label but skip, sorted.
func labelPairs(ls model.LabelSet, skip ...model.LabelName) []string {
	var out []string
	for name, value := range ls {
		if !slices.Contains(skip, name) {
			out = append(out, fmt.Sprintf("%s=%q", name, value))
		}
	}
	slices.Sort(out)
	return out
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// escape makes s safe inside Slack's mrkdwn: &, < and > are control
// characters there.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
