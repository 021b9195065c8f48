#!/usr/bin/env bash
# Reproduce every exercise of the notebook (5 seeds by default) and write outputs/reproduce/report.html.
set -euo pipefail
exec dlexp reproduce "$@"
