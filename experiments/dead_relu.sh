#!/usr/bin/env bash
# Reproduce the "dead_relu" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce dead_relu "$@"
