"""Blocking service calls from inside a callback of a multi-threaded executor."""

from __future__ import annotations

import threading

from rclpy.node import Node


def call(node: Node, client, request, timeout: float):
    """Call ``client`` and wait for the response; TimeoutError / RuntimeError with the service name.

    The client must belong to a callback group that another executor thread can serve
    (e.g. a ReentrantCallbackGroup), since this thread blocks while waiting.
    """
    if not client.wait_for_service(timeout_sec=min(timeout, 5.0)):
        raise RuntimeError(f"service {client.srv_name} is not available")
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        client.remove_pending_request(future)
        raise TimeoutError(f"service {client.srv_name} did not answer within {timeout:g} s")
    if future.exception() is not None:
        raise RuntimeError(f"service {client.srv_name} failed: {future.exception()}")
    return future.result()
