#!/usr/bin/env bash
# Reproduce the "modern_activations" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce modern_activations "$@"
