package config

import "net/url"

// WebSocket opens a connection and, optionally, sends a message and
// matches the first message back (probes[].websocket).
type WebSocket struct {
	URL          string            `yaml:"url"` // ws:// or wss://
	Headers      map[string]string `yaml:"headers"`
	Subprotocols []string          `yaml:"subprotocols"`
	Send         string            `yaml:"send"`
	Expect       *Regexp           `yaml:"expect"`
	TLS          TLS               `yaml:"tls"`
	Assert       []Expr            `yaml:"assert"`
	DegradedIf   []Expr            `yaml:"degraded_if"`
}

func (w *WebSocket) check(d *decoder, x exprs, path string) {
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		d.errorAt(path+".url", "missing; want a ws:// or wss:// URL, like wss://api.example.com/ws")
	case err != nil:
		d.errorAt(path+".url", "is not a valid URL: %v (the value is not shown: it may hold a password or token)", unwrapURLError(err))
	case (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "":
		d.errorAt(path+".url", "%s is not a ws:// or wss:// URL with a host; want one like wss://api.example.com/ws", redactedURL(u))
	}
	checkHeaders(d, path+".headers", w.Headers)
	w.TLS.check(d, path+".tls")
	if w.Expect != nil && (w.Expect.Regexp == nil || w.Expect.String() == "") {
		w.Expect = nil // expect: "" reads nothing (an invalid one is reported)
	}
	x.compile(d, path, w.Assert, w.DegradedIf)
}
