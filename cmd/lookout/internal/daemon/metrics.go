package daemon

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serveMetrics writes the registry's families, then the probes' families
// one at a time, so a scrape of ten thousand probes never holds all their
// series at once. The format is negotiated as promhttp does: text,
// OpenMetrics or protobuf (which carries native histograms), gzipped when
// the scraper accepts it.
func (d *daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	mfs, err := d.reg.Gather()
	if err != nil {
		d.log.Error("gather metrics", "err", err)
		http.Error(w, "gather metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NegotiateIncludingOpenMetrics(r.Header)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
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

// acceptsGzip reads an Accept-Encoding header: gzip is accepted unless
// absent or given q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, found := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !found {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}
