"""Benchmark the ROS graph: instruction -> PickPlace latency while colour + depth stream at
30 Hz, and grounding_node's CPU use while idle with those streams.

One sim_node streams the camera (--rate Hz); for each policy and each ``frame_sync`` mode a
grounding_node runs in its own process, isolated to this machine, and a measuring node in
this process first reads grounding_node's idle CPU (from /proc), then sends instructions on
the ``instruction`` topic and times their PickPlace. Every configuration is measured in the
same run, so their ratios hold even on a shared, noisy machine. The previously recorded
numbers (bench/results/graph.json before this run) are shown beside the new ones.
Usage (after `source scripts/env.sh`):

    python bench/bench_graph.py [--policies clip_regions cliport] [--frame-sync on_demand auto]
                                [--torch-threads 0 2] [--instructions 30] [--idle-seconds 20]

Writes bench/results/graph.json and graph.md (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
STAGE = re.compile(r"(\w+) (\d+) ms")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stage_medians(statuses: list[str]) -> dict[str, float]:
    """Median of each stage grounding_node reports in its "ok: ... (frame 1 ms, ...)" lines."""
    stages: dict[str, list[float]] = {}
    for text in statuses:
        if text.startswith("ok") and text.endswith(")"):
            for name, ms in STAGE.findall(text[text.rfind("("):]):
                stages.setdefault(name, []).append(float(ms))
    return {name: statistics.median(v) for name, v in stages.items()}


class Measurer:
    """The measuring node: instruction publisher, PickPlace and status subscribers."""

    def __init__(self) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_msgs.msg import String
        from vla_grounding.msg import PickPlace
        from vla_grounding.srv import TaskState

        from vla_grounding.nodes.background import BackgroundNode

        self.background = BackgroundNode("bench_graph")
        node = self.node = self.background.node
        self.arrivals: list[float] = []
        self.statuses: list[tuple[float, str]] = []
        node.create_subscription(PickPlace, "pick_place", lambda m: self.arrivals.append(time.monotonic()), 10)
        node.create_subscription(String, "grounding/status",
                                 lambda m: self.statuses.append((time.monotonic(), m.data)), 10)
        self.pub = node.create_publisher(String, "instruction", 10)
        self.state_cli = node.create_client(TaskState, "sim/state")
        self._image, self._qos = Image, qos_profile_sensor_data

    def camera_rate(self, seconds: float) -> float | None:
        """The colour stream's rate, from a subscriber that is removed afterwards (it would load
        the idle measurement)."""
        frames: list[float] = []
        sub = self.node.create_subscription(self._image, "camera/color/image_raw",
                                            lambda m: frames.append(time.monotonic()), self._qos)
        time.sleep(seconds)
        self.node.destroy_subscription(sub)
        return round((len(frames) - 1) / (frames[-1] - frames[0]), 1) if len(frames) > 1 else None

    def instruction(self) -> str:
        from vla_grounding.srv import TaskState

        from vla_grounding.nodes.background import wait_future

        return wait_future(self.state_cli.call_async(TaskState.Request()), 30).instruction

    def latencies(self, instruction: str, count: int) -> tuple[list[float], list[str], list[str]]:
        """(seconds instruction -> PickPlace, refusals, ok status lines) for ``count`` instructions."""
        from std_msgs.msg import String

        latencies, refusals, oks = [], [], []
        for i in range(count):
            n_arr, n_stat = len(self.arrivals), len(self.statuses)
            sent = time.monotonic()
            self.pub.publish(String(data=instruction))
            deadline = sent + 60
            while len(self.statuses) == n_stat and time.monotonic() < deadline:
                time.sleep(0.002)
            ok = len(self.statuses) > n_stat and self.statuses[-1][1].startswith("ok")
            while ok and len(self.arrivals) == n_arr and time.monotonic() < deadline:
                time.sleep(0.002)
            if len(self.arrivals) > n_arr:
                latencies.append(self.arrivals[-1] - sent)
                oks.append(self.statuses[-1][1])
            else:
                refusals.append(self.statuses[-1][1] if len(self.statuses) > n_stat else "timeout")
            print(f"[bench] {i + 1}/{count}", file=sys.stderr, flush=True)
            time.sleep(0.2)
        return latencies, refusals, oks

    def close(self) -> None:
        self.background.close()


def measure(measurer: Measurer, policy: str, frame_sync: str, threads: int, args, env: dict, tmp: Path) -> dict:
    from vla_grounding.nodes.processes import NodeProcess, ros_params_args

    params = {"policy": policy, "frame_sync": frame_sync, "torch_threads": threads}
    grounding = NodeProcess("vla_grounding.nodes.grounding_node",
                            ros_params_args("grounding_node", params, tmp_dir=tmp), env=env, log_dir=tmp).start()
    row: dict = {"policy": policy, "frame_sync": frame_sync, "torch_threads": threads}
    try:
        deadline = time.monotonic() + 180
        while not measurer.node.count_subscribers("instruction"):
            if time.monotonic() > deadline or not grounding.alive():
                raise RuntimeError(f"grounding_node did not start:\n{grounding.output()[-2000:]}")
            time.sleep(0.2)
        time.sleep(5.0)  # the policy loaded, the streams matched
        c0, t0 = cpu_seconds(grounding.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        c1, t1 = cpu_seconds(grounding.pid), time.monotonic()
        row["idle_cpu_percent"] = round(100.0 * (c1 - c0) / (t1 - t0), 2)
        latencies, refusals, oks = measurer.latencies(measurer.instruction(), args.instructions)
        row.update(instructions=args.instructions, refused=len(refusals), refusal_examples=refusals[:3])
        if latencies:
            row.update(latency_median_ms=round(1000 * statistics.median(latencies), 1),
                       latency_p95_ms=round(1000 * percentile(latencies, 0.95), 1),
                       latency_min_ms=round(1000 * min(latencies), 1),
                       node_stage_median_ms=stage_medians(oks))
    finally:
        row["exit_code"] = grounding.stop()
    return row


def previous_numbers(path: Path) -> list[dict]:
    """The rows recorded before this run (older files held one policy per file)."""
    rows = []
    for p in (path, path.with_name("graph_cliport.json")):
        if not p.exists():
            continue
        old = json.loads(p.read_text())
        for r in old.get("rows", [old]):
            if "latency_median_ms" in r:
                rows.append({"policy": r["policy"], "frame_sync": r.get("frame_sync", "auto (message_filters)"),
                             "idle_cpu_percent": r.get("idle_cpu_percent", r.get("grounding_idle_cpu_percent")),
                             "latency_median_ms": r["latency_median_ms"], "latency_p95_ms": r["latency_p95_ms"],
                             "date": old.get("date", "?"), "command": old.get("command", "?")})
        if "rows" in old:
            break  # the combined file already holds every policy
    return rows


def write_markdown(report: dict, out: Path) -> None:
    lines = ["# ROS graph benchmark", "",
             f"`{report['command']}` on {report['date']} ({report['machine']['cpus']} CPUs, no GPU): sim_node "
             f"streams 640x480 colour + depth + camera_info at {report['camera_rate_hz']:g} Hz (measured "
             f"{report.get('camera_rate_measured_hz')} Hz); each grounding_node configuration in turn, same run.", "",
             "| policy | frame_sync | torch_threads | idle CPU % of a core | instruction -> PickPlace median ms | p95 ms "
             "| min ms | refused | in the node (median ms) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        stages = ", ".join(f"{k} {v:g}" for k, v in r.get("node_stage_median_ms", {}).items())
        threads = r.get("torch_threads", 0)
        lines.append(f"| {r['policy']} | {r['frame_sync']} | {threads or '0 (half the cores)'} | "
                     f"{r['idle_cpu_percent']} | {r.get('latency_median_ms')} "
                     f"| {r.get('latency_p95_ms')} | {r.get('latency_min_ms')} | {r['refused']} | {stages} |")
    if report["previous"]:
        lines += ["", "Recorded before this run:", "",
                  "| policy | frame_sync | idle CPU % | median ms | p95 ms | date | command |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['policy']} | {r['frame_sync']} | {r['idle_cpu_percent']} | {r['latency_median_ms']} | "
                  f"{r['latency_p95_ms']} | {r['date']} | `{r['command']}` |" for r in report["previous"]]
    lines += ["", "frame_sync `on_demand` (the default) reads the camera messages from DDS only when an instruction "
              "arrives; `auto` is message_filters (a ROS install) or the builtin matcher, with a Python callback per "
              "message. \"in the node\": frame = take and match the camera messages, decode = images to numpy, "
              "policy = act(). torch_threads: grounding_node's parameter (0, the default, is half the cores)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", nargs="+", default=["clip_regions", "cliport"], choices=["clip_regions", "cliport"])
    ap.add_argument("--frame-sync", nargs="+", default=["on_demand", "auto"],
                    choices=["on_demand", "message_filters", "builtin", "auto"])
    ap.add_argument("--torch-threads", nargs="+", type=int, default=[0],
                    help="grounding_node torch_threads values to measure (0: its default, half the cores)")
    ap.add_argument("--instructions", type=int, default=30)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--out", default=str(RESULTS / "graph"))
    args = ap.parse_args()

    from vla_grounding.nodes.processes import NodeProcess, clean_fastdds_shm, enter_isolated_ros_env, ros_params_args

    out = Path(args.out)
    previous = previous_numbers(out.with_suffix(".json"))
    env, tmp = enter_isolated_ros_env()
    sim = NodeProcess("vla_grounding.nodes.sim_node",
                      ros_params_args("sim_node", {"publish_rate": args.rate, "seed": 1}, tmp_dir=tmp), env=env,
                      log_dir=tmp).start()
    import rclpy

    rclpy.init()
    measurer = Measurer()
    report: dict = {"camera_rate_hz": args.rate, "rows": [], "previous": previous}
    try:
        deadline = time.monotonic() + 180
        while not measurer.state_cli.service_is_ready():
            if time.monotonic() > deadline or not sim.alive():
                raise RuntimeError(f"sim_node did not start:\n{sim.output()[-2000:]}")
            time.sleep(0.2)
        report["camera_rate_measured_hz"] = measurer.camera_rate(5.0)
        for policy in args.policies:
            for frame_sync in args.frame_sync:
                for threads in args.torch_threads:
                    print(f"[bench] {policy}, frame_sync {frame_sync}, torch_threads {threads}", file=sys.stderr,
                          flush=True)
                    report["rows"].append(measure(measurer, policy, frame_sync, threads, args, env, tmp))
    finally:
        measurer.close()
        rclpy.try_shutdown()
        report["sim_exit_code"] = sim.stop()
        clean_fastdds_shm()
    report["machine"] = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                         "python": platform.python_version()}
    report["date"] = time.strftime("%Y-%m-%d")
    report["command"] = "python bench/bench_graph.py " + " ".join(sys.argv[1:])
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out)
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
