"""Action clients that do not lose fast answers, and blocking action calls from inside a callback of a
multi-threaded executor (as service_call does for services)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rclpy.action import ActionClient
from rclpy.node import Node

from vla_grounding.nodes.service_call import Stopped


class SafeActionClient(ActionClient):
    """rclpy's ActionClient (7.x, Jazzy) registers a request only after sending it. When another
    executor thread takes a fast server's answer in between, rclpy drops it as "unexpected" ("There
    may be more than one action server") and the caller waits for ever; seen here under load with
    sim_node's trajectory server. This client holds one lock across sending + registering and
    across processing answers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._request_lock = threading.RLock()

    def send_goal_async(self, *args, **kwargs):
        with self._request_lock:
            return super().send_goal_async(*args, **kwargs)

    def _get_result_async(self, goal_handle):
        with self._request_lock:
            return super()._get_result_async(goal_handle)

    def _cancel_goal_async(self, goal_handle):
        with self._request_lock:
            return super()._cancel_goal_async(goal_handle)

    async def execute(self, taken_data):
        with self._request_lock:
            return await super().execute(taken_data)


class Cancelled(RuntimeError):
    """The caller asked to stop; the goal was cancelled."""


def _wait(future, timeout: float, stop: threading.Event, cancelled: Callable[[], bool], what: str) -> bool:
    """True when ``future`` is done; False when ``stop``/``cancelled`` fired first; TimeoutError after ``timeout``."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout
    while not done.wait(0.01):
        if stop.is_set() or cancelled():
            return False
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not answer within {timeout:g} s")
    return True


def send_goal(node: Node, client, goal, timeout: float, stop: threading.Event, cancelled: Callable[[], bool],
              feedback=None, cancel_wait: float = 0.5):
    """Send ``goal`` and return its result message; a stop or cancel cancels the goal (then Stopped / Cancelled).

    The client must belong to a callback group another executor thread can serve.
    """
    name = client._action_name
    deadline = time.monotonic() + min(timeout, 5.0)
    while not client.wait_for_server(timeout_sec=0.05):
        if stop.is_set():
            raise Stopped(f"stopped waiting for {name}: the node is shutting down")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"action server {name} is not available")
    goal_future = client.send_goal_async(goal, feedback_callback=feedback)
    if not _wait(goal_future, 5.0, stop, lambda: False, f"action server {name}"):
        raise Stopped(f"stopped waiting for {name}: the node is shutting down")
    handle = goal_future.result()
    if not handle.accepted:
        raise RuntimeError(f"{name} rejected the goal")
    result_future = handle.get_result_async()
    if _wait(result_future, timeout, stop, cancelled, name):
        return result_future.result().result
    cancel = handle.cancel_goal_async()
    try:  # the controller stops the arm on cancel; wait briefly for its answer
        _wait(cancel, cancel_wait, threading.Event(), lambda: False, f"cancel of {name}")
    except TimeoutError:
        node.get_logger().warning(f"{name} did not confirm the cancel within {cancel_wait:g} s")
    if stop.is_set():
        raise Stopped(f"{name} goal cancelled: the node is shutting down")
    raise Cancelled(f"{name} goal cancelled")
