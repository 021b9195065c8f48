#!/usr/bin/env bash
# Reproduce the "batch_norm" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce batch_norm "$@"
