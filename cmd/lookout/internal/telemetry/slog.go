package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	sentrygo "github.com/getsentry/sentry-go"
)

// Limits Sentry puts on tags.
const (
	maxTagKey   = 32
	maxTagValue = 200
)

// Handler returns a handler that passes every record to next and also
// sends those at Error level or above to Sentry: the record's message is
// the event's message, its attributes (with their groups, as "group.key")
// are the "attributes" context, and those short enough are tags too.
func (t *Telemetry) Handler(next slog.Handler) slog.Handler {
	if t == nil {
		return next
	}
	return &handler{next: next, t: t}
}

type handler struct {
	next   slog.Handler
	t      *Telemetry
	attrs  map[string]any // from WithAttrs, keys qualified by their groups
	prefix string         // the groups so far, "a.b."
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.capture(r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	out := *h
	out.next = h.next.WithAttrs(attrs)
	out.attrs = make(map[string]any, len(h.attrs)+len(attrs))
	for k, v := range h.attrs {
		out.attrs[k] = v
	}
	flatten(out.attrs, h.prefix, attrs)
	return &out
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	out := *h
	out.next = h.next.WithGroup(name)
	out.prefix = h.prefix + name + "."
	return &out
}

// capture sends r to Sentry.
func (h *handler) capture(r slog.Record) {
	attrs := make(map[string]any, len(h.attrs)+r.NumAttrs())
	for k, v := range h.attrs {
		attrs[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(attrs, h.prefix, []slog.Attr{a})
		return true
	})
	ev := sentrygo.NewEvent()
	ev.Level = sentrygo.LevelError
	ev.Message = r.Message
	ev.Logger = "lookout"
	ev.Timestamp = r.Time
	if len(attrs) > 0 {
		ev.Contexts["attributes"] = attrs
	}
	for k, v := range attrs {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		if len(k) <= maxTagKey && len(s) <= maxTagValue && !strings.ContainsAny(s, "\r\n") {
			ev.Tags[k] = s
		}
	}
	h.t.hub.CaptureEvent(ev)
}

// flatten adds attrs to m under prefix, groups as "group.key", every value
// as something JSON encodes well.
func flatten(m map[string]any, prefix string, attrs []slog.Attr) {
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Value.Kind() == slog.KindGroup {
			sub := prefix
			if a.Key != "" {
				sub = prefix + a.Key + "."
			}
			flatten(m, sub, a.Value.Group())
			continue
		}
		m[prefix+a.Key] = value(a.Value)
	}
}

// value is v as a string, number or bool.
func value(v slog.Value) any {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return v.Uint64()
	case slog.KindFloat64:
		if f := v.Float64(); !math.IsNaN(f) && !math.IsInf(f, 0) { // JSON has no NaN
			return f
		}
		return v.String()
	case slog.KindBool:
		return v.Bool()
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	default: // durations, errors and anything else: their text
		return v.String()
	}
}
