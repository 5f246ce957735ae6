#!/usr/bin/env bash
# terminal-js CI steps, for the repository's .ci/run:
#   terminal-js/ci.sh              unit tests + typecheck + packed-tarball test + tests against the backend at $POS_BACKEND_URL
#   terminal-js/ci.sh --unit-only  unit tests + typecheck + packed-tarball test only (needs the npm registry)
# The backend (simulator mode) must already be running for the full run.
set -euo pipefail
cd "$(dirname "$0")"

if [[ "${1:-}" != "--unit-only" ]]; then
  if [[ -z "${POS_BACKEND_URL:-}" ]]; then
    echo "terminal-js/ci.sh: POS_BACKEND_URL is not set (start pos-backend in simulator mode first)" >&2
    exit 2
  fi
  if [[ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  fi
fi

npm ci --no-audit --no-fund
npm test
npm run typecheck
npm run test:pack
if [[ "${1:-}" != "--unit-only" ]]; then
  npm run test:backend
fi
