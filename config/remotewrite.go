package config

import (
	"fmt"
	"maps"
	"slices"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// RemoteWrite pushes Lookout's own series (what /metrics serves) to a
// Prometheus remote-write receiver, for a Lookout in a location Prometheus
// cannot scrape. Every Interval the series are gathered, sharded by series
// over Shards senders, and sent with Prometheus's remote-write client
// (snappy-compressed protobuf, retried with backoff on 5xx, 429 and network
// errors, honouring Retry-After). While the receiver is away, each sender
// keeps up to MaxBuffer of requests in memory, oldest dropped first.
type RemoteWrite struct {
	// Name names the remote in Lookout's metrics and logs; default: the
	// URL's host:port.
	Name string `yaml:"name"`
	// URL is the receiver's write endpoint, like
	// http://prometheus:9090/api/v1/write. It may hold credentials, so it
	// never appears in errors or logs.
	URL *URL `yaml:"url"`
	// Headers go with every request; their values are secrets.
	Headers     map[string]string `yaml:"headers"`
	BasicAuth   *BasicAuth        `yaml:"basic_auth"`
	BearerToken string            `yaml:"bearer_token"`
	TLS         TLS               `yaml:"tls"`
	// Timeout bounds one request; default 30s.
	Timeout Duration `yaml:"timeout"`
	// Interval is how often the series are gathered and sent; default 15s.
	Interval Duration `yaml:"interval"`
	// ProtobufMessage is the protocol: prometheus.WriteRequest (remote
	// write 1.0, the default, which every receiver takes) or
	// io.prometheus.write.v2.Request (2.0).
	ProtobufMessage string `yaml:"protobuf_message"`
	// ExternalLabels are added to every series (a series' own label of the
	// same name wins), like Prometheus's global external_labels; job
	// defaults to lookout and instance to the replica's name or the host's.
	ExternalLabels map[string]string `yaml:"external_labels"`
	// Shards is how many senders work in parallel; each series always goes
	// through the same one, so its samples arrive in order. Default 2.
	Shards int `yaml:"shards"`
	// MaxSamplesPerSend bounds one request; default 2000.
	MaxSamplesPerSend int `yaml:"max_samples_per_send"`
	// MaxBuffer bounds, per sender, the requests waiting while the receiver
	// is away or slow; default 16MiB (about an hour of a Lookout's own
	// series at the default interval).
	MaxBuffer ByteSize `yaml:"max_buffer"`
}

// Remote write protocols and defaults.
const (
	RemoteWriteV1 = "prometheus.WriteRequest"
	RemoteWriteV2 = "io.prometheus.write.v2.Request"

	DefaultRemoteWriteTimeout  = Duration(30e9)
	DefaultRemoteWriteInterval = Duration(15e9)
	DefaultRemoteWriteShards   = 2
	DefaultRemoteWriteBatch    = 2000
	DefaultRemoteWriteBuffer   = ByteSize(16 << 20)
)

func checkRemoteWrites(d *decoder, rws []RemoteWrite) {
	first := map[string]int{}
	for i := range rws {
		rw := &rws[i]
		path := fmt.Sprintf("remote_write[%d]", i)
		rw.check(d, path)
		if rw.Name == "" {
			continue
		}
		if j, dup := first[rw.Name]; dup {
			d.errorAt(path+".name", "duplicate remote_write name %q, first used by remote_write[%d]; give each a name", rw.Name, j)
		} else {
			first[rw.Name] = i
		}
	}
}

func (rw *RemoteWrite) check(d *decoder, path string) {
	if rw.URL == nil {
		if !d.has(path + ".url") {
			d.errorAt(path+".url", "missing; want the receiver's write endpoint, like http://prometheus:9090/api/v1/write")
		}
	} else if rw.Name == "" {
		rw.Name = rw.URL.Host
	}
	checkHeaders(d, path+".headers", rw.Headers, "Content-Type", "Content-Encoding", "X-Prometheus-Remote-Write-Version", "User-Agent")
	if rw.BasicAuth != nil && rw.BearerToken != "" {
		d.errorAt(path+".bearer_token", "basic_auth and bearer_token are both set; want one of them")
	}
	rw.TLS.check(d, path+".tls")
	switch rw.ProtobufMessage {
	case "":
		rw.ProtobufMessage = RemoteWriteV1
	case RemoteWriteV1, RemoteWriteV2:
	default:
		d.errorAt(path+".protobuf_message", "%q is not a remote write protocol; want %s (1.0, the default) or %s (2.0)", rw.ProtobufMessage, RemoteWriteV1, RemoteWriteV2)
	}
	for _, name := range slices.Sorted(maps.Keys(rw.ExternalLabels)) {
		if !model.LegacyValidation.IsValidLabelName(name) || name == model.MetricNameLabel {
			d.errorAt(path+".external_labels."+name, "is not a label name Lookout may set; want letters, digits and _, not __name__")
		}
	}
	defaults := []struct {
		v    *int
		def  int
		name string
	}{{&rw.Shards, DefaultRemoteWriteShards, "shards"}, {&rw.MaxSamplesPerSend, DefaultRemoteWriteBatch, "max_samples_per_send"}}
	for _, f := range defaults {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			d.errorAt(path+"."+f.name, "%d is negative; want at least 1 (default %d)", *f.v, f.def)
		}
	}
	if rw.Timeout == 0 {
		rw.Timeout = DefaultRemoteWriteTimeout
	}
	if rw.Interval == 0 {
		rw.Interval = DefaultRemoteWriteInterval
	}
	if rw.MaxBuffer == 0 {
		rw.MaxBuffer = DefaultRemoteWriteBuffer
	}
}

// PeerHTTPConfig is the HTTP client config, in Prometheus's own form, of a
// peer of the Prometheus stack Lookout sends to (an Alertmanager, a
// remote-write receiver): basic auth or a bearer token, and TLS.
func PeerHTTPConfig(basic *BasicAuth, bearer string, tls TLS) commoncfg.HTTPClientConfig {
	hc := commoncfg.HTTPClientConfig{
		TLSConfig: commoncfg.TLSConfig{
			CAFile: tls.CAFile, CertFile: tls.CertFile, KeyFile: tls.KeyFile,
			ServerName: tls.ServerName, InsecureSkipVerify: tls.InsecureSkipVerify,
		},
		EnableHTTP2: true,
	}
	if basic != nil {
		hc.BasicAuth = &commoncfg.BasicAuth{Username: basic.Username, Password: commoncfg.Secret(basic.Password)}
	}
	if bearer != "" {
		hc.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: commoncfg.Secret(bearer)}
	}
	return hc
}
