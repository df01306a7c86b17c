#!/usr/bin/env bash
# Super Neuron Explorer: one entry point for a fresh machine.
#   bash run.sh app    set up .venv (first time only) and run the Streamlit app on the embedded demo model
#   bash run.sh test   set up .venv with the test tools (and Debian's chromium when root) and run the whole suite
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup() {  # $1: requirements file
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$1")-$(sha256sum "$1" requirements.txt | sha256sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/pip install --disable-pip-version-check -q -r "$1"
    touch "$stamp"
  fi
}

case "${1:-}" in
  app)
    setup requirements.txt
    shift
    exec .venv/bin/streamlit run app.py --server.headless true "$@"
    ;;
  test)
    setup requirements-dev.txt
    if ! command -v chromium >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
          || echo "warning: could not install chromium; browser tests will be skipped" >&2
      else
        echo "note: chromium not found and not root; browser tests will be skipped" >&2
      fi
    fi
    shift
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash run.sh app | bash run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
