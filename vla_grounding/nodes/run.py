"""Run a node until Ctrl-C / SIGTERM and shut down cleanly (exit 0), or exit 2 on bad start-up.

Signals are handled by ``stop_signals`` (not rclpy): the main thread checks its flag while the
executor spins in a thread of its own.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from vla_grounding.nodes.stop_signals import STOP

DRAIN_SECONDS = 1.5  # of the 2 s every node has to exit after SIGINT/SIGTERM


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 4) -> int:
    """Build the node with ``factory`` and spin it (``threads`` > 1: a multi-threaded executor)
    until SIGINT/SIGTERM, then end the process with code 0. A start-up error prints one clear
    line and returns 2."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", getattr(factory, "__name__", "node")).lower()  # GroundingNode -> grounding_node
    STOP.install()
    STOP.phase = "starting"
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
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
    STOP.phase = "spinning"
    spinner = _Spinner(executor)
    try:
        # The executor waits in its own thread, woken only by work: an idle node costs nothing.
        # This thread only watches the stop flag (signal handlers run here) and node.fatal.
        while not STOP.requested and rclpy.ok() and spinner.alive():
            time.sleep(0.1)
            if getattr(node, "fatal", ""):  # the node found it cannot go on: one line, exit 2
                print(f"[{name}] cannot continue: {node.fatal}", file=sys.stderr, flush=True)
                sys.stdout.flush()
                rclpy.try_shutdown()
                os._exit(2)
    finally:
        STOP.ignore_more()  # one Ctrl-C reaches a node twice under ros2 launch (its process group, then launch)
        _drain(node, executor, spinner)
        executor.shutdown(timeout_sec=0)
        node.destroy_node()
        rclpy.try_shutdown()
        rclpy.get_default_context().destroy()  # the DDS participant and its shared-memory files go now
        # Skip the interpreter's own finalisation: with torch loaded, its garbage collection alone
        # took 2 s here. ROS is shut down; only unflushed output could be lost.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class _Spinner:
    """``executor.spin_once`` in a thread until :meth:`stop` (which wakes and joins it)."""

    def __init__(self, executor) -> None:
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="executor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=1.0)
            except ExternalShutdownException:
                return

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """True when the thread ended within ``timeout`` (a callback may still be running)."""
        self._stop.set()
        self.executor.wake()
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _drain(node: Node, executor, spinner: _Spinner) -> None:
    """Stop the node's work in flight, then release what it holds.

    ``node.request_stop()`` (if defined) asks running work to give up; while ``node.busy()``
    the executor keeps spinning (here, once its thread has stopped), since that work may wait
    for a service response, and the reply it ends with must go out. A node still busy after
    DRAIN_SECONDS ends the process at once (exit 0) rather than hang in the interpreter's join
    of its worker threads. Then ``node.close()``.
    """
    deadline = time.monotonic() + DRAIN_SECONDS
    request_stop = getattr(node, "request_stop", None)
    if request_stop is not None:
        request_stop()
    if not spinner.stop(timeout=max(0.0, deadline - time.monotonic())):
        print(f"[{node.get_name()}] a callback still runs {DRAIN_SECONDS:g} s after the stop request: exiting "
              "without it", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(0)
    busy = getattr(node, "busy", None)
    if busy is not None:
        while busy() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
        grace = min(deadline, time.monotonic() + 0.25)  # a reply (an action result) goes out after the work
        while time.monotonic() < grace:
            executor.spin_once(timeout_sec=0.02)
        if busy():
            print(f"[{node.get_name()}] still busy {DRAIN_SECONDS:g} s after the stop request: exiting without it",
                  file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(0)
    close = getattr(node, "close", None)
    if close is not None:
        close()
