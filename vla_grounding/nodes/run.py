"""Run a node until Ctrl-C / SIGTERM and shut down cleanly (exit 0), or exit 2 on bad start-up."""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 4) -> int:
    """Build the node with ``factory`` and spin it (``threads`` > 1: a multi-threaded executor);
    start-up errors print one clear line."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", getattr(factory, "__name__", "node")).lower()  # GroundingNode -> grounding_node
    try:
        rclpy.init(args=args)
    except Exception as exc:  # rcl reports unreadable --params-file / bad --ros-args as RCLError
        print(f"[{name}] cannot start: bad ROS arguments: {str(exc).split(', at ')[0]}", file=sys.stderr, flush=True)
        return 2
    try:
        node = factory()
    except (ValueError, RuntimeError, FileNotFoundError, OSError) as exc:
        print(f"[{name}] cannot start: {exc}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 2
    executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # One Ctrl-C reaches a node twice under `ros2 launch` (the terminal's process group, then
        # launch's own SIGINT): a second signal must not interrupt the clean-up below.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        close = getattr(node, "close", None)
        if close is not None:
            close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
