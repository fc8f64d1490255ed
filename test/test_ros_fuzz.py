"""Fuzzing the graph from another process: malformed camera frames, instructions, PickPlace
messages, ground calls and goals, mixed with good ones (test/peers/fuzz_inputs.py).

Every node must stay up, nothing may be published on pick_place or move in the simulator,
and every good call must still be answered. 30 s by default; VLA_FUZZ_SECONDS=600 runs
longer, and VLA_FUZZ_SEED=N replays the run that printed ``seed N``.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest
from conftest import PEERS, sim_params

pytestmark = pytest.mark.ros

TASK, SCENE_SEED = "put-blocks-in-bowls-seen", 1
SIM_CAMERA = ["-r", "camera/color/image_raw:=sim_camera/color/image_raw",
              "-r", "camera/depth/image_raw:=sim_camera/depth/image_raw",
              "-r", "camera/color/camera_info:=sim_camera/color/camera_info"]


def test_fuzzed_inputs_never_produce_a_pose_or_a_crash(launch, ros_node):
    from vla_grounding.srv import TaskState

    from vla_grounding.nodes.background import wait_future

    seed = int(os.environ.get("VLA_FUZZ_SEED", random.randrange(2**31)))
    seconds = float(os.environ.get("VLA_FUZZ_SECONDS", "30"))
    print(f"fuzz seed {seed} ({seconds:g} s): replay with VLA_FUZZ_SEED={seed}")
    graph = {  # the fuzzer is the only camera: the simulator's own stream is moved aside
        "sim": launch("vla_grounding.nodes.sim_node",
                      [*sim_params("sim_node", task=TASK, seed=SCENE_SEED, publish_rate=2.0, control_rate=10.0),
                       *SIM_CAMERA],
                      name="fuzz_sim"),
        "grounding": launch("vla_grounding.nodes.grounding_node", sim_params("grounding_node"), name="fuzz_grounding"),
        "arm": launch("vla_grounding.nodes.arm_controller_node", sim_params("arm_controller_node"), name="fuzz_arm"),
    }
    fuzzer = launch(str(PEERS / "fuzz_inputs.py"), [str(seed), str(seconds), TASK, str(SCENE_SEED)], name="fuzzer")
    code = fuzzer.proc.wait(seconds + 300)
    out = fuzzer.output()
    assert code == 0, out[-4000:]
    summary = json.loads(out.strip().splitlines()[-1])
    for name, proc in graph.items():
        assert proc.alive(), f"{name} died under fuzzing (seed {seed}):\n{proc.output()[-4000:]}"
        assert "Traceback" not in proc.output(), f"{name} (seed {seed}):\n{proc.output()[-4000:]}"
    assert summary["failures"] == [], f"seed {seed}: {summary}"
    assert summary["published"] == [], f"seed {seed}: a PickPlace was published for a bad input: {summary}"
    assert summary["poses"] == summary["good_groundings"], f"seed {seed}: poses for bad inputs: {summary}"
    counts = summary["counts"]
    assert counts.get("bad_frame", 0) > 20 and counts.get("good_calls", 0) >= 2, counts
    cli = ros_node.node.create_client(TaskState, "sim/state")
    assert cli.wait_for_service(timeout_sec=30)
    time.sleep(0.5)
    assert wait_future(cli.call_async(TaskState.Request()), 30).steps == 0, "something moved in the simulator"
