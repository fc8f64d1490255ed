"""Benchmark the robot interface: PickPlace -> release through ros2_control in the simulator.

Runs sim_node (a ros2_control-style robot) and arm_controller_node (ros2_control backend) as
separate processes, isolated to this machine, and publishes the oracle's PickPlace for a
few test seeds. Measured from the publish, as this process sees it: the start of the
release stage (the arm controller's ``~/status``), and the end of the sequence (status back
to idle, after the retreat). The arm moves in real time (tool speed 0.3 m/s, half the joint
velocity limits), so these are motion times, not compute times. For each tool, and for each
trajectory interface available (the FollowJointTrajectory action needs control_msgs).
Writes bench/results/robot.json and robot.md. Usage (after `source scripts/env.sh`):

    python bench/bench_robot.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TASK = "put-blocks-in-bowls-seen"


def run_config(tool: str, interface: str, seeds: list[int], tmp: Path, env: dict, node) -> dict:
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String
    from vla_grounding.msg import PickPlace
    from vla_grounding.srv import ResetTask, TaskState

    from vla_grounding.nodes.background import wait_future
    from vla_grounding.nodes.pose_msgs import tool_pose
    from vla_grounding.nodes.processes import NodeProcess, ros_params_args
    from vla_grounding.sim.env import TabletopEnv

    ns = f"/{tool}_{interface}"
    remap = ["-r", f"__ns:={ns}"]
    sim = NodeProcess("vla_grounding.nodes.sim_node", [*ros_params_args("sim_node", {"tool": tool}, tmp_dir=tmp),
                                                       *remap], env=env, log_dir=tmp, name=f"sim{ns[1:]}").start()
    arm = NodeProcess("vla_grounding.nodes.arm_controller_node",
                      [*ros_params_args("arm_controller_node", {"tool": {"kind": tool},
                                                                "controller": {"interface": interface}}, tmp_dir=tmp),
                       *remap], env=env, log_dir=tmp, name=f"arm{ns[1:]}").start()
    statuses: list[tuple[float, str]] = []
    node.create_subscription(String, f"{ns}/arm_controller_node/status",
                             lambda m: statuses.append((time.monotonic(), m.data)),
                             QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    pub = node.create_publisher(PickPlace, f"{ns}/pick_place", 10)
    reset = node.create_client(ResetTask, f"{ns}/sim/reset")
    state = node.create_client(TaskState, f"{ns}/sim/state")
    rows = []
    try:
        deadline = time.monotonic() + 120
        while not ("arm controller ready" in arm.output() and node.count_subscribers(f"{ns}/pick_place")
                   and state.service_is_ready()):
            if time.monotonic() > deadline or not (sim.alive() and arm.alive()):
                raise RuntimeError(f"the robot did not come up:\n{sim.output()[-2000:]}\n{arm.output()[-2000:]}")
            time.sleep(0.2)
        time.sleep(1.0)
        with TabletopEnv(TASK) as oracle_env:
            for seed in seeds:
                assert wait_future(reset.call_async(ResetTask.Request(task=TASK, seed=seed)), 30).success
                oracle_env.reset(seed)
                plan = oracle_env.oracle()
                msg = PickPlace()
                msg.header.frame_id, msg.instruction = "base_link", f"seed {seed}"
                msg.pick, msg.place = tool_pose(plan.pick_position, 0.0), tool_pose(plan.place_position, 0.0)
                time.sleep(0.5)
                seen = len(statuses)
                start = time.monotonic()
                pub.publish(msg)
                release = done = None
                while done is None and time.monotonic() < start + 60:
                    for t, text in statuses[seen:]:
                        if release is None and text.startswith(f"executing 'seed {seed}': release"):
                            release = t - start
                        if release is not None and text.startswith(("idle", "stopped")):
                            done = t - start
                    time.sleep(0.01)
                s = wait_future(state.call_async(TaskState.Request()), 10)
                rows.append({"seed": seed, "to_release_s": release, "to_done_s": done, "steps": int(s.steps),
                             "score": round(float(s.score), 3)})
                print(f"[bench_robot] {tool}/{interface} seed {seed}: {rows[-1]}", flush=True)
    finally:
        codes = {"sim_node": sim.stop(), "arm_controller_node": arm.stop()}
    ok = [r for r in rows if r["to_release_s"] is not None and r["to_done_s"] is not None]
    return {
        "tool": tool, "interface": interface, "runs": rows, "exit_codes": codes,
        "placed": sum(r["score"] > 0 for r in rows),
        "median_to_release_s": statistics.median(r["to_release_s"] for r in ok) if ok else None,
        "median_to_done_s": statistics.median(r["to_done_s"] for r in ok) if ok else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="test seeds 1, 3, ... (one PickPlace each)")
    ap.add_argument("--out", default=str(RESULTS / "robot"))
    args = ap.parse_args()

    import rclpy

    from vla_grounding.nodes.background import BackgroundNode
    from vla_grounding.nodes.processes import clean_fastdds_shm, enter_isolated_ros_env

    env, tmp = enter_isolated_ros_env()
    rclpy.init()
    background = BackgroundNode("bench_robot")
    interfaces = ["topic"] + (["action"] if importlib.util.find_spec("control_msgs") else [])
    seeds = [1 + 2 * i for i in range(args.seeds)]
    report: dict = {"task": TASK, "seeds": seeds, "configs": []}
    try:
        for tool in ("suction", "gripper"):
            for interface in interfaces:
                report["configs"].append(run_config(tool, interface, seeds, tmp, env, background.node))
    finally:
        background.close()
        rclpy.try_shutdown()
        clean_fastdds_shm()
    report["machine"] = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                         "python": platform.python_version()}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Robot interface: PickPlace -> release through ros2_control (simulator)",
        "",
        f"Command: `python bench/bench_robot.py --seeds {args.seeds}`. Oracle PickPlace messages for "
        f"{TASK} seeds {seeds}; sim_node and arm_controller_node as separate processes; times from the publish "
        "to the release stage's start and to the end of the sequence (after the retreat), as the benchmark "
        "process sees the arm controller's status. The arm moves in real time (tool 0.3 m/s, half the joint "
        "velocity limits): these are motion times.",
        "",
        "| tool | trajectory interface | placed | median to release (s) | median to done (s) |",
        "|---|---|---|---|---|",
    ]
    for c in report["configs"]:
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {c['tool']} | {c['interface']} | {c['placed']}/{len(c['runs'])} | "
                     f"{fmt(c['median_to_release_s'])} | {fmt(c['median_to_done_s'])} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps({c["tool"] + "/" + c["interface"]: (c["median_to_release_s"], c["placed"])
                      for c in report["configs"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
