#!/usr/bin/env bash
# One command for a CUDA machine: act() latency of both policies (the shipped models, and CLIPort
# with ViT-B-32 / RN50 random weights: timing does not depend on them) and CLIPort training steps
# per second at batch 8 and 32 under bf16. Results: bench/results/gpu_*.{json,md}.
# Not run yet: no GPU has been lent to this project's sessions (README, "Results and benchmarks").
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'bench/gpu.sh needs a CUDA GPU')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee bench/results/gpu_device.txt
python bench/bench_cliport.py --device cuda --bf16 --batch-sizes 8,32 --repeats 20 --train-steps 20 \
    --clip small,RN50,ViT-B-32 --out bench/results/gpu_cliport
python - <<'PY' | tee bench/results/gpu_clip_regions.json
# clip_regions act() on a rendered scene, shipped small CLIP, on the GPU (fp16 as the node runs it)
import json, statistics, time
from vla_grounding.policy import make_policy
from vla_grounding.sim.env import TabletopEnv
env = TabletopEnv("put-blocks-in-bowls-seen"); frame = env.reset(1)
policy = make_policy("clip_regions", device="cuda")
policy.act(frame, env.instruction)  # warm-up
times = []
for _ in range(20):
    t0 = time.perf_counter(); policy.act(frame, env.instruction); times.append(time.perf_counter() - t0)
print(json.dumps({"policy": "clip_regions", "device": "cuda", "act_s_median": statistics.median(times)}))
PY
echo "[gpu] wrote bench/results/gpu_cliport.{json,md}, gpu_clip_regions.json, gpu_device.txt"
