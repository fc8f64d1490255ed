"""Wait for parts of a ROS graph to appear (topics, services, actions) with a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

from rclpy.node import Node


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, period: float = 0.05) -> None:
    """Poll ``predicate`` until it holds; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(period)


def _resolve(node: Node, name: str) -> str:
    return node.resolve_topic_name(name)


def wait_for_topic_publishers(node: Node, topic: str, count: int = 1, timeout: float = 10.0) -> None:
    full = _resolve(node, topic)
    wait_until(lambda: node.count_publishers(full) >= count, timeout, f"{count} publisher(s) on {full}")


def wait_for_topic_subscribers(node: Node, topic: str, count: int = 1, timeout: float = 10.0) -> None:
    full = _resolve(node, topic)
    wait_until(lambda: node.count_subscribers(full) >= count, timeout, f"{count} subscriber(s) on {full}")


def wait_for_service(client, timeout: float = 10.0) -> None:
    """``client``: an rclpy service client."""
    if not client.wait_for_service(timeout_sec=timeout):
        raise TimeoutError(f"timed out after {timeout:.1f} s waiting for service {client.srv_name}")


def wait_for_action_server(client, timeout: float = 10.0) -> None:
    """``client``: an rclpy.action.ActionClient."""
    if not client.wait_for_server(timeout_sec=timeout):
        raise TimeoutError(f"timed out after {timeout:.1f} s waiting for action server {client._action_name}")
