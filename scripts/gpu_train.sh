#!/usr/bin/env bash
# Continue MiTAS and TseNet training side by side on a borrowed GPU machine (developer tool).
#
# Needs, in the repository root: .gpu/corpus (scripts/pack_corpus.py) and .whl (wheels of
# soundfile, cffi, pycparser and soxr for that machine's Python). Both runs start from the
# shipped weights (--init), draw batches with data workers and write checkpoints, logs and
# weights to $OUT every minute. INIT=DIR starts from DIR/<model>.safetensors instead. Locally: PY=.venv/bin/python DEVICE=cpu SKIP_INSTALL=1.
#
#   bash scripts/gpu_train.sh MINUTES
set -u
export PYTHONUNBUFFERED=1
MIN=${1:-8}
OUT=${OUT:-/tmp/gpu_out}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-7}
mkdir -p "$OUT"
ROOT=$(pwd)
if [ -z "${SKIP_INSTALL:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$ROOT"/.whl/*.whl || exit 3
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --no-cache-dir --target /tmp/rt "$ROOT" || exit 4
  export PYTHONPATH=/tmp/rt:/tmp/site
  cd /tmp  # not the checkout: its rtaudio/ would shadow the installed package
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
"$PY" -c "
import torch, soundfile, soxr, rtaudio.train.loop
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cpus', __import__('os').cpu_count())
assert '$DEVICE' == 'cpu' or torch.cuda.is_available()
" || exit 5

run() {  # MODEL ARGS...
  "$PY" -m rtaudio.cli train "$1" --data "$ROOT/.gpu/corpus" --out "$OUT/$1.safetensors" \
    --checkpoint "$OUT/$1.ckpt" --device "$DEVICE" --data-workers "$WORKERS" \
    --max-minutes "$MIN" --checkpoint-minutes 1 --no-test --overwrite --steps 1000000 \
    --log-every 200 --init "${INIT:-$ROOT/models/weights}/$1.safetensors" "${@:2}" >"$OUT/$1.log" 2>&1
  echo "$1 exited $?" >>"$OUT/$1.log"
}
COMMON=(--batch-size 32 --segment-seconds 2 --val-every 300 --val-size 128 --lr "${LR:-1e-3}")
run mitas "${COMMON[@]}" &
run tsenet "${COMMON[@]}" &
while [ -n "$(jobs -r)" ]; do
  sleep 30
  for m in mitas tsenet; do
    grep -E "step|validation|error|Error|exited" "$OUT/$m.log" | tail -n 2
  done
done
wait
for m in mitas tsenet; do
  echo "== $m"
  grep -E "validation @|training on|warm start|exited|Error|error" "$OUT/$m.log" | tail -n 40
done
ls -la "$OUT"
