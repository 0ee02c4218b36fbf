#!/usr/bin/env bash
# The GPU figures of issues #26 and #28 in one prepared run, on a machine with CUDA (the lent
# H200: torch, transformers, scipy, opencv there; the rest as wheels in .whl/, see the device
# notes). Prints every figure; writes nothing but its log. About 6 minutes on an H200.
#   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
set -uo pipefail
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
# The compiled (CUDA graphs) step against eager over 10 frames of MF, and the other GPU tests.
python3 -m pytest -q -p no:cacheprovider test/test_predictor.py -k "compiled" test/test_stream.py
# Inference: stages, eager and compiled totals, host syncs, per precision.
python3 benchmarks/bench_model.py --device cuda --compile --backends torch \
  --configs embedded embedded-lite0 vits --precisions fp32 bf16-all fp16-all --frames 30
# Training: the embedded config (its recipe, then dense heads and features on 1 frame in 4)
# and ViT-S with the encoder frozen, all in bf16.
python3 benchmarks/bench_train.py --device cuda --amp --batch 16 --steps 10
python3 benchmarks/bench_train.py --device cuda --amp --batch 16 --steps 10 \
  --set loss.dense_every=4 loss.features_every=4
python3 benchmarks/bench_train.py --device cuda --amp --batch 16 --steps 10 \
  --set loss.dense_every=4 loss.features_every=4 model.encoder=lite0 model.pretrained=true
python3 benchmarks/bench_train.py --device cuda --amp --batch 16 --steps 10 \
  --set model.encoder=vits model.d_model=256 model.freeze_encoder=true
