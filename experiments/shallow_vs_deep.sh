#!/usr/bin/env bash
# Reproduce the "shallow_vs_deep" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce shallow_vs_deep "$@"
