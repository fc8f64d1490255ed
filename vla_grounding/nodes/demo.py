"""``vla-grounding demo``: the whole graph on the simulator, one instruction, one JSON line.

Starts sim_node, grounding_node and arm_controller_node as separate processes (isolated to
this machine), sends the instruction through the ``execute_instruction`` action (or the
``instruction`` topic), and reports success, the task score and per-stage latency. Writes
before/after camera images and the grounding heatmap to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vla_grounding.nodes.processes import NodeProcess, clean_fastdds_shm, isolated_ros_env, ros_params_args


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vla-grounding demo", description=__doc__.splitlines()[0])
    ap.add_argument("--instruction", default="", help="what to do; default: the simulated task's own instruction")
    ap.add_argument("--task", default="put-blocks-in-bowls-seen", help="simulated task")
    ap.add_argument("--seed", type=int, default=1, help="episode seed (odd seeds are test episodes)")
    ap.add_argument("--policy", default="clip_regions", choices=["clip_regions", "cliport"])
    ap.add_argument("--checkpoint", default="", help="policy checkpoint; default: the shipped one")
    ap.add_argument("--via", default="action", choices=["action", "topic"],
                    help="send the instruction as an action goal (default) or on the instruction topic")
    ap.add_argument("--out", default="demo_output", help="directory for before/after/heatmap PNGs and logs")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the nodes and the motion")
    return ap.parse_args(argv)


class DemoClient:
    """The in-process side of the demo: camera snapshots, the action call, the sim's score."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from vla_grounding.action import ExecuteInstruction
        from vla_grounding.nodes.action_call import SafeActionClient
        from vla_grounding.nodes.background import BackgroundNode
        from vla_grounding.srv import ResetTask, TaskState

        rclpy.init()
        self.background = BackgroundNode("vla_grounding_demo")
        self.node = self.background.node
        self.color: Image | None = None
        self.heatmap: Image | None = None
        self.status: list[str] = []
        self.node.create_subscription(Image, "camera/color/image_raw", self._on_color, qos_profile_sensor_data)
        self.node.create_subscription(Image, "grounding/heatmap", lambda m: setattr(self, "heatmap", m), 1)
        self.node.create_subscription(String, "grounding/status", lambda m: self.status.append(m.data), 10)
        self.instruction_pub = self.node.create_publisher(String, "instruction", 10)
        self.action = SafeActionClient(self.node, ExecuteInstruction, "execute_instruction")
        self.state_client = self.node.create_client(TaskState, "sim/state")
        self.reset_client = self.node.create_client(ResetTask, "sim/reset")
        self.Goal, self.StateReq = ExecuteInstruction.Goal, TaskState.Request

    def _on_color(self, msg) -> None:
        self.color = msg

    def wait_ready(self, timeout: float, procs: list[NodeProcess]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in procs if not p.alive()]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited during start-up:\n{dead[0].output()[-2000:]}")
            if (self.action.server_is_ready() and self.color is not None and self.state_client.service_is_ready()
                    and self.node.count_subscribers("instruction") > 0):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the graph was not ready within {timeout:g} s (see the node logs)")

    def wait(self, future, timeout: float):
        from vla_grounding.nodes.background import wait_future

        return wait_future(future, timeout)

    def fresh_color(self, after: float, timeout: float = 10.0):
        """The first colour image stamped after ``after`` (ROS time, s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.color
            if msg is not None and msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 > after:
                return msg
            time.sleep(0.05)
        return self.color

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def state(self):
        return self.wait(self.state_client.call_async(self.StateReq()), 10.0)

    def close(self) -> None:
        import rclpy

        self.background.close()  # stops spinning first: destroying entities under a spinning executor races
        rclpy.try_shutdown()


def _save_png(msg, path: Path) -> str | None:
    if msg is None:
        return None
    from PIL import Image as PILImage

    from vla_grounding.nodes.image_conversion import color_to_rgb

    PILImage.fromarray(color_to_rgb(msg)).save(path)
    return str(path)


def _summary_png(out: Path, paths: list[str | None]) -> str | None:
    """before | after on top, the grounding heatmaps (top-down, pick left, place right) below."""
    from PIL import Image as PILImage

    before, after, heat = (PILImage.open(p) if p else None for p in paths)
    if before is None or after is None:
        return None
    gap = 8
    heat = heat.resize((heat.width * 2, heat.height * 2), PILImage.NEAREST) if heat else None
    canvas = PILImage.new("RGB", (before.width + gap + after.width,
                                  before.height + (gap + heat.height if heat else 0)), (255, 255, 255))
    canvas.paste(before, (0, 0))
    canvas.paste(after, (before.width + gap, 0))
    if heat:
        canvas.paste(heat, (0, before.height + gap))
    path = out / "demo.png"
    canvas.save(path)
    return str(path)


def run_instruction(client: DemoClient, instruction: str, via: str, timeout: float) -> dict:
    """Send one instruction and wait for its outcome; timings per stage from the feedback."""
    from std_msgs.msg import String

    stage_times: list[tuple[str, float]] = []
    start = time.monotonic()
    if via == "topic":
        before = len(client.status)
        client.instruction_pub.publish(String(data=instruction))
        deadline = start + timeout
        while len(client.status) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        status = client.status[before] if len(client.status) > before else "no answer from grounding_node"
        if status.startswith("ok"):  # the arm controller executes it; wait until the sim scored the step
            steps = client.state().steps
            while client.state().steps == steps and time.monotonic() < deadline:
                time.sleep(0.2)
        return {"success": status.startswith("ok"), "message": status, "seconds": time.monotonic() - start}
    goal = client.Goal(instruction=instruction)
    handle = client.wait(client.action.send_goal_async(
        goal, feedback_callback=lambda fb: stage_times.append((fb.feedback.stage, time.monotonic()))), 30.0)
    if not handle.accepted:
        return {"success": False, "message": "goal rejected (arm busy?)", "seconds": time.monotonic() - start}
    result = client.wait(handle.get_result_async(), timeout).result
    end = time.monotonic()
    stages = {}
    for (name, t0), (_, t1) in zip(stage_times, [*stage_times[1:], ("end", end)], strict=True):
        if name != "done":
            stages[name] = round(t1 - t0, 3)
    pp = result.pick_place
    return {
        "success": bool(result.success),
        "message": result.message,
        "seconds": round(end - start, 3),
        "grounding_seconds": round(result.grounding_seconds, 3),
        "execution_seconds": round(result.execution_seconds, 3),
        "stage_seconds": stages,
        "pick": [round(v, 4) for v in (pp.pick.position.x, pp.pick.position.y, pp.pick.position.z)],
        "place": [round(v, 4) for v in (pp.place.position.x, pp.place.position.y, pp.place.position.z)],
        "pick_confidence": round(pp.pick_confidence, 3),
        "place_confidence": round(pp.place_confidence, 3),
        "pick_phrase": pp.pick_phrase,
        "place_phrase": pp.place_phrase,
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = isolated_ros_env(ros_home=out / "ros_home")
    import os

    os.environ.update(env)  # the in-process client joins the same private domain
    grounding = {"policy": args.policy, **({"checkpoint": args.checkpoint} if args.checkpoint else {})}
    procs = [
        NodeProcess("vla_grounding.nodes.sim_node",
                    ros_params_args("sim_node", {"task": args.task, "seed": args.seed}, tmp_dir=out), env=env,
                    log_dir=out),
        NodeProcess("vla_grounding.nodes.grounding_node", ros_params_args("grounding_node", grounding, tmp_dir=out),
                    env=env, log_dir=out),
        NodeProcess("vla_grounding.nodes.arm_controller_node", ros_params_args("arm_controller_node"), env=env,
                    log_dir=out),
    ]
    print(f"[demo] starting sim_node, grounding_node ({args.policy}), arm_controller_node; logs in {out}/",
          file=sys.stderr, flush=True)
    for proc in procs:
        proc.start()
    client = None
    report: dict = {"task": args.task, "seed": args.seed, "policy": args.policy}
    code = 1
    try:
        client = DemoClient()
        start = time.monotonic()
        client.wait_ready(args.timeout, procs)
        print(f"[demo] graph ready in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
        state = client.state()
        instruction = args.instruction or state.instruction
        report["instruction"] = instruction
        before_t = client.now()
        report["before_png"] = _save_png(client.fresh_color(before_t - 1.0), out / "before.png")
        print(f"[demo] instruction: {instruction!r} (via {args.via})", file=sys.stderr, flush=True)
        report.update(run_instruction(client, instruction, args.via, args.timeout))
        state = client.state()
        report.update(score=round(float(state.score), 3), task_done=bool(state.done),
                      next_instruction=state.instruction)
        report["after_png"] = _save_png(client.fresh_color(client.now()), out / "after.png")
        time.sleep(0.3)  # the heatmap is published right after grounding; give it a moment to arrive
        report["heatmap_png"] = _save_png(client.heatmap, out / "heatmap.png")
        report["summary_png"] = _summary_png(out, [report.get(k) for k in ("before_png", "after_png", "heatmap_png")])
        code = 0 if report.get("success") else 1
    except (RuntimeError, TimeoutError) as exc:
        report.update(success=False, message=str(exc))
    finally:
        if client is not None:
            client.close()
        exits = {p.name: p.stop() for p in procs}
        report["node_exit_codes"] = exits
        clean_fastdds_shm()
    print(json.dumps(report, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))
    return code
