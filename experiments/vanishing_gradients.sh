#!/usr/bin/env bash
# Reproduce the "vanishing_gradients" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce vanishing_gradients "$@"
