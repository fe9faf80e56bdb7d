#!/usr/bin/env bash
# Builds a minimal OpenTelemetry Collector (the otlp receiver and the file
# exporter, collector core v0.161.0/v1.67.0 and contrib v0.161.0) into a cache
# folder and prints the binary's path. TestOtelcol (cmd/lookout/internal/daemon)
# exports Lookout's traces to it. Idempotent: a binary that is already there
# and answers --version is kept.
#
# The collector's source is the module in ./otelcol, with its own go.mod and
# go.sum, so that none of its dependencies reach Lookout's go.mod. The cache
# folder's name holds a hash of that module, so a change to it rebuilds.
#
# Environment: LOOKOUT_OTELCOL_CACHE, the folder for the binary
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/lookout/otelcol-v0.161.0-HASH).
set -euo pipefail

version=v0.161.0
src=$(cd "$(dirname "$0")/otelcol" && pwd)
hash=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
cache=${LOOKOUT_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookout/otelcol-$version-$hash}
bin=$cache/otelcol

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
(cd "$src" && GOFLAGS="-buildvcs=false -mod=readonly" GOTOOLCHAIN=local GOWORK=off \
	go build -trimpath -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
"$bin" --version >/dev/null
echo "$bin"
