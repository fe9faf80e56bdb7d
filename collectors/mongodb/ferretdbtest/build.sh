#!/usr/bin/env bash
# Builds FerretDB v1.24.2 (the server that Lookout's MongoDB tests run against)
# into a cache folder and prints the binary's path. Idempotent: a binary that
# is already there and answers --version is kept.
#
# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` gives a binary
# that panics at start: build/version/version.txt is generated from git in
# FerretDB's own repo and absent from the module. So this script copies the
# module out of the module cache, writes that file, and builds the copy.
# FerretDB's dependencies stay out of Lookout's go.mod.
#
# Environment: LOOKOUT_FERRETDB_CACHE, the folder for the binary
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/lookout/ferretdb-v1.24.2).
set -euo pipefail

version=v1.24.2
module=github.com/FerretDB/FerretDB
cache=${LOOKOUT_FERRETDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookout/ferretdb-$version}
bin=$cache/ferretdb

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi

work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

# Run go mod download outside any module, so that it never touches the
# go.mod of the folder it was called from.
dir=$(cd "$work" && go mod download -json "$module@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ]; then
	echo "build.sh: go mod download $module@$version gave no folder" >&2
	exit 1
fi

cp -R "$dir" "$work/src"
chmod -R u+w "$work/src"
echo "$version" >"$work/src/build/version/version.txt"

mkdir -p "$cache"
(cd "$work/src" && GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
	go build -trimpath -o "$bin.tmp" ./cmd/ferretdb)
mv "$bin.tmp" "$bin"
"$bin" --version >/dev/null
echo "$bin"
