#!/usr/bin/env bash
# Builds the Versity S3 Gateway (versitygw, an S3-compatible server over a
# POSIX folder) into a cache folder and prints the binary's path. Lookout's
# S3 backup source is tested against it. Idempotent: a binary that is
# already there and answers --version is kept. About 75 s on a fresh 2-core
# machine. Its dependencies (cloud SDKs among them, for its other backends)
# stay out of Lookout's go.mod: go install builds it from its own module.
#
# Environment: LOOKOUT_S3_CACHE, the folder for the binary
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/lookout/versitygw-v1.8.0).
set -euo pipefail

version=v1.8.0
cache=${LOOKOUT_S3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookout/versitygw-$version}
bin=$cache/versitygw

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Outside any module, so that it never touches the go.mod of the folder it
# was called from.
(cd "$work" && GOFLAGS=-buildvcs=false GOTOOLCHAIN=local GOBIN="$work" \
	go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$version")
mv "$work/versitygw" "$bin"
"$bin" --version >/dev/null
echo "$bin"
