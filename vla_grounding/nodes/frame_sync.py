"""Keep the newest colour/depth/camera_info triple whose stamps agree within a slop.

Two implementations of one behaviour, chosen by grounding_node's ``frame_sync`` parameter:
message_filters' ApproximateTimeSynchronizer where it is installed (a ROS install, CI), and
a hand-written matcher for the wheel-only set-up, where message_filters does not exist. Both
only fill a "latest synchronised frame" slot: no callback work per frame beyond matching and
no backlog, so a 30 Hz stream costs next to nothing while no instruction is pending.

Stamps are checked as they arrive, before matching, so one odd stamp cannot freeze the input:
a message stamped further ahead of this node's clock than ``max_future`` is dropped (with a
warning); a stamp more than ``max_jump_back`` older than the newest seen on its stream means
the camera's clock jumped back (a driver restart, a replayed bag, a simulator reset): the
matcher starts over and the frame from before the jump is forgotten. Among matched triples,
the newest stamp wins: a late, slightly older triple never replaces a newer one.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAMES = {"color": "colour image", "depth": "depth image", "info": "camera_info"}


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
    """The newest synchronised frame, per-stream arrivals, and why there is no (fresh) frame."""

    STREAMS = ("color", "depth", "info")

    def __init__(self, slop: float, clock: Callable[[], float] = time.time, warn: Callable[[str], None] = print,
                 max_future: float = 0.5, max_jump_back: float = 1.0) -> None:
        """``clock``: this node's time in seconds (the stamps' time base); ``warn``: a log call."""
        if not slop >= 0:
            raise ValueError(f"sync slop must be >= 0 s, got {slop}")
        self.slop, self.max_future, self.max_jump_back = slop, max_future, max_jump_back
        self._clock, self._warn = clock, warn
        self._latest: SyncedFrame | None = None
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.STREAMS, 0)
        self.last_stamp: dict[str, float] = {}  # newest stamp seen per stream (since the last reset)
        self.last_arrival: dict[str, float] = {}  # monotonic time of the last message per stream
        self.future_dropped = 0
        self.future_ahead = 0.0  # how far ahead the last dropped message was (s)
        self._warned: dict[str, float] = {}  # kind -> monotonic time of its last warning

    def _warn_at_most_every(self, seconds: float, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, float("-inf")) >= seconds:
            self._warned[kind] = now
            self._warn(text)

    def add(self, stream: str, msg: Any, now: float) -> None:
        """One message of ``stream`` arrived at monotonic time ``now``."""
        t = stamp_seconds(msg)
        with self._lock:
            self.counts[stream] += 1
            self.last_arrival[stream] = now
            ahead = t - self._clock()
            if ahead > self.max_future:
                self.future_dropped += 1
                self.future_ahead = ahead
                self._warn_at_most_every(5.0, "future", f"dropping a {NAMES[stream]} stamped {ahead:.3f} s ahead of this node's clock (more "
                           f"than {self.max_future:g} s): are the camera's and this computer's clocks synchronised?")
                return
            newest = self.last_stamp.get(stream)
            if newest is not None and t < newest - self.max_jump_back:
                self._warn_at_most_every(1.0, "jump", f"the camera clock jumped back by {newest - t:.3f} s ({NAMES[stream]}): starting over")
                self._latest = None
                self.last_stamp.clear()
                self._reset_queues()
            self.last_stamp[stream] = max(t, self.last_stamp.get(stream, t))
        self._queue(stream, msg, now)

    def _queue(self, stream: str, msg: Any, now: float) -> None:
        raise NotImplementedError

    def _reset_queues(self) -> None:
        raise NotImplementedError

    def _offer(self, color: Any, depth: Any, info: Any, now: float) -> None:
        """A matched triple (called with the lock held): it becomes the latest if it is newer."""
        t = stamp_seconds(color)
        if self._latest is None or t > self._latest.stamp:
            self._latest = SyncedFrame(color, depth, info, t, now)

    def latest(self) -> SyncedFrame | None:
        with self._lock:
            return self._latest

    def describe_missing(self) -> str:
        """Why there is no synchronised frame, in words for a log line."""
        missing = [s for s in self.STREAMS if self.counts[s] == 0]
        if missing:
            return "no " + ", no ".join(NAMES[s] for s in missing) + " received yet"
        if self.future_dropped and not self.last_stamp:
            return (f"every frame so far was stamped in the future ({self.future_dropped} dropped, the last "
                    f"{self.future_ahead:.3f} s ahead of this node's clock): are the clocks synchronised?")
        return self.describe_mismatch()

    def describe_mismatch(self) -> str:
        """The newest stamps per stream, for when they do not match within the slop."""
        stamps = ", ".join(f"{NAMES[s]} {self.last_stamp[s]:.3f}" for s in self.STREAMS if s in self.last_stamp)
        return (f"colour, depth and camera_info have no stamps within {self.slop * 1000:.0f} ms (sync_slop) of each "
                f"other; newest stamps: {stamps}")


class LatestFrameSync(FrameSlot):
    """Approximate-time matching of three streams in plain Python (the wheel-only set-up)."""

    name = "builtin"

    def __init__(self, slop: float = 0.02, queue_size: int = 5, **checks: Any) -> None:
        super().__init__(slop, **checks)
        self._queues = {name: deque(maxlen=queue_size) for name in self.STREAMS}

    def _queue(self, stream: str, msg: Any, now: float) -> None:
        with self._lock:
            self._queues[stream].append((stamp_seconds(msg), msg))
            self._match(now)

    def _reset_queues(self) -> None:
        for q in self._queues.values():
            q.clear()

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
    message_filters.Subscriber, so the stamp checks above run first, a jump back can rebuild
    the synchronizer (its queues keep the highest stamps, so it would otherwise drop every
    message from after the jump), and a message it cannot take (a negative stamp makes
    rclpy's Time raise) is dropped here instead of escaping into the executor.
    """

    name = "message_filters"

    def __init__(self, slop: float = 0.02, queue_size: int = 5, **checks: Any) -> None:
        super().__init__(slop, **checks)
        self._queue_size = queue_size
        self._reset_queues()

    def _reset_queues(self) -> None:
        import message_filters

        self._inputs = {stream: message_filters.SimpleFilter() for stream in self.STREAMS}
        self._sync = message_filters.ApproximateTimeSynchronizer(
            [self._inputs[s] for s in self.STREAMS], self._queue_size, self.slop)
        self._sync.registerCallback(self._matched)

    def _queue(self, stream: str, msg: Any, now: float) -> None:
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
    """Subscribe ``node`` (an rclpy Node) to the three camera streams, matched by ``backend``
    (auto, message_filters or builtin); ``topics`` maps color/depth/info to (message type, topic)."""
    if backend == "auto":
        backend = "message_filters" if message_filters_available() else "builtin"
    if backend == "message_filters" and not message_filters_available():
        raise ValueError("frame_sync 'message_filters' needs the message_filters package (a ROS install); "
                         "use 'builtin' or 'auto'")
    checks = {"clock": lambda: node.get_clock().now().nanoseconds * 1e-9,
              "warn": lambda text: node.get_logger().warning(text)}
    kind = ApproximateTimeFrameSync if backend == "message_filters" else LatestFrameSync
    sync = kind(slop, **checks)
    for stream in sync.STREAMS:
        msg_type, topic = topics[stream]
        node.create_subscription(msg_type, topic, lambda msg, s=stream: sync.add(s, msg, time.monotonic()), qos)
    return sync
