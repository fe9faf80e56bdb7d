package rules

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
)

// QueryFunc runs an instant PromQL query.
type QueryFunc func(ctx context.Context, q string, ts time.Time) (promql.Vector, error)

// Expander expands the Go templates of alert labels and annotations with
// $labels, $value, $externalLabels and $externalURL, as Prometheus does.
type Expander struct {
	Query QueryFunc
	// ExternalURL is what the externalURL and pathPrefix functions
	// return, and $externalURL unless ExternalURLVar is set.
	ExternalURL *url.URL
	// ExternalURLVar, when set, is $externalURL, as written. promtool sets
	// only the variable, from a test's external_url: the functions fail
	// there.
	ExternalURLVar string
	ExternalLabels map[string]string
}

// templateDefs make Prometheus's template variables available.
var templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

func (e Expander) data(smpl promql.Sample) any {
	u := e.ExternalURLVar
	if u == "" && e.ExternalURL != nil {
		u = e.ExternalURL.String()
	}
	return template.AlertTemplateData(smpl.Metric.Map(), e.ExternalLabels, u, smpl)
}

// text expands one template. A template without "{{" is returned as is.
func (e Expander) text(ctx context.Context, rule, text string, data any, ts time.Time) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	tmpl := template.NewTemplateExpander(ctx, templateDefs+text, "__alert_"+rule, data,
		model.TimeFromUnixNano(ts.UnixNano()), template.QueryFunc(e.Query), e.ExternalURL, nil)
	out, err := tmpl.Expand()
	if err != nil {
		return fmt.Sprintf("<error expanding template: %v>", err), nil
	}
	return out, nil
}
