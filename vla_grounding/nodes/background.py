"""An rclpy node spun by its own executor thread: the client side of tests, the demo and benchmarks."""

from __future__ import annotations

import threading

from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


class BackgroundNode:
    """``node`` is spun in a thread until ``close()``; rclpy must be initialised."""

    def __init__(self, name: str, threads: int = 2) -> None:
        self.node = Node(name)
        self.executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=1.0)  # woken by work, or by close()
            except (ExternalShutdownException, KeyboardInterrupt):
                return  # the process is shutting down (SIGINT/SIGTERM): close() still cleans up

    def close(self) -> None:
        """Stop spinning, then destroy (joining first: shutting down a spinning executor aborts)."""
        self._stop.set()
        self.executor.wake()
        self._thread.join(timeout=5)
        self.executor.remove_node(self.node)
        self.executor.shutdown()
        for waitable in list(self.node.waitables):  # action clients/servers: destroy_node leaves them alive
            destroy = getattr(waitable, "destroy", None)
            if destroy is not None:
                destroy()
        self.node.destroy_node()


def wait_future(future, timeout: float):
    """Block until an rclpy future (spun by another thread) is done; TimeoutError otherwise."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise TimeoutError(f"no answer within {timeout:g} s")
    return future.result()
