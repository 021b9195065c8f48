#!/usr/bin/env bash
# Reproduce the "gradient_clipping" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce gradient_clipping "$@"
