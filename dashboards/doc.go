// Package dashboards holds Lookout's Grafana dashboards, the *.json files
// beside this one (README.md says what each shows and how to import it).
// It has no code: its test parses every query of every dashboard with
// PromQL's parser and checks each metric name against the metrics Lookout
// exposes.
package dashboards
