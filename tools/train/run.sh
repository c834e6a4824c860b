#!/usr/bin/env bash
# Reproduce models/imagine-tiny from scratch (fixed seed 0): data, training, ONNX export, evaluation, parity/speed.
#   bash tools/train/run.sh            # full recipe (7500 steps, as shipped; about 3 hours on an idle 2-core CPU)
#   MINUTES=30 bash tools/train/run.sh # stop after 30 min; re-running resumes from tools/train/.work/ckpt.pt
# Needs Debian's python3-torch python3-onnx python3-numpy python3-pil (apt) and npm (for the emoji sprites).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
WORK=tools/train/.work
mkdir -p "$WORK"
EMOJI="$WORK/npm/node_modules/emoji-datasource-google"
if [ ! -d "$EMOJI" ]; then
  mkdir -p "$WORK/npm"
  (cd "$WORK/npm" && echo '{"private":true}' > package.json && npm install --no-save --ignore-scripts emoji-datasource-google@16.0.0)
fi
$PY tools/train/prepare.py "$EMOJI"
nice -n 19 $PY tools/train/train.py --seed 0 --batch 32 --steps "${STEPS:-7500}" --minutes "${MINUTES:-600}"
$PY tools/train/export.py
nice -n 19 $PY tools/train/evaluate.py
node tools/train/parity.mjs
$PY tools/train/card.py
