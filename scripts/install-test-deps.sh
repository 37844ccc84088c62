#!/usr/bin/env bash
# Install the Debian packages whose real servers the tests run: Prometheus,
# Alertmanager, PostgreSQL and etcd (openssl makes the Kubernetes test keys; the
# Kubernetes binaries themselves come from scripts/kube-testenv.sh build), and buildah and
# debootstrap, which build and run the container image (scripts/build-image.sh), and
# Chromium for the web console's browser tests (Playwright drives /usr/bin/chromium). Idempotent: does nothing (and no
# `apt-get update`) when every package is already installed.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

packages=(prometheus prometheus-alertmanager postgresql etcd-server openssl buildah debootstrap chromium)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

as_root=()
if ((EUID != 0)); then
  as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
fi

echo "install-test-deps: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
