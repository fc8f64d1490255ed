"""Keep the newest colour/depth/camera_info triple whose stamps agree within a slop.

Three ways to one behaviour, chosen by grounding_node's ``frame_sync`` parameter:
- ``on_demand`` (the default): no Python work per frame. The camera messages wait, still
  serialized, in the DDS reader's history (KEEP_LAST, the QoS depth) and are only read when
  an instruction asks for a frame: their stamps come from the CDR header and only the
  matched triple is deserialized. grounding_node then costs next to nothing while idle.
- ``message_filters``: message_filters' ApproximateTimeSynchronizer (a ROS install, CI), fed
  by a callback per message;
- ``builtin``: the same matching hand-written, for the wheel-only set-up, per message.
All fill a "latest synchronised frame" slot, with no backlog.

Stamps are checked as they arrive, before matching, so one odd stamp cannot freeze the input:
a message stamped further ahead of this node's clock than ``max_future`` is dropped (with a
warning); a stamp more than ``max_jump_back`` older than the newest seen on its stream means
the camera's clock jumped back (a driver restart, a replayed bag, a simulator reset): the
matcher starts over and the frame from before the jump is forgotten. Among matched triples,
the newest stamp wins: a late, slightly older triple never replaces a newer one.
"""

from __future__ import annotations

import importlib.util
import struct
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


class _Serialized:
    """A message as DDS delivered it (CDR bytes), with its header stamp read from them."""

    __slots__ = ("data", "msg_type", "header")

    def __init__(self, data: bytes, msg_type: type) -> None:
        if len(data) < 12:
            raise ValueError(f"a serialized {msg_type.__name__} of {len(data)} bytes has no header")
        # 4-byte encapsulation header (odd second byte: little endian), then Header.stamp (int32, uint32)
        sec, nanosec = struct.unpack_from("<iI" if data[1] & 1 else ">iI", data, 4)
        self.data, self.msg_type = data, msg_type
        self.header = _Header(_Stamp(sec, nanosec))

    def message(self) -> Any:
        from rclpy.serialization import deserialize_message

        return deserialize_message(self.data, self.msg_type)


@dataclass
class _Stamp:
    sec: int
    nanosec: int


@dataclass
class _Header:
    stamp: _Stamp


class OnDemandFrameSync(LatestFrameSync):
    """The builtin matcher, run on the messages DDS holds when a frame is asked for.

    The subscriptions are serialized ones in a callback group that never executes, so the
    executor never wakes for a camera message: DDS keeps the newest ``depth`` of each stream
    (the QoS history) and :meth:`latest` takes them. Arrival times come from DDS's reception
    timestamps, so "the camera went quiet" is still told apart from "stamps do not match".
    """

    name = "on_demand"

    def __init__(self, slop: float = 0.02, queue_size: int = 5, **checks: Any) -> None:
        super().__init__(slop, queue_size, **checks)
        self._subscriptions: dict[str, Any] = {}
        self._drain_lock = threading.Lock()

    def attach(self, stream: str, subscription: Any) -> None:
        self._subscriptions[stream] = subscription

    def _drain(self) -> None:
        """Take every message DDS holds, oldest first across the streams, into the matcher."""
        with self._drain_lock:
            now_mono, now_wall = time.monotonic(), time.time()
            taken = []
            for stream, sub in self._subscriptions.items():
                while True:
                    with sub.handle:
                        result = sub.handle.take_message(sub.msg_type, True)
                    if result is None:
                        break
                    data, info = result
                    received = info.get("received_timestamp", 0) * 1e-9
                    arrival = now_mono - max(0.0, now_wall - received) if received > 0 else now_mono
                    try:
                        taken.append((arrival, stream, _Serialized(data, sub.msg_type)))
                    except ValueError as exc:
                        self._warn_at_most_every(5.0, "serialized", f"dropping a {NAMES[stream]}: {exc}")
            for arrival, stream, msg in sorted(taken, key=lambda e: e[0]):
                self.add(stream, msg, arrival)

    def latest(self) -> SyncedFrame | None:
        self._drain()
        with self._lock:
            f = self._latest
            if f is not None and isinstance(f.color, _Serialized):  # deserialize the chosen triple once
                f = self._latest = SyncedFrame(f.color.message(), f.depth.message(), f.info.message(), f.stamp,
                                               f.received)
            return f

    def describe_missing(self) -> str:
        self._drain()
        return super().describe_missing()


def _never_executed_group() -> Any:
    """A callback group the executor never waits on: its entities are only read by hand."""
    from rclpy.callback_groups import CallbackGroup

    class NeverExecuted(CallbackGroup):
        def can_execute(self, entity: Any) -> bool:
            return False

        def beginning_execution(self, entity: Any) -> bool:
            return False

        def ending_execution(self, entity: Any) -> None:
            pass

    return NeverExecuted()


FRAME_SYNCS = ("on_demand", "message_filters", "builtin", "auto")


def message_filters_available() -> bool:
    return importlib.util.find_spec("message_filters") is not None


def subscribe_rgbd(node: Any, backend: str, topics: dict[str, tuple[type, str]], qos: Any,
                   slop: float) -> FrameSlot:
    """Subscribe ``node`` (an rclpy Node) to the three camera streams, matched by ``backend``
    (one of FRAME_SYNCS; auto: message_filters where installed, else builtin); ``topics`` maps
    color/depth/info to (message type, topic)."""
    if backend == "auto":
        backend = "message_filters" if message_filters_available() else "builtin"
    if backend == "message_filters" and not message_filters_available():
        raise ValueError("frame_sync 'message_filters' needs the message_filters package (a ROS install); "
                         "use 'builtin' or 'auto'")
    checks = {"clock": lambda: node.get_clock().now().nanoseconds * 1e-9,
              "warn": lambda text: node.get_logger().warning(text)}
    if backend == "on_demand":
        sync = OnDemandFrameSync(slop, queue_size=max(int(qos.depth), 1), **checks)
        group = _never_executed_group()
        for stream in sync.STREAMS:
            msg_type, topic = topics[stream]
            sync.attach(stream, node.create_subscription(msg_type, topic, lambda msg: None, qos,
                                                         callback_group=group, raw=True))
        return sync
    kind = {"message_filters": ApproximateTimeFrameSync, "builtin": LatestFrameSync}[backend]
    sync = kind(slop, **checks)
    for stream in sync.STREAMS:
        msg_type, topic = topics[stream]
        node.create_subscription(msg_type, topic, lambda msg, s=stream: sync.add(s, msg, time.monotonic()), qos)
    return sync
