package config

// HTTP is an HTTP API check.
type HTTP struct {
	URL             URL               `yaml:"url"`
	Method          string            `yaml:"method"`
	Headers         map[string]string `yaml:"headers"`
	Body            string            `yaml:"body"`
	BasicAuth       *BasicAuth        `yaml:"basic_auth"`
	BearerToken     string            `yaml:"bearer_token"`
	FollowRedirects *bool             `yaml:"follow_redirects"`
	MaxRedirects    int               `yaml:"max_redirects"`
	// DenyPrivateRedirects refuses a redirect to another origin on a
	// loopback, private, link-local or unspecified address, checked as the
	// address is resolved; url itself, and its own origin, may be any.
	DenyPrivateRedirects bool            `yaml:"deny_private_redirects"`
	KeepAlive            bool            `yaml:"keep_alive"`
	IPProtocol           IPProtocol      `yaml:"ip_protocol"`
	IPFallback           *bool           `yaml:"ip_protocol_fallback"`
	BodySizeLimit        ByteSize        `yaml:"body_size_limit"`
	Expect               Expect          `yaml:"expect"`
	Assert               []Expr          `yaml:"assert"`
	DegradedIf           []Expr          `yaml:"degraded_if"`
	SecurityHeaders      SecurityHeaders `yaml:"security_headers"`
	TLS                  TLS             `yaml:"tls"`
	// PropagateTrace sends the run's W3C traceparent (and tracestate)
	// with the request when tracing is on; default true.
	PropagateTrace *bool `yaml:"propagate_trace"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Expect holds the plain checks of an HTTP response.
type Expect struct {
	Status       []StatusRange     `yaml:"status"`
	Headers      map[string]Regexp `yaml:"headers"`
	BodyRegex    *Regexp           `yaml:"body_regex"`
	BodyNotRegex *Regexp           `yaml:"body_not_regex"`
}

// TLS configures the client side of TLS.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	ServerName         string `yaml:"server_name"`
}
