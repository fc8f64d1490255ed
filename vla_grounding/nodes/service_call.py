"""Blocking service calls from inside a callback of a multi-threaded executor."""

from __future__ import annotations

import threading
import time

from rclpy.node import Node


class Stopped(RuntimeError):
    """The node is shutting down: the call was abandoned."""


def call(node: Node, client, request, timeout: float, stop: threading.Event | None = None):
    """Call ``client`` and wait for the response; TimeoutError / RuntimeError with the service name.

    The client must belong to a callback group that another executor thread can serve
    (e.g. a ReentrantCallbackGroup), since this thread blocks while waiting. ``stop``: give up
    (``Stopped``) as soon as it is set, so a shutting-down node does not wait out a long call.
    """
    deadline = time.monotonic() + min(timeout, 5.0)
    while not client.wait_for_service(timeout_sec=0.05 if stop is not None else min(timeout, 5.0)):
        if stop is not None and stop.is_set():
            raise Stopped(f"stopped waiting for {client.srv_name}: the node is shutting down")
        if stop is None or time.monotonic() >= deadline:
            raise RuntimeError(f"service {client.srv_name} is not available")
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout
    while not done.wait(0.02 if stop is not None else timeout):
        if stop is not None and stop.is_set():
            client.remove_pending_request(future)
            raise Stopped(f"stopped waiting for {client.srv_name}: the node is shutting down")
        if time.monotonic() >= deadline:
            client.remove_pending_request(future)
            raise TimeoutError(f"service {client.srv_name} did not answer within {timeout:g} s")
    if future.exception() is not None:
        raise RuntimeError(f"service {client.srv_name} failed: {future.exception()}")
    return future.result()
