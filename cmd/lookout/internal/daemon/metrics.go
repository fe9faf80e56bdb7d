package daemon

import (
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/negotiate"
)

// serveMetrics writes the registry's families, then the probes' families
// one at a time, so a scrape of ten thousand probes never holds all their
// series at once. The format is negotiated as promhttp does: text,
// OpenMetrics or protobuf (which carries native histograms), gzipped when
// the scraper accepts it.
func (d *daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	mfs, err := d.ownFamilies()
	if err != nil {
		d.log.Error("gather metrics", "err", err)
		http.Error(w, "gather metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NegotiateIncludingOpenMetrics(r.Header)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if negotiate.AcceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	enc := expfmt.NewEncoder(out, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return // the scraper went away; nothing to tell it
		}
	}
	// Probe metric and label names are valid in every escaping scheme
	// (config allows no others), so they skip escaping, which would copy
	// each family.
	probeEnc := expfmt.NewEncoder(out, format.WithEscapingScheme(model.NoEscaping))
	if err := d.probeMetrics.EachFamily(probeEnc.Encode); err != nil {
		return
	}
	if closer, ok := probeEnc.(expfmt.Closer); ok {
		_ = closer.Close() // writes OpenMetrics' # EOF
	}
}

// ownFamilies gathers the registry's families, each series of Lookout's
// own labelled with the cluster replica's name.
func (d *daemon) ownFamilies() ([]*dto.MetricFamily, error) {
	mfs, err := d.reg.Gather()
	if err != nil {
		return nil, err
	}
	if d.cluster != nil {
		labelReplica(mfs, d.cluster.cfg.Replica)
	}
	return mfs, nil
}

// families calls fn with each family /metrics serves, as remote_write
// sends them: the registry's, then the probes' one at a time.
func (d *daemon) families(fn func(*dto.MetricFamily) error) error {
	mfs, err := d.ownFamilies()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if err := fn(mf); err != nil {
			return err
		}
	}
	return d.probeMetrics.EachFamily(fn)
}

// labelReplica adds replica="NAME" to every series of Lookout's own
// families (lookout_*), so that Prometheus, scraping every replica of a
// cluster, tells them apart.
func labelReplica(mfs []*dto.MetricFamily, replica string) {
	name := "replica"
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "lookout_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &replica})
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
	}
}
