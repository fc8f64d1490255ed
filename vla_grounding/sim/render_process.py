"""Camera renders in a child process that mirrors the simulation.

pybullet holds Python's GIL for a whole ``getCameraImage`` (0.1-0.3 s here, more under load),
so a render in the simulating process freezes every other thread of it: the controller loop,
joint_states, a stop request. :class:`RenderProcess` keeps a second pybullet world in a child
process, built from the same task, seed and settings (the episode is deterministic), and
renders there. Each render sends a :func:`snapshot` of every body's pose and joint positions
(well under a millisecond to take) and waits for the pixels without holding the GIL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

import numpy as np

Snapshot = list[tuple[int, tuple, tuple, tuple]]  # (body id, position, orientation, joint positions)


class RenderProcessError(RuntimeError):
    """The mirror process is gone or could not render this scene."""


def snapshot(bc) -> Snapshot:
    """Every body's base pose and joint positions in pybullet client ``bc``."""
    out = []
    for i in range(bc.getNumBodies()):
        uid = bc.getBodyUniqueId(i)
        pos, orn = bc.getBasePositionAndOrientation(uid)
        n = bc.getNumJoints(uid)
        joints = tuple(s[0] for s in bc.getJointStates(uid, range(n))) if n else ()
        out.append((uid, pos, orn, joints))
    return out


def apply_snapshot(bc, state: Snapshot) -> None:
    """Put the bodies of ``bc`` where ``state`` says; they must be the same bodies."""
    uids = sorted(bc.getBodyUniqueId(i) for i in range(bc.getNumBodies()))
    if uids != sorted(s[0] for s in state):
        raise RenderProcessError(f"the mirror has bodies {uids}, the simulation {sorted(s[0] for s in state)}")
    for uid, pos, orn, joints in state:
        bc.resetBasePositionAndOrientation(uid, pos, orn)
        for j, q in enumerate(joints):
            bc.resetJointState(uid, j, q)


def _serve(conn: Connection) -> None:
    """The child: the env's settings, then (task, seed, snapshot) in, (colour, depth) or an error message out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends it (a Ctrl-C reaches the whole group)
    from vla_grounding.sim.env import TabletopEnv

    env = None
    try:
        env_kwargs = conn.recv()
        while True:
            try:
                task, seed, state = conn.recv()
            except (EOFError, OSError):
                return  # the parent closed the pipe or died
            try:
                if env is None or env.task_name != task:
                    if env is not None:
                        env.close()
                    env = TabletopEnv(task, **env_kwargs)
                if env.seed != seed:
                    env.reset(seed)
                apply_snapshot(env.bc, state)
                frame = env.render()
                conn.send((frame.color, frame.depth))
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which falls back
                conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        if env is not None:
            env.close()


class RenderProcess:
    """A mirror of a :class:`~vla_grounding.sim.env.TabletopEnv` in a child process, for renders
    that do not stop the caller's other threads. ``env_kwargs``: the env's settings except the task."""

    def __init__(self, env_kwargs: dict) -> None:
        # a fresh interpreter (no fork of a process with DDS and executor threads, and unlike
        # multiprocessing's spawn it does not re-run the parent's main module), over a socket pair
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen([sys.executable, "-m", __name__, str(theirs.fileno())],
                                      pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(os.dup(ours.fileno()))
        ours.close()
        self._conn.send(env_kwargs)
        self._lock = threading.Lock()  # one request in flight

    def render(self, task: str, seed: int, state: Snapshot, timeout: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
        """Colour and depth of episode ``(task, seed)`` with its bodies as in ``state`` (camera
        effects included). The first render of an episode builds it in the child (about 1 s)."""
        with self._lock:
            if self._proc.poll() is not None:
                raise RenderProcessError(f"the render process has ended (exit code {self._proc.returncode})")
            try:
                self._conn.send((task, int(seed), state))
                if not self._conn.poll(timeout):
                    raise RenderProcessError(f"the render process gave no image within {timeout:g} s")
                reply = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                raise RenderProcessError(f"the render process is gone: {exc}") from None
        if isinstance(reply, str):
            raise RenderProcessError(reply)
        return reply

    def close(self, timeout: float = 1.0) -> None:
        """End the child: closing the pipe ends its loop; it is killed if it does not go in time."""
        self._conn.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout)


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
