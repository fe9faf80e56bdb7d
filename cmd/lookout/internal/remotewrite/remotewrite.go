// Package remotewrite pushes Lookout's own series to Prometheus
// remote-write receivers (remote_write in the config), for a Lookout in a
// location Prometheus cannot scrape.
//
// Every interval a remote gathers what /metrics serves and turns it into
// series as a Prometheus scraping it would store them: a counter, gauge or
// untyped family under its name, a summary's quantiles with _sum and
// _count, a histogram's classic _bucket, _sum and _count and, when it has
// native buckets, the native histogram under its own name. job and
// instance come from the remote's external labels. A series that is gone
// since the last gather gets a staleness marker, so a removed probe's
// series end at once, as they do when Prometheus scrapes.
//
// Series are sharded by their labels over the remote's senders, so each
// series' samples arrive in order; requests are encoded at once and wait
// in the sender's buffer (bounded in bytes, oldest dropped first) while
// the receiver is away. The buffer is written ahead to lookout.db (see
// spool.go), so what waits when Lookout stops is sent after it starts. Sending is Prometheus's own remote-write client
// (github.com/prometheus/client_golang/exp/api/remote): snappy-compressed
// protobuf, 1.0 or 2.0, retried with exponential backoff on 5xx, 429 and
// network errors, honouring Retry-After, until it succeeds. A request the
// receiver refuses (another 4xx) is dropped and counted.
package remotewrite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	rwapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/config"
)

// Families calls fn with each metric family /metrics serves, in turn; a
// family is valid only until fn returns.
type Families func(fn func(*dto.MetricFamily) error) error

// Options are what the writer takes from the daemon.
type Options struct {
	// Families are the series to send.
	Families Families
	// Instance is the default of the instance label: the cluster
	// replica's name, or the host's.
	Instance string
	// DB, when set, keeps the requests waiting for a receiver across
	// restarts; WriteFailures is told when a write to it fails.
	DB            *bolt.DB
	WriteFailures WriteFailures
	// Registerer takes the writer's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Writer sends to every remote of the config.
type Writer struct {
	remotes []*remote
	log     *slog.Logger
}

// New returns the writer of remotes, as config.Load leaves them (checked,
// defaults filled in). Errors (a TLS file that cannot be read) never hold
// a URL.
func New(remotes []config.RemoteWrite, opts Options) (*Writer, error) {
	w := &Writer{log: cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))}
	m := newMetrics()
	var errs []error
	for _, rc := range remotes {
		r, err := newRemote(rc, opts, m, w.log)
		if err != nil {
			errs = append(errs, fmt.Errorf("remote_write %s: %w", rc.Name, err))
			continue
		}
		w.remotes = append(w.remotes, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		m.register(opts.Registerer)
	}
	return w, nil
}

// Run gathers and sends until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range w.remotes {
		wg.Go(func() { r.run(ctx) })
	}
	wg.Wait()
}

// metrics are the writer's own series, by remote.
type metrics struct {
	sent, failed, dropped, retries *prometheus.CounterVec
	buffered, lastSent             *prometheus.GaugeVec
}

func newMetrics() *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"remote"})
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"remote"})
	}
	return &metrics{
		sent:     counter("lookout_remote_write_samples_sent_total", "Samples and histograms the receiver accepted."),
		failed:   counter("lookout_remote_write_samples_failed_total", "Samples and histograms in requests the receiver refused (a 4xx other than 429); not sent again."),
		dropped:  counter("lookout_remote_write_samples_dropped_total", "Samples and histograms dropped unsent because the buffer was full while the receiver was away or slow."),
		retries:  counter("lookout_remote_write_retries_total", "Requests sent again after a 5xx, a 429 or a network error."),
		buffered: gauge("lookout_remote_write_buffered_bytes", "Encoded requests waiting to be sent."),
		lastSent: gauge("lookout_remote_write_last_success_timestamp_seconds", "When the receiver last accepted a request, in Unix seconds; 0 until it has."),
	}
}

func (m *metrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.sent, m.failed, m.dropped, m.retries, m.buffered, m.lastSent)
}

// remote is one receiver: its gatherer and its senders.
type remote struct {
	name     string
	interval time.Duration
	batch    int
	external labels.Labels // a series' own label wins
	v2       bool
	api      *rwapi.API
	families Families
	scrub    func(string) string
	log      *slog.Logger
	shards   []*shard
	spool    *spool // nil: the buffer is in memory only
	m        *metrics
	// last are the series of the previous gather, for staleness markers.
	last map[uint64]labels.Labels
}

