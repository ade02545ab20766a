#!/bin/sh
# Builds Teamgram's gnetway, session and authsession from a teamgram-server source tree.
#   build.sh SRC OUT
# SRC is a writable copy of teamgram-server (its go.mod is edited); OUT receives the binaries.
# The tree requires github.com/teamgram/proto v0.227.0, which the Go module proxy does not serve;
# v0.230.0 is the version it has, and these three services compile against it as they are.
set -eu
src=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
cd "$src"
if ! grep -q 'github.com/teamgram/proto v0.230.0' go.mod; then
  go mod edit -require=github.com/teamgram/proto@v0.230.0
  go mod tidy
fi
for svc in app/interface/gnetway/cmd/gnetway app/interface/session/cmd/session app/service/authsession/cmd/authsession; do
  name=$(basename "$svc")
  go build -trimpath -o "$out/$name.tmp" "./$svc"
  mv "$out/$name.tmp" "$out/$name"
done
