#!/usr/bin/env bash
# Builds the Prometheus programs Lookout's tests run against into a cache
# folder and prints that folder: prometheus and promtool at the version of
# the Prometheus packages Lookout's go.mod requires, and alertmanager.
# Idempotent: binaries already there that answer --version are kept.
#
# `go install module@version` builds each program from the Go module proxy
# with its own go.mod, so none of their dependencies reach Lookout's.
# Prometheus is built with the remove_all_sd tag: the tests configure static
# targets only, and service discovery would pull in every cloud SDK (about a
# minute more to build).
#
# Environment: LOOKOUT_PROMETHEUS_CACHE, the folder for the binaries
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/lookout/prometheus-VERSION-amVERSION).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
prometheus=$(cd "$root" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)
alertmanager=v0.35.0
cache=${LOOKOUT_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookout/prometheus-$prometheus-am$alertmanager}

ok() { [ -x "$cache/$1" ] && "$cache/$1" --version >/dev/null 2>&1; }

mkdir -p "$cache"
# Outside any module, so that go install never touches Lookout's go.mod.
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
if ! ok prometheus || ! ok promtool; then
	(cd "$work" && GOBIN="$cache" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
		go install -trimpath -tags remove_all_sd \
		"github.com/prometheus/prometheus/cmd/prometheus@$prometheus" \
		"github.com/prometheus/prometheus/cmd/promtool@$prometheus")
fi
# Alertmanager's module lacks its web UI's built assets (ui/app/dist, made
# by npm in its own repo), which it embeds, so `go install` refuses it. It
# is built from a copy of the module with an empty UI in their place: the
# tests use its API only.
if ! ok alertmanager; then
	dir=$(cd "$work" && go mod download -json "github.com/prometheus/alertmanager@$alertmanager" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ -z "$dir" ]; then
		echo "build.sh: go mod download alertmanager@$alertmanager gave no folder" >&2
		exit 1
	fi
	cp -R "$dir" "$work/alertmanager"
	chmod -R u+w "$work/alertmanager"
	for ui in elm mantine; do
		mkdir -p "$work/alertmanager/ui/app/dist/$ui"
		echo "Alertmanager built for Lookout's tests: no web UI" >"$work/alertmanager/ui/app/dist/$ui/index.html"
	done
	(cd "$work/alertmanager" && GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local GOWORK=off \
		go build -trimpath -o "$cache/alertmanager" ./cmd/alertmanager)
fi
for b in prometheus promtool alertmanager; do
	"$cache/$b" --version >/dev/null
done
echo "$cache"