func newRemote(rc config.RemoteWrite, opts Options, m *metrics, log *slog.Logger) (*remote, error) {
	client, err := commoncfg.NewClientFromConfig(config.PeerHTTPConfig(rc.BasicAuth, rc.BearerToken, rc.TLS), "lookout_remote_write")
	if err != nil {
		return nil, err
	}
	client.Timeout = rc.Timeout.Std()
	if len(rc.Headers) > 0 {
		client.Transport = headers{rc.Headers, client.Transport}
	}
	api, err := rwapi.NewAPI(rc.URL.String(),
		rwapi.WithAPIHTTPClient(client),
		rwapi.WithAPIPath(""), // the URL is the whole endpoint, as in Prometheus's config
		// Prometheus's own queue backs off from 30ms to 5s, and retries
		// what can succeed later for as long as it takes.
		rwapi.WithAPIBackoff(rwapi.BackoffConfig{Min: 30 * time.Millisecond, Max: 5 * time.Second}))
	if err != nil {
		return nil, errors.New("the url is not valid")
	}
	ext := map[string]string{"job": "lookout", "instance": cmp.Or(opts.Instance, hostname())}
	for k, v := range rc.ExternalLabels {
		ext[k] = v
	}
	r := &remote{
		name: rc.Name, interval: rc.Interval.Std(), batch: rc.MaxSamplesPerSend,
		external: labels.FromMap(ext), v2: rc.ProtobufMessage == config.RemoteWriteV2,
		api: api, families: opts.Families, scrub: scrubber(rc), m: m,
		log: log.With("remote_write", rc.Name), last: map[uint64]labels.Labels{},
	}
	for range rc.Shards {
		r.shards = append(r.shards, &shard{max: int(rc.MaxBuffer), wake: make(chan struct{}, 1)})
	}
	if opts.DB != nil {
		r.spool = &spool{db: opts.DB, name: []byte(r.name), failures: opts.WriteFailures}
		// An earlier run's requests go first, each to a shard of its
		// series' (the same one unless shards changed).
		err := r.spool.load(func(i int, key uint64, req request) {
			r.keep(i%len(r.shards), req, key)
		})
		if err != nil {
			r.log.Warn("the requests an earlier run left unsent cannot be read; they are not sent", "err", err)
		}
	}
	for _, c := range []*prometheus.CounterVec{m.sent, m.failed, m.dropped, m.retries} {
		c.WithLabelValues(r.name)
	}
	m.buffered.WithLabelValues(r.name)
	m.lastSent.WithLabelValues(r.name)
	return r, nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "lookout"
	}
	return h
}

// headers sets the remote's configured headers on every request.
type headers struct {
	h    map[string]string
	next http.RoundTripper
}

func (h headers) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.h {
		req.Header.Set(k, v)
	}
	return h.next.RoundTrip(req)
}

// scrubber replaces, in an error's text, the remote's URL (which may hold
// credentials in its user info, path or query) by its name, and removes
// every other secret of its config.
func scrubber(rc config.RemoteWrite) func(string) string {
	var secrets []string
	u := *rc.URL.URL
	secrets = append(secrets, u.String(), u.Redacted())
	if pw, ok := u.User.Password(); ok {
		u.User = url.User(u.User.Username())
		secrets = append(secrets, u.String(), pw)
	}
	u.User = nil
	secrets = append(secrets, u.String())
	if rc.BasicAuth != nil {
		secrets = append(secrets, rc.BasicAuth.Password)
	}
	secrets = append(secrets, rc.BearerToken)
	for _, v := range rc.Headers {
		secrets = append(secrets, v)
	}
	return func(s string) string {
		for _, secret := range secrets {
			if len(secret) >= 4 {
				s = strings.ReplaceAll(s, secret, "remote_write "+rc.Name)
			}
		}
		return s
	}
}

