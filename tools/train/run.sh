#!/usr/bin/env bash
# Reproduce models/imagine-tiny (fixed seeds): data, v2's UNet + text encoder training from v1's weights, learned
# decoder training, ONNX export, evaluation, parity/speed.
#   bash tools/train/run.sh            # v2 recipe as shipped: v1's graphs from git (commit e704b91) -> warmstart.py
#                                      # -> train_v2.py, 9,900 steps: 0-5,100 Chinese, accessories, scenes, counts;
#                                      # from 5,100 also above/below and variety (the run stops at 5,100, grows the
#                                      # checkpoint and goes on by itself; lr decays from 8,303; 195 min on a 2-core CPU with
#                                      # OpenBLAS) -> keep only the EMA weights (the shipped run went on from the
#                                      # shipped graphs of step 9,900: recover_v2.py) -> the primer stage, 9,900-11,900
#                                      # (a cat in a space suit in 3 % of the data, lr 1e-4 falling to 0; 24 min) -> the
#                                      # decoder
#   MINUTES=30 bash tools/train/run.sh # stop the UNet after 30 min; re-running resumes from tools/train/.work/ckpt_v2.pt
#   FROM=shipped bash tools/train/run.sh  # no .work/ (a new machine): rebuild the checkpoint from the shipped graphs
#                                      # (recover_v2.py: the EMA weights, step and minutes of eval.json; a fresh
#                                      # optimizer) and go on from there; add a stage below to train further
#   STAGE=v1 bash tools/train/run.sh   # v1 from scratch instead (train.py, 7500 steps, about 3 hours)
#   ONLY=decoder bash tools/train/run.sh  # only the learned vae_decoder (about 45 min; resumes from
#                                      # tools/train/.work/decoder_ckpt.pt; DECODER_MINUTES per phase)
# Needs Debian's python3-torch python3-onnx python3-numpy python3-pil, libopenblas0-pthread (without it Debian's torch
# multiplies matrices with the reference BLAS, 30x slower) and fonts-wqy-microhei (the Chinese captions of
# samples.png) (apt; tools/train/requirements.txt), git and npm (for the emoji sprites).
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
$PY -m unittest discover tools/train/tests
$PY tools/train/prepare.py "$EMOJI"
if [ "${ONLY:-}" != decoder ] && [ "${STAGE:-v2}" = v1 ]; then
  nice -n 19 $PY tools/train/train.py --seed 0 --batch 32 --steps "${STEPS:-7500}" --minutes "${MINUTES:-600}"
  $PY tools/train/export.py --ckpt "$WORK/ckpt.pt"
elif [ "${ONLY:-}" != decoder ]; then
  for part in text_encoder unet; do
    mkdir -p "$WORK/v1/$part"
    git show "e704b91:models/imagine-tiny/$part/model.onnx" > "$WORK/v1/$part/model.onnx"
  done
  # FROM=shipped on a machine without .work/: continue from the shipped model's weights (recover_v2.py; a fresh
  # optimizer) instead of retraining from v1
  if [ "${FROM:-}" = shipped ] && [ ! -f "$WORK/ckpt_v2.pt" ]; then $PY tools/train/recover_v2.py; fi
  [ -f "$WORK/ckpt_v2.pt" ] || $PY tools/train/warmstart.py
  nice -n 5 $PY tools/train/train_v2.py --steps 9900 --decay-from 8303 --minutes "${MINUTES:-240}"
  step=$($PY -c "import torch; print(torch.load('$WORK/ckpt_v2.pt')['step'])")
  if [ "$step" -lt 9900 ]; then echo "stopped at step $step: run again to resume"; exit 0; fi
  if [ "$step" -eq 9900 ] && [ ! -f "$WORK/ckpt_v2_9900.pt" ]; then
    cp "$WORK/ckpt_v2.pt" "$WORK/ckpt_v2_9900.pt"
    $PY tools/train/recover_v2.py --from-ckpt "$WORK/ckpt_v2_9900.pt" --out "$WORK/ckpt_v2.pt" --force
  fi
  nice -n 5 $PY tools/train/train_v2.py --steps 11900 --decay-from 9900 --lr 1e-4 --primer-step 9900 \
    --minutes "${MINUTES:-240}"
  $PY tools/train/export.py
fi
# decoder phase 1 (clean renders, 30 % lightly degraded), then phase 2 (half the inputs with grain as strong as the
# UNet's samples), each resumable from tools/train/.work/decoder_ckpt.pt
nice -n 19 $PY tools/train/train_decoder.py --steps 2000 --minutes "${DECODER_MINUTES:-45}"
nice -n 19 $PY tools/train/train_decoder.py --steps 3000 --restart-at 2000 --lr 3e-4 --degrade-share 0.5 \
  --noise-max 0.12 --minutes "${DECODER_MINUTES:-45}"
$PY tools/train/export_decoder.py
nice -n 19 $PY tools/train/eval_decoder.py
if [ "${ONLY:-}" != decoder ] && [ "${STAGE:-v2}" = v1 ]; then
  nice -n 19 $PY tools/train/evaluate.py --ckpt "$WORK/ckpt.pt"
elif [ "${ONLY:-}" != decoder ]; then
  nice -n 19 $PY tools/train/evaluate_v2.py
fi
node tools/train/parity.mjs
$PY tools/train/card.py
