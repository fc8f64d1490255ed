"""Benchmark how fast sim_node's arm stops, with the camera rendering in-process or in its mirror process.

For each ``render_process`` setting a sim_node runs as its own process (isolated to this
machine). This process sends a slow joint trajectory and, once the arm moves, an empty one
(the joint trajectory controller's stop) at a random moment. It measures from the joint_states
it receives: the time from the stop message to the first unchanged joint_states, and the
longest gap between joint_states while the arm moves (a render in the simulating process
freezes it: pybullet holds Python's GIL for the whole render). Optionally with ``--load N``
busy processes beside it, as on a loaded CI machine. Usage (after `source scripts/env.sh`):

    python bench/bench_stop.py [--stops 20] [--load 2]

Writes bench/results/stop.json and stop.md (or --out).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def burn(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10000))


class Joints:
    def __init__(self, node) -> None:
        from sensor_msgs.msg import JointState

        self.lock = threading.Lock()
        self.samples: list[tuple[float, np.ndarray]] = []
        node.create_subscription(JointState, "joint_states", self._on, 50)

    def _on(self, msg) -> None:
        with self.lock:
            self.samples.append((time.monotonic(), np.array(msg.position[:7])))

    def since(self, t: float) -> list[tuple[float, np.ndarray]]:
        with self.lock:
            return [s for s in self.samples if s[0] >= t]

    def wait(self, cond, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.samples and cond(self.samples[-1][1]):
                    return
            time.sleep(0.005)
        raise RuntimeError("timed out waiting for the arm")


def trajectory(names: list[str], q, seconds: float):
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    point = JointTrajectoryPoint(positions=[float(v) for v in q],
                                 time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)))
    return JointTrajectory(joint_names=names, points=[point])


def measure(render_process: bool, args, env: dict, tmp: Path) -> dict:
    from trajectory_msgs.msg import JointTrajectory

    from vla_grounding.nodes.background import BackgroundNode
    from vla_grounding.nodes.processes import NodeProcess, ros_params_args

    sim = NodeProcess("vla_grounding.nodes.sim_node",
                      ros_params_args("sim_node", {"render_process": render_process, "seed": 1}, tmp_dir=tmp),
                      env=env, log_dir=tmp).start()
    bg = BackgroundNode(f"bench_stop_{int(render_process)}")
    joints = Joints(bg.node)
    pub = bg.node.create_publisher(JointTrajectory, "joint_trajectory_controller/joint_trajectory", 10)
    names = [f"panda_joint{i}" for i in range(1, 8)]
    rng = random.Random(0)
    latencies, gaps = [], []
    try:
        joints.wait(lambda q: True, 120)
        while not bg.node.count_subscribers("joint_trajectory_controller/joint_trajectory"):
            time.sleep(0.05)
        home = joints.since(0)[-1][1]
        for i in range(args.stops):
            goal = home + np.array([0.4 if i % 2 == 0 else -0.4, 0, 0, 0, 0, 0, 0])
            pub.publish(trajectory(names, goal, 4.0))
            start = joints.since(0)[-1][1]
            joints.wait(lambda q, s=start: np.max(np.abs(q - s)) > 1e-3)
            moving_from = time.monotonic()
            time.sleep(rng.uniform(0.3, 1.5))
            sent = time.monotonic()
            pub.publish(JointTrajectory(joint_names=names))
            time.sleep(1.0)
            samples = joints.since(moving_from)
            stopped = next(t for (t, q), (_, p) in zip(samples[1:], samples, strict=False)
                           if t >= sent and np.max(np.abs(q - p)) <= 1e-6)
            latencies.append(stopped - sent)
            moving = [t for t, _ in samples if t <= sent]
            gaps.append(max(np.diff(moving)) if len(moving) > 1 else float("nan"))
            pub.publish(trajectory(names, home, 1.5))  # back home for the next one
            joints.wait(lambda q: np.max(np.abs(q - home)) < 1e-3)
            print(f"[bench] render_process {render_process}: {i + 1}/{args.stops} stop {latencies[-1] * 1000:.0f} ms",
                  file=sys.stderr, flush=True)
    finally:
        bg.close()
        code = sim.stop()
    ms = [1000 * v for v in latencies]
    return {"render_process": render_process, "stops": len(ms), "stop_median_ms": round(statistics.median(ms), 1),
            "stop_max_ms": round(max(ms), 1), "stop_over_300ms": sum(v > 300 for v in ms),
            "joint_states_gap_max_ms": round(1000 * max(gaps), 1),
            "joint_states_gap_median_of_max_ms": round(1000 * statistics.median(gaps), 1), "sim_exit_code": code}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stops", type=int, default=20)
    ap.add_argument("--load", type=int, default=0, help="busy processes running beside the nodes")
    ap.add_argument("--out", default=str(RESULTS / "stop"))
    args = ap.parse_args()

    import rclpy

    from vla_grounding.nodes.processes import clean_fastdds_shm, enter_isolated_ros_env

    env, tmp = enter_isolated_ros_env()
    stop = mp.Event()
    burners = [mp.Process(target=burn, args=(stop,), daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    rclpy.init()
    rows = []
    try:
        for render_process in (False, True):
            rows.append(measure(render_process, args, env, tmp))
    finally:
        stop.set()
        for b in burners:
            b.join(5)
        rclpy.try_shutdown()
        clean_fastdds_shm()
    report = {"rows": rows, "load_processes": args.load, "date": time.strftime("%Y-%m-%d"),
              "command": "python bench/bench_stop.py " + " ".join(sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# sim_node: how fast the arm stops", "",
             f"`{report['command']}` on {report['date']} ({os.cpu_count()} CPUs; {args.load} busy processes beside "
             "the nodes). A 4 s joint trajectory, stopped by an empty one at a random moment 0.3-1.5 s after the "
             "arm starts moving; times from this process's publish to the first unchanged joint_states it receives "
             "(joint_states at 50 Hz, so 20 ms is one period). The camera re-renders at 2 Hz while the arm moves.", "",
             "| render_process | stops | median ms | max ms | over 300 ms | longest joint_states gap while moving, ms "
             "(max / median of each run's max) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {str(r['render_process']).lower()} | {r['stops']} | {r['stop_median_ms']} | {r['stop_max_ms']} "
                     f"| {r['stop_over_300ms']} | {r['joint_states_gap_max_ms']} / "
                     f"{r['joint_states_gap_median_of_max_ms']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
