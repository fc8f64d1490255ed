"""Keep the newest colour/depth/camera_info triple whose stamps agree within a slop.

The same policy as message_filters' ApproximateTimeSynchronizer, reduced to what the
grounding node needs: no callback per frame and no backlog, just "the latest synchronised
frame", updated in O(queue) per message so a 30 Hz stream costs next to nothing while no
instruction is pending. Plain Python, so the node behaves the same whether or not
message_filters is installed.
"""

from __future__ import annotations

import threading
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


class LatestFrameSync:
    """Approximate-time matching of three streams, keeping only the newest match."""

    STREAMS = ("color", "depth", "info")

    def __init__(self, slop: float = 0.02, queue_size: int = 5) -> None:
        if slop < 0:
            raise ValueError(f"sync slop must be >= 0 s, got {slop}")
        self.slop = slop
        self._queues = {name: deque(maxlen=queue_size) for name in self.STREAMS}
        self._latest: SyncedFrame | None = None
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.STREAMS, 0)

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
                if self._latest is None or t > self._latest.stamp:
                    self._latest = SyncedFrame(color, depth[1], info[1], t, now)
                return

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
