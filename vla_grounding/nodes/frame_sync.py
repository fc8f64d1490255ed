"""Keep the newest colour/depth/camera_info triple whose stamps agree within a slop.

Two implementations of one behaviour, chosen by grounding_node's ``frame_sync`` parameter:
message_filters' ApproximateTimeSynchronizer where it is installed (a ROS install, CI), and
a hand-written matcher for the wheel-only set-up, where message_filters does not exist. Both
only fill a "latest synchronised frame" slot: no callback work per frame beyond matching and
no backlog, so a 30 Hz stream costs next to nothing while no instruction is pending.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


def stamp_seconds(msg: Any) -> float:
    """A message's header stamp in seconds."""
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


@dataclass
class SyncedFrame:
    color: Any  # sensor_msgs/Image
    depth: Any  # sensor_msgs/Image
    info: Any  # sensor_msgs/CameraInfo
    stamp: float  # the colour image's stamp (s)
    received: float  # monotonic clock when the triple completed (s)


class FrameSlot:
    """The newest synchronised frame, message counts per stream, and why there is no frame yet."""

    STREAMS = ("color", "depth", "info")

    def __init__(self, slop: float) -> None:
        if not slop >= 0:
            raise ValueError(f"sync slop must be >= 0 s, got {slop}")
        self.slop = slop
        self._latest: SyncedFrame | None = None
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.STREAMS, 0)

    def _offer(self, color: Any, depth: Any, info: Any, now: float) -> None:
        """A matched triple (called with the lock held): it becomes the latest if it is newer."""
        t = stamp_seconds(color)
        if self._latest is None or t > self._latest.stamp:
            self._latest = SyncedFrame(color, depth, info, t, now)

    def latest(self) -> SyncedFrame | None:
        with self._lock:
            return self._latest

    def describe_missing(self) -> str:
        """Why there is no synchronised frame yet, in words for a log line."""
        missing = [s for s in self.STREAMS if self.counts[s] == 0]
        if missing:
            names = {"color": "colour image", "depth": "depth image", "info": "camera_info"}
            return "no " + ", no ".join(names[s] for s in missing) + " received yet"
        return f"colour, depth and camera_info never had stamps within {self.slop * 1000:.0f} ms of each other"


class LatestFrameSync(FrameSlot):
    """Approximate-time matching of three streams in plain Python (the wheel-only set-up)."""

    name = "builtin"

    def __init__(self, slop: float = 0.02, queue_size: int = 5) -> None:
        super().__init__(slop)
        self._queues = {name: deque(maxlen=queue_size) for name in self.STREAMS}

    def add(self, stream: str, msg: Any, now: float) -> None:
        """Queue one message of ``stream`` and update the latest match."""
        with self._lock:
            self.counts[stream] += 1
            self._queues[stream].append((stamp_seconds(msg), msg))
            self._match(now)

    def _match(self, now: float) -> None:
        color_q, depth_q, info_q = (self._queues[s] for s in self.STREAMS)
        for t, color in reversed(color_q):
            depth = min(depth_q, key=lambda e: abs(e[0] - t), default=None)
            info = min(info_q, key=lambda e: abs(e[0] - t), default=None)
            if depth is None or info is None:
                return
            if abs(depth[0] - t) <= self.slop and abs(info[0] - t) <= self.slop:
                self._offer(color, depth[1], info[1], now)
                return


class ApproximateTimeFrameSync(FrameSlot):
    """message_filters' ApproximateTimeSynchronizer, fed by the node's own subscriptions.

    Each stream enters through a message_filters.SimpleFilter rather than a
    message_filters.Subscriber, so a message the synchronizer cannot take (a negative stamp
    makes rclpy's Time raise) is dropped here instead of escaping into the executor.
    """

    name = "message_filters"

    def __init__(self, slop: float = 0.02, queue_size: int = 5) -> None:
        import message_filters

        super().__init__(slop)
        self._inputs = {stream: message_filters.SimpleFilter() for stream in self.STREAMS}
        self._sync = message_filters.ApproximateTimeSynchronizer(
            [self._inputs[s] for s in self.STREAMS], queue_size, slop)
        self._sync.registerCallback(self._matched)

    def add(self, stream: str, msg: Any, now: float) -> None:
        with self._lock:
            self.counts[stream] += 1
        try:
            self._inputs[stream].signalMessage(msg)
        except ValueError:  # an unrepresentable stamp: never a match
            pass

    def _matched(self, color: Any, depth: Any, info: Any) -> None:
        with self._lock:
            self._offer(color, depth, info, time.monotonic())


def message_filters_available() -> bool:
    return importlib.util.find_spec("message_filters") is not None


def subscribe_rgbd(node: Any, backend: str, topics: dict[str, tuple[type, str]], qos: Any,
                   slop: float) -> FrameSlot:
    """Subscribe ``node`` to the three camera streams, matched by ``backend`` (auto,
    message_filters or builtin); ``topics`` maps color/depth/info to (message type, topic)."""
    if backend == "auto":
        backend = "message_filters" if message_filters_available() else "builtin"
    if backend == "message_filters" and not message_filters_available():
        raise ValueError("frame_sync 'message_filters' needs the message_filters package (a ROS install); "
                         "use 'builtin' or 'auto'")
    sync = ApproximateTimeFrameSync(slop) if backend == "message_filters" else LatestFrameSync(slop)
    for stream in sync.STREAMS:
        msg_type, topic = topics[stream]
        node.create_subscription(msg_type, topic, lambda msg, s=stream: sync.add(s, msg, time.monotonic()), qos)
    return sync
