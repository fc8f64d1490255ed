"""Benchmark the ROS graph: instruction -> PickPlace latency while colour + depth stream at
30 Hz, and grounding_node's CPU use while idle with those streams.

Runs sim_node (camera at --rate Hz) and grounding_node as separate processes, isolated to
this machine, and a measuring node in this process. Writes bench/results/graph.json and
graph.md. Usage (after `source scripts/env.sh`):

    python bench/bench_graph.py [--policy clip_regions] [--instructions 20] [--idle-seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default="clip_regions", choices=["clip_regions", "cliport"])
    ap.add_argument("--instructions", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--out", default=str(RESULTS / "graph"))
    args = ap.parse_args()

    from vla_grounding.nodes.processes import NodeProcess, clean_fastdds_shm, isolated_ros_env, ros_params_args

    env = isolated_ros_env()
    os.environ.update(env)
    tmp = Path(env["ROS_HOME"])
    sim = NodeProcess("vla_grounding.nodes.sim_node",
                      ros_params_args("sim_node", {"publish_rate": args.rate, "seed": 1}, tmp_dir=tmp), env=env,
                      log_dir=tmp).start()
    grounding = NodeProcess("vla_grounding.nodes.grounding_node",
                            ros_params_args("grounding_node", {"policy": args.policy}, tmp_dir=tmp), env=env,
                            log_dir=tmp).start()
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from vla_grounding.msg import PickPlace
    from vla_grounding.srv import TaskState

    from vla_grounding.nodes.background import BackgroundNode, wait_future

    rclpy.init()
    background = BackgroundNode("bench_graph")
    node = background.node
    arrivals: list[float] = []
    statuses: list[tuple[float, str]] = []
    frames: list[float] = []
    node.create_subscription(PickPlace, "pick_place", lambda m: arrivals.append(time.monotonic()), 10)
    node.create_subscription(String, "grounding/status", lambda m: statuses.append((time.monotonic(), m.data)), 10)
    color_sub = None
    pub = node.create_publisher(String, "instruction", 10)
    state_cli = node.create_client(TaskState, "sim/state")
    report: dict = {"policy": args.policy, "camera_rate_hz": args.rate}
    try:
        deadline = time.monotonic() + 180
        while not (node.count_subscribers("instruction") and state_cli.service_is_ready()):
            if time.monotonic() > deadline or not (sim.alive() and grounding.alive()):
                raise RuntimeError(f"graph did not start:\n{sim.output()[-2000:]}\n{grounding.output()[-2000:]}")
            time.sleep(0.2)
        time.sleep(3.0)  # let the streams and the policy warm up
        # 1. measured camera rate (a separate subscriber, then removed so it does not load the idle test)
        color_sub = node.create_subscription(Image, "camera/color/image_raw", lambda m: frames.append(time.monotonic()),
                                             qos_profile_sensor_data)
        time.sleep(5.0)
        node.destroy_subscription(color_sub)
        if len(frames) > 1:
            report["camera_rate_measured_hz"] = round((len(frames) - 1) / (frames[-1] - frames[0]), 1)
        # 2. idle CPU of grounding_node while the streams run
        c0, t0 = cpu_seconds(grounding.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        c1, t1 = cpu_seconds(grounding.pid), time.monotonic()
        report["grounding_idle_cpu_percent"] = round(100.0 * (c1 - c0) / (t1 - t0), 2)
        report["sim_cpu_note"] = "sim_node republishes its last render at the camera rate"
        # 3. instruction -> PickPlace latency
        instruction = wait_future(state_cli.call_async(TaskState.Request()), 30).instruction
        latencies, refusals = [], []
        for i in range(args.instructions):
            n_arr, n_stat = len(arrivals), len(statuses)
            sent = time.monotonic()
            pub.publish(String(data=instruction))
            deadline = sent + 60
            while len(statuses) == n_stat and time.monotonic() < deadline:
                time.sleep(0.002)
            while len(arrivals) == n_arr and statuses[-1][1].startswith("ok") and time.monotonic() < deadline:
                time.sleep(0.002)
            if len(arrivals) > n_arr:
                latencies.append(arrivals[-1] - sent)
            else:
                refusals.append(statuses[-1][1] if len(statuses) > n_stat else "timeout")
            print(f"[bench] {i + 1}/{args.instructions}", file=sys.stderr, flush=True)
            time.sleep(0.2)
        report.update(instruction=instruction, instructions=args.instructions, refused=len(refusals),
                      refusal_examples=refusals[:3])
        if latencies:
            report.update(latency_median_ms=round(1000 * statistics.median(latencies), 1),
                          latency_p95_ms=round(1000 * percentile(latencies, 0.95), 1),
                          latency_min_ms=round(1000 * min(latencies), 1))
    finally:
        background.close()
        rclpy.try_shutdown()
        report["exit_codes"] = {"sim_node": sim.stop(), "grounding_node": grounding.stop()}
        clean_fastdds_shm()
    report["machine"] = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                         "python": platform.python_version()}
    report["date"] = time.strftime("%Y-%m-%d")
    report["command"] = "python bench/bench_graph.py " + " ".join(sys.argv[1:])
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# ROS graph benchmark", "", f"`{report['command']}` on {report['date']} ({os.cpu_count()} CPUs, no GPU).", "",
        "| metric | value |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in report.items() if k not in ("machine", "command", "date", "refusal_examples")),
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