// run gathers every interval, and runs the senders.
func (r *remote) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range r.shards {
		wg.Go(func() { r.send(ctx, s) })
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if err := r.gather(time.Now()); err != nil {
			r.log.Warn("gather the series to send", "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// series is one series' sample or native histogram of a gather.
type series struct {
	labels labels.Labels
	value  float64
	hist   *histogram.Histogram
	typ    model.MetricType
	help   string
}

// gather turns what /metrics serves now into requests, one or more per
// shard, with a staleness marker for each series gone since the last
// gather.
func (r *remote) gather(now time.Time) error {
	ts := now.UnixMilli()
	byShard := make([][]series, len(r.shards))
	seen := make(map[uint64]labels.Labels, len(r.last))
	b := labels.NewBuilder(labels.EmptyLabels())
	add := func(s series) {
		h := s.labels.Hash()
		seen[h] = s.labels
		byShard[h%uint64(len(r.shards))] = append(byShard[h%uint64(len(r.shards))], s)
	}
	err := r.families(func(mf *dto.MetricFamily) error {
		for _, m := range mf.GetMetric() {
			b.Reset(labels.EmptyLabels())
			r.external.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
			for _, lp := range m.GetLabel() {
				b.Set(lp.GetName(), lp.GetValue())
			}
			seriesOf(mf, m, b, add)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for h, ls := range r.last {
		if _, ok := seen[h]; !ok {
			byShard[h%uint64(len(r.shards))] = append(byShard[h%uint64(len(r.shards))], series{labels: ls, value: math.Float64frombits(value.StaleNaN)})
		}
	}
	r.last = seen
	for i, ss := range byShard {
		for len(ss) > 0 {
			n := min(len(ss), r.batch)
			data, err := r.encode(ss[:n], ts)
			if err != nil {
				return err
			}
			req := request{data: data, samples: n}
			r.keep(i, req, r.spool.save(i, req))
			ss = ss[n:]
		}
	}
	r.m.buffered.WithLabelValues(r.name).Set(float64(r.bufferedBytes()))
	return nil
}

// seriesOf adds the series of one metric m of mf, its labels in b (with
// the remote's), as Prometheus stores them when it scrapes with native
// histograms and classic ones both kept.
func seriesOf(mf *dto.MetricFamily, m *dto.Metric, b *labels.Builder, add func(series)) {
	name, help := mf.GetName(), mf.GetHelp()
	one := func(suffix string, v float64, typ model.MetricType, extra ...string) {
		lb := labels.NewBuilder(b.Labels())
		lb.Set(model.MetricNameLabel, name+suffix)
		for i := 0; i+1 < len(extra); i += 2 {
			lb.Set(extra[i], extra[i+1])
		}
		add(series{labels: lb.Labels(), value: v, typ: typ, help: help})
	}
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		one("", m.GetCounter().GetValue(), model.MetricTypeCounter)
	case dto.MetricType_GAUGE:
		one("", m.GetGauge().GetValue(), model.MetricTypeGauge)
	case dto.MetricType_UNTYPED:
		one("", m.GetUntyped().GetValue(), model.MetricTypeUnknown)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		for _, q := range s.GetQuantile() {
			one("", q.GetValue(), model.MetricTypeSummary, model.QuantileLabel, labels.FormatOpenMetricsFloat(q.GetQuantile()))
		}
		one("_sum", s.GetSampleSum(), model.MetricTypeSummary)
		one("_count", float64(s.GetSampleCount()), model.MetricTypeSummary)
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		typ := model.MetricTypeHistogram
		if mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			typ = model.MetricTypeGaugeHistogram
		}
		if nh := nativeHistogram(h); nh != nil {
			lb := labels.NewBuilder(b.Labels())
			lb.Set(model.MetricNameLabel, name)
			add(series{labels: lb.Labels(), hist: nh, typ: typ, help: help})
		}
		for _, bucket := range h.GetBucket() {
			one("_bucket", float64(bucket.GetCumulativeCount()), typ, model.BucketLabel, labels.FormatOpenMetricsFloat(bucket.GetUpperBound()))
		}
		if len(h.GetBucket()) > 0 {
			one("_bucket", float64(h.GetSampleCount()), typ, model.BucketLabel, "+Inf")
		}
		one("_sum", h.GetSampleSum(), typ)
		one("_count", float64(h.GetSampleCount()), typ)
	}
}

// nativeHistogram is h's native form, or nil when h has classic buckets
// only (client_golang marks a native histogram without observations with
// its zero threshold and an empty span).
func nativeHistogram(h *dto.Histogram) *histogram.Histogram {
	if h.Schema == nil && h.ZeroThreshold == nil && len(h.GetPositiveSpan()) == 0 && len(h.GetNegativeSpan()) == 0 {
		return nil
	}
	spans := func(in []*dto.BucketSpan) []histogram.Span {
		out := make([]histogram.Span, 0, len(in))
		for _, s := range in {
			if s.GetLength() > 0 || s.GetOffset() != 0 {
				out = append(out, histogram.Span{Offset: s.GetOffset(), Length: s.GetLength()})
			}
		}
		return out
	}
	hint := histogram.UnknownCounterReset
	return &histogram.Histogram{
		CounterResetHint: hint,
		Schema:           h.GetSchema(), ZeroThreshold: h.GetZeroThreshold(), ZeroCount: h.GetZeroCount(),
		Count: h.GetSampleCount(), Sum: h.GetSampleSum(),
		PositiveSpans: spans(h.GetPositiveSpan()), PositiveBuckets: h.GetPositiveDelta(),
		NegativeSpans: spans(h.GetNegativeSpan()), NegativeBuckets: h.GetNegativeDelta(),
	}
}

// encode writes ss as one request of the remote's protocol.
func (r *remote) encode(ss []series, ts int64) ([]byte, error) {
	if r.v2 {
		st := writev2.NewSymbolTable()
		req := &writev2.Request{Timeseries: make([]writev2.TimeSeries, 0, len(ss))}
		for _, s := range ss {
			t := writev2.TimeSeries{LabelsRefs: st.SymbolizeLabels(s.labels, nil),
				Metadata: writev2.Metadata{Type: writev2.FromMetadataType(s.typ), HelpRef: st.Symbolize(s.help)}}
			if s.hist != nil {
				t.Histograms = []writev2.Histogram{writev2.FromIntHistogram(0, ts, s.hist)}
			} else {
				t.Samples = []writev2.Sample{{Value: s.value, Timestamp: ts}}
			}
			req.Timeseries = append(req.Timeseries, t)
		}
		req.Symbols = st.Symbols()
		return req.Marshal()
	}
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(ss))}
	for _, s := range ss {
		t := prompb.TimeSeries{Labels: prompb.FromLabels(s.labels, nil)}
		if s.hist != nil {
			t.Histograms = []prompb.Histogram{prompb.FromIntHistogram(ts, s.hist)}
		} else {
			t.Samples = []prompb.Sample{{Value: s.value, Timestamp: ts}}
		}
		req.Timeseries = append(req.Timeseries, t)
	}
	return req.Marshal()
}

// keep queues req (saved under key, 0: not saved) on shard i, and
// forgets what the buffer drops for it.
func (r *remote) keep(i int, req request, key uint64) {
	req.key = key
	samples, keys := r.shards[i].push(req)
	if samples > 0 {
		r.m.dropped.WithLabelValues(r.name).Add(float64(samples))
	}
	r.spool.remove(keys...)
}

func (r *remote) bufferedBytes() int {
	n := 0
	for _, s := range r.shards {
		s.mu.Lock()
		n += s.bytes
		s.mu.Unlock()
	}
	return n
}

// shard is one sender's buffer of encoded requests, oldest first.
type shard struct {
	mu      sync.Mutex
	pending []request
	bytes   int
	max     int
	wake    chan struct{}
}

// request is one encoded request, how many samples it holds, and its key
// in the spool (0: not saved).
type request struct {
	data    []byte
	samples int
	key     uint64
}

// push adds a request, dropping the oldest ones while the buffer is over
// its bound (never the one just added), and returns how many samples
// were dropped, and their requests' keys.
func (s *shard) push(req request) (dropped int, keys []uint64) {
	s.mu.Lock()
	s.pending = append(s.pending, req)
	s.bytes += len(req.data)
	for s.bytes > s.max && len(s.pending) > 1 {
		dropped += s.pending[0].samples
		keys = append(keys, s.pending[0].key)
		s.bytes -= len(s.pending[0].data)
		s.pending[0] = request{}
		s.pending = s.pending[1:]
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return dropped, keys
}

// pop takes the oldest request, or reports there is none.
func (s *shard) pop() (request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return request{}, false
	}
	req := s.pending[0]
	s.pending[0] = request{}
	s.pending = s.pending[1:]
	s.bytes -= len(req.data)
	return req, true
}

// encoded is a request already marshalled: the remote-write client takes
// it as a gogo-protobuf message that copies itself.
type encoded []byte

func (e encoded) Size() int                                  { return len(e) }
func (e encoded) MarshalToSizedBuffer(b []byte) (int, error) { return copy(b, e), nil }

// send sends the shard's requests in order, each until it succeeds or is
// refused.
func (r *remote) send(ctx context.Context, s *shard) {
	msgType := rwapi.WriteV1MessageType
	if r.v2 {
		msgType = rwapi.WriteV2MessageType
	}
	retried := rwapi.WithWriteRetryCallback(func(err error) {
		r.m.retries.WithLabelValues(r.name).Inc()
		r.log.Debug("send again", "err", r.scrub(err.Error()))
	})
	for {
		req, ok := s.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		r.m.buffered.WithLabelValues(r.name).Set(float64(r.bufferedBytes()))
		_, err := r.api.Write(ctx, msgType, encoded(req.data), retried)
		if ctx.Err() != nil {
			return // the request stays in the spool for the next start
		}
		r.spool.remove(req.key)
		switch {
		case err != nil:
			r.m.failed.WithLabelValues(r.name).Add(float64(req.samples))
			r.log.Warn("the receiver refused a request; its samples are dropped", "samples", req.samples, "err", r.scrub(err.Error()))
		default:
			r.m.sent.WithLabelValues(r.name).Add(float64(req.samples))
			r.m.lastSent.WithLabelValues(r.name).SetToCurrentTime()
		}
	}
}
