#!/usr/bin/env bash
# Build Medic's container image (deploy/Dockerfile) on this machine without a Docker daemon
# and without network access during the image build:
#
#   scripts/build-image.sh [TAG]        build TAG (default localhost/medic:<version>)
#   scripts/build-image.sh base         only make (or reuse) the cached Debian base image
#
# - the base is a Debian made with `debootstrap --variant=minbase` (python3, python3-venv),
#   cached as a tarball in $MEDIC_IMAGE_CACHE (default ~/.cache/medic-image) and imported
#   into buildah's storage once; it is passed to the Dockerfile as its BASE argument;
# - the wheels (Medic's own and every dependency's) are built on the host with pip (the
#   dependency wheels cached per pyproject.toml) and handed to the build as its context;
# - buildah runs with the vfs storage driver and chroot isolation, its storage in the cache.
#
# Runs as root (debootstrap and chroot isolation need it). The host Python must have the
# base's minor version (Debian bookworm: 3.11), since the wheels are built for it.
# Environment: MEDIC_IMAGE_CACHE, MEDIC_IMAGE_SUITE (bookworm), MEDIC_IMAGE_MIRROR (default:
# the first URIs: of /etc/apt/sources.list.d/debian.sources), PYTHON (default .venv/bin/python).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${MEDIC_IMAGE_CACHE:-${HOME}/.cache/medic-image}"
suite="${MEDIC_IMAGE_SUITE:-bookworm}"
base_packages="python3,python3-venv,passwd,ca-certificates"
python="${PYTHON:-${repo}/.venv/bin/python}"
context=""
export DEBIAN_FRONTEND=noninteractive

log() { echo "build-image: $*" >&2; }

# shellcheck source=scripts/debian-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-packages.sh"

# buildah with its storage under the cache: vfs (no overlay mounts needed), chroot isolation.
bh() {
  buildah --storage-driver vfs --root "${cache}/storage" --runroot "${cache}/run" "$@"
}

mirror() {
  if [[ -n "${MEDIC_IMAGE_MIRROR:-}" ]]; then
    echo "${MEDIC_IMAGE_MIRROR}"
    return
  fi
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

base_key() {
  echo "${suite}-$(echo "${suite} ${base_packages}" | sha256sum | cut -c1-12)"
}

# The debootstrap rootfs tarball (made once), imported as localhost/medic-base:<key>.
ensure_base() {
  local key dir image
  key=$(base_key)
  dir="${cache}/base/${key}"
  image="localhost/medic-base:${key}"
  if [[ ! -f "${dir}/.complete" ]]; then
    local started=$SECONDS
    log "debootstrap ${suite} (minbase + ${base_packages}) from $(mirror); a few minutes, once"
    rm -rf "${dir}"
    mkdir -p "${dir}"
    debootstrap --variant=minbase --include="${base_packages}" "${suite}" "${dir}/rootfs" \
      "$(mirror)" >"${dir}/debootstrap.log" 2>&1 || {
      tail -n 20 "${dir}/debootstrap.log" >&2
      exit 1
    }
    # Only what an image needs: no apt lists, no package caches, no docs.
    rm -rf "${dir}/rootfs/var/lib/apt/lists/"* "${dir}/rootfs/var/cache/apt/"*.bin \
      "${dir}/rootfs/var/cache/apt/archives/"*.deb "${dir}/rootfs/usr/share/doc/"* \
      "${dir}/rootfs/usr/share/man/"*
    tar -C "${dir}/rootfs" --numeric-owner -cf "${dir}/rootfs.tar" .
    rm -rf "${dir}/rootfs"
    touch "${dir}/.complete"
    log "base made in $((SECONDS - started)) s"
  fi
  if ! bh inspect --type image "${image}" >/dev/null 2>&1; then
    local ctr
    ctr=$(bh from --isolation chroot scratch)
    bh add "${ctr}" "${dir}/rootfs.tar" / >/dev/null
    bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --cmd /bin/bash "${ctr}"
    bh commit --quiet "${ctr}" "${image}" >/dev/null
    bh rm "${ctr}" >/dev/null
  fi
  echo "${image}"
}

# Wheels for every dependency (cached per pyproject.toml) plus Medic's own, into $1.
make_wheels() {
  local out=$1 key deps
  local have
  have=$("${python}" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if [[ "${suite}" == bookworm && "${have}" != 3.11 ]]; then
    log "the host Python is ${have}; bookworm's is 3.11: set PYTHON to a 3.11 interpreter"
    exit 1
  fi
  key=$(sha256sum "${repo}/pyproject.toml" | cut -c1-12)
  deps="${cache}/wheels/py${have}-${key}"
  if [[ ! -f "${deps}/.complete" ]]; then
    log "building dependency wheels into ${deps} (once per pyproject.toml)"
    rm -rf "${deps}"
    mkdir -p "${deps}"
    "${python}" -m pip wheel --quiet --wheel-dir "${deps}" "${repo}"
    rm -f "${deps}"/medic-*.whl
    touch "${deps}/.complete"
  fi
  mkdir -p "${out}"
  cp -l "${deps}"/*.whl "${out}/" 2>/dev/null || cp "${deps}"/*.whl "${out}/"
  "${python}" -m pip wheel --quiet --no-deps --wheel-dir "${out}" "${repo}"
}

main() {
  if ((EUID != 0)); then
    log "run as root (debootstrap and buildah's chroot isolation need it)"
    exit 1
  fi
  ensure_packages buildah debootstrap
  mkdir -p "${cache}"
  local base
  base=$(ensure_base)
  if [[ "${1:-}" == base ]]; then
    echo "${base}"
    return
  fi
  local version tag started=$SECONDS
  version=$("${python}" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "${repo}/pyproject.toml")
  tag="${1:-localhost/medic:${version}}"
  context=$(mktemp -d "${TMPDIR:-/tmp}/medic-image.XXXXXX")
  trap 'rm -rf "${context:-}"' EXIT
  make_wheels "${context}/wheels"
  # The same Dockerfile, base and wheels make the same image: reuse it (wheels are built
  # reproducibly), so a warm run with unchanged code only re-tags.
  local content
  content=$( (cat "${repo}/deploy/Dockerfile"; echo "${base}"; cd "${context}/wheels" && sha256sum ./*.whl) | sha256sum | cut -c1-16)
  if bh inspect --type image "localhost/medic-build:${content}" >/dev/null 2>&1; then
    log "reusing the image of identical inputs (localhost/medic-build:${content})"
  else
    bh build --quiet --isolation chroot --layers=false --build-arg "BASE=${base}" \
      -f "${repo}/deploy/Dockerfile" -t "localhost/medic-build:${content}" "${context}" >/dev/null
  fi
  bh tag "localhost/medic-build:${content}" "${tag}"
  # Older builds only take space (vfs stores each layer whole): drop them.
  local old
  for old in $(bh images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/medic-build:' |
    grep -v ":${content}\$" || true); do
    bh rmi "${old}" >/dev/null 2>&1 || true
  done
  bh rmi --prune >/dev/null 2>&1 || true
  log "built ${tag} in $((SECONDS - started)) s (storage: ${cache}/storage, vfs)"
  echo "${tag}"
}

main "$@"
