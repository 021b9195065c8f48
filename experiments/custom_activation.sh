#!/usr/bin/env bash
# Reproduce the "custom_activation" exercise over seeds into outputs/reproduce (extra args go to dlexp, e.g. --seeds 3).
set -euo pipefail
exec dlexp reproduce custom_activation "$@"
