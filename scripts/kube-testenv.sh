#!/usr/bin/env bash
# Real Kubernetes control plane for the tests (no kubelet): kube-apiserver,
# kube-controller-manager and kube-scheduler built from Debian's `kubernetes`
# source package, cached outside the repository.
#
#   scripts/kube-testenv.sh build    build once into $MEDIC_KUBE_CACHE/<version>/ (reused)
#   scripts/kube-testenv.sh bindir   print the directory holding the cached binaries
#   scripts/kube-testenv.sh start    run etcd + control plane + fake kubelet in the foreground
#                                    for a human (prints the kubeconfig; Ctrl-C stops it)
#
# The tests start their own stack (tests/harness/kube.py); this script only builds.
# The system's apt configuration is never modified: deb-src entries are derived from
# /etc/apt/sources.list.d/debian.sources into a private apt directory.
set -euo pipefail

cache_root="${MEDIC_KUBE_CACHE:-${HOME}/.cache/medic-kube}"
binaries=(kube-apiserver kube-controller-manager kube-scheduler)
build_packages=(golang-go rsync golang-github-modern-go-reflect2-dev dpkg-dev)
run_packages=(etcd-server openssl)
export DEBIAN_FRONTEND=noninteractive

log() { echo "kube-testenv: $*" >&2; }

# shellcheck source=scripts/debian-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-packages.sh"

# The newest complete cache directory, if any.
cached_bindir() {
  local dir best=""
  for dir in "${cache_root}"/*/; do
    [[ -f "${dir}.complete" ]] && best="${dir%/}"
  done
  [[ -n "$best" ]] && echo "$best"
}

build() {
  local existing
  if existing=$(cached_bindir); then
    log "cached binaries in ${existing}"
    ensure_packages "${run_packages[@]}"
    return 0
  fi
  ensure_packages "${run_packages[@]}" "${build_packages[@]}"

  local apt_dir
  work=$(mktemp -d "${TMPDIR:-/tmp}/medic-kube-build.XXXXXX")
  trap 'rm -rf "${work}"' EXIT
  apt_dir="${work}/apt"
  mkdir -p "${apt_dir}/parts" "${apt_dir}/lists/partial" "${apt_dir}/cache/archives/partial"
  local sources=/etc/apt/sources.list.d/debian.sources
  [[ -f "$sources" ]] || { log "no ${sources}: cannot derive deb-src"; exit 1; }
  sed 's/^Types: deb$/Types: deb-src/' "$sources" >"${apt_dir}/parts/src.sources"
  local apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=${apt_dir}/parts"
    -o "Dir::State::Lists=${apt_dir}/lists"
    -o "Dir::Cache=${apt_dir}/cache"
    -o "APT::Sandbox::User=root"
  )
  log "fetching the kubernetes source package"
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only kubernetes >/dev/null)
  local dsc version tree
  dsc=$(ls "$work"/kubernetes_*.dsc)
  version=$(sed -n 's/^Version: //p' "$dsc")
  tree="${work}/src"
  dpkg-source --no-check -x "$dsc" "$tree" >/dev/null

  log "replacing vendored reflect2 with Debian's 1.0.2"
  local vendored="${tree}/vendor/github.com/modern-go/reflect2"
  rm -f "${vendored}"/*.go "${vendored}"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
    /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "${vendored}/"

  log "building ${binaries[*]} (${version}); several minutes cold"
  mkdir -p "${work}/home"
  (cd "$tree" && GOPROXY=off CGO_ENABLED=0 HOME="${work}/home" GOFLAGS=-mod=vendor \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >"${work}/build.log" 2>&1) || {
    tail -n 50 "${work}/build.log" >&2
    exit 1
  }
  local dest="${cache_root}/${version}"
  mkdir -p "$dest"
  for bin in "${binaries[@]}"; do
    install -m 0755 "${tree}/_output/local/bin/linux/amd64/${bin}" "${dest}/${bin}"
  done
  touch "${dest}/.complete"
  log "binaries cached in ${dest}"
}

work=""
state_dir="${MEDIC_KUBE_STATE:-${TMPDIR:-/tmp}/medic-kube-dev}"

start() {
  local bindir
  bindir=$(cached_bindir) || { log "run '$0 build' first"; exit 1; }
  cd "$(dirname "$0")/.."
  MEDIC_KUBE_BIN="$bindir" PYTHONPATH=tests .venv/bin/python -m harness.kube "$state_dir"
}

case "${1:-}" in
  build) build ;;
  bindir) cached_bindir || { log "not built"; exit 1; } ;;
  start) start ;;
  *)
    echo "usage: $0 build|bindir|start" >&2
    exit 2
    ;;
esac
