#!/usr/bin/env bash
# Operator tools the deploy checks run, built from pinned Go modules into $FUSEBOX_TOOLS_DIR
# (default <repo>/.run/tools, git-ignored) with the machine's Go toolchain.
#
#   tools.sh install [kustomize|promtool ...]   build what is missing (default: all); idempotent
#   tools.sh path NAME                          print the binary's path, building it if missing
#
# A binary is rebuilt when its pinned version changes (a stamp file beside it holds the version).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${FUSEBOX_TOOLS_DIR:-$ROOT/.run/tools}"

# name -> Go package and version. kustomize v5.8.3 needs Go 1.27; v5.8.2 builds with Go 1.26.
# promtool v0.316.0 is Prometheus 3.16's; building it takes about 6 minutes on a busy 2-core box.
declare -A MODULE=(
  [kustomize]="sigs.k8s.io/kustomize/kustomize/v5"
  [promtool]="github.com/prometheus/prometheus/cmd/promtool"
)
declare -A VERSION=(
  [kustomize]="v5.8.2"
  [promtool]="v0.316.0"
)

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }

install_one() {  # name
  local name="$1" bin stamp
  [ -n "${MODULE[$name]:-}" ] || die "unknown tool $name (known: ${!MODULE[*]})"
  bin="$TOOLS_DIR/bin/$name"
  stamp="$bin.version"
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${VERSION[$name]}" ]; then return 0; fi
  command -v go >/dev/null || die "$name needs the Go toolchain (go) to build; install Go first"
  log "building $name ${VERSION[$name]} into $TOOLS_DIR/bin"
  mkdir -p "$TOOLS_DIR/bin"
  GOBIN="$TOOLS_DIR/bin" go install "${MODULE[$name]}@${VERSION[$name]}" \
    || die "could not build $name ${VERSION[$name]}"
  echo "${VERSION[$name]}" >"$stamp"
}

case "${1:-}" in
  install)
    shift
    if [ "$#" -eq 0 ]; then set -- "${!MODULE[@]}"; fi
    for name in "$@"; do install_one "$name"; done
    ;;
  path)
    [ -n "${2:-}" ] || die "usage: $0 path NAME"
    install_one "$2"
    echo "$TOOLS_DIR/bin/$2"
    ;;
  *) die "usage: $0 {install [name ...]|path NAME}" ;;
esac
