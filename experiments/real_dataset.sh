#!/usr/bin/env bash
# Reproduce the "real_dataset" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce real_dataset "$@"
