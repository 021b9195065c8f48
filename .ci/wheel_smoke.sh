#!/usr/bin/env bash
# Installs the built wheel (no -e) into a fresh venv and runs dlexp from a folder outside the
# checkout, as a user would after `pip install dlexp`. Usage: wheel_smoke.sh WHEEL_FILE
set -euo pipefail
# Every temporary folder goes on exit, pass or fail: a leaked venv is 2.5 GB, and a few CI runs on
# one machine filled its disk.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
wheel="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
if [ -n "${DLEXP_SMOKE_VENV:-}" ]; then  # a developer's reused venv: only the wheel is replaced
  venv="$DLEXP_SMOKE_VENV"
  "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "$wheel"
else
  venv="$scratch/venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "$wheel"
fi
work="$scratch/work"
mkdir "$work"
cd "$work"
export PATH="$venv/bin:$PATH"
fail() { echo "wheel smoke: $*" >&2; exit 1; }
one() { local n; n=$(compgen -G "$1" | wc -l); [ "$n" -ge "${2:-1}" ] || fail "expected ${2:-1}+ of $1, found $n"; }

[ "$(command -v dlexp)" = "$venv/bin/dlexp" ] || fail "dlexp is not the wheel's console script"
python -c 'import dlexp, sys; sys.exit(0 if "site-packages" in dlexp.__file__ else 1)' || fail "dlexp imported from the checkout"

dlexp --help > /dev/null
dlexp train --help > help.txt
grep -q "activation:" help.txt || fail "train --help lists no config groups"
dlexp list > list.txt
grep -q "shallow_vs_deep" list.txt || fail "list shows no presets"

# -cd DIR: a user's file replaces the packaged one of the same name.
mkdir -p mine/model mine/exp
printf 'kind: mlp\nhidden: [7, 7]\ndropout: 0.0\n' > mine/model/deep.yaml
printf '# @package _global_\ndescription: my preset\nname: mine\n' > mine/exp/mine.yaml
dlexp train -cd mine --cfg job > cfg.txt
grep -q -- "- 7" cfg.txt || fail "-cd DIR/model/deep.yaml did not replace the packaged one"
dlexp list -cd mine | grep -q "mine" || fail "list -cd DIR does not show the user's preset"

# A bad value: one line, exit 2, no folder.
set +e
dlexp train trainer.epochs=-1 2> err.txt
code=$?
set -e
[ "$code" -eq 2 ] || fail "bad value exited $code, not 2"
[ "$(wc -l < err.txt)" -eq 1 ] || fail "bad value printed more than one line: $(cat err.txt)"
[ ! -e outputs ] || fail "bad value left an outputs folder"

dlexp train +exp=shallow_vs_deep trainer.epochs=1
one "outputs/shallow_vs_deep/*/summary.json"
one "outputs/shallow_vs_deep/*/results.csv"
one "outputs/shallow_vs_deep/*/runs/*/seed42/metrics.csv" 2
one "outputs/shallow_vs_deep/*/runs/*/seed42/layer_stats.csv" 2
one "outputs/shallow_vs_deep/*/runs/*/seed42/config.yaml" 2
grep -q '"status": "completed"' outputs/shallow_vs_deep/*/summary.json || fail "shallow_vs_deep did not complete"

dlexp train -m activation=relu,elu trainer.epochs=1
one "outputs/default/multirun/*/*/summary.json" 2
one "outputs/default/multirun/*/*/metrics.csv" 2

dlexp reproduce modern_activations dead_relu --seeds 1 --epochs 1 --out repro
for f in report.html report.md claims.csv reproduction.json; do one "repro/$f"; done
dlexp report repro > report.txt
dlexp report outputs/default/multirun/* > sweep_report.txt
echo "wheel smoke: ok"
