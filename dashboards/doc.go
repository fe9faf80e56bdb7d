// Package dashboards holds Lookout's Grafana dashboards, the *.json files
// beside this one (README.md says what each shows and how to import it).
// It has no code. Its tests parse every query of every dashboard with
// PromQL's parser and check each metric name against the metrics Lookout
// exposes, and decode every dashboard strictly against Grafana's dashboard
// and panel schemas (grafana-foundation-sdk).
package dashboards
