#!/usr/bin/env bash
# Install the Debian packages whose real servers the tests run: Prometheus,
# Alertmanager, PostgreSQL and etcd (openssl makes the Kubernetes test keys; the
# Kubernetes binaries themselves come from scripts/kube-testenv.sh build), and buildah and
# debootstrap, which build and run the container image (scripts/build-image.sh), and
# Chromium for the web console's browser tests (Playwright drives /usr/bin/chromium). Idempotent: does nothing (and no
# `apt-get update`) when every package is already installed.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { echo "install-test-deps: $*" >&2; }

# shellcheck source=scripts/debian-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-packages.sh"

ensure_packages prometheus prometheus-alertmanager postgresql etcd-server openssl buildah \
  debootstrap chromium
