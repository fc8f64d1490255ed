"""CLIPort training scales out with PyTorch's own engine: torchrun, two CPU processes (gloo), a few steps.

After training both ranks hold identical weights (DistributedDataParallel averaged every
step's gradients), and rank 0 saved a checkpoint that loads. Traffic stays on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from vla_grounding.cliport.model import CliportModel


@pytest.mark.skipif(shutil.which("vla-grounding") is None, reason="the vla-grounding script is not installed "
                    "(run scripts/setup.sh and source scripts/env.sh)")
def test_two_processes_train_identical_weights(tmp_path):
    demos, out = tmp_path / "demos", tmp_path / "ckpt"
    subprocess.run(["vla-grounding", "demos", "--task", "put-blocks-in-bowls-seen", "--split", "train", "--n", "3",
                    "--out", str(demos), "--quiet"], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         shutil.which("vla-grounding"), "train", "cliport", "--task", "put-blocks-in-bowls-seen",
         "--demos", str(demos), "--num-demos", "2", "--val-episodes", "1", "--steps", "3", "--batch-size", "4",
         "--threads", "1", "--val-every", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ranks = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"rank"')]
    assert sorted(r["rank"] for r in ranks) == [0, 1] and all(r["steps"] == 3 for r in ranks), run.stdout
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"], ranks
    assert "data parallel: 2 processes, 2 samples each per step" in run.stdout
    model = CliportModel.load(out)
    assert model.config.training["processes"] == 2 and model.config.training["steps"] == 3
