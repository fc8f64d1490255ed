"""SIGINT/SIGTERM handling for node processes, installed when this module is imported.

Every node module imports it before anything heavy (rclpy, torch), so a Ctrl-C or SIGTERM at
any moment ends the process with code 0 within 2 s:

- while the modules are still importing, nothing exists to clean up: exit at once;
- while the node is being built (rclpy initialised, a model loading), shut rclpy down (its
  DDS participant and shared-memory files) and exit at once: an exception raised there
  could be swallowed or escape from inside a library (seen: exit -2 from within torch);
- while it spins, set a flag that ``run_node``'s loop checks every 0.1 s.

rclpy's own handlers are not used: they chain to Python's, whose KeyboardInterrupt can land
anywhere in the clean-up (the process then dies of SIGINT, exit -2).
"""

from __future__ import annotations

import os
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """The process's stop request and what a signal does in each phase."""

    def __init__(self) -> None:
        self.requested = False
        self.phase = "importing"  # then "starting" (run_node builds the node), then "spinning"

    def __call__(self, signum, frame) -> None:
        self.requested = True
        if self.phase == "importing":
            os._exit(0)
        if self.phase == "starting":
            _shut_rclpy_down()
            os._exit(0)

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self)

    @staticmethod
    def ignore_more() -> None:
        """Ignore further signals (while cleaning up after the first)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def _shut_rclpy_down() -> None:
    """Best effort: the default context shut down and destroyed (its DDS participant with it)."""
    try:
        import rclpy

        rclpy.try_shutdown()
        rclpy.get_default_context().destroy()
    except Exception:  # half-built node handles may still hold it: exiting is what matters now
        pass


STOP = StopRequest()
STOP.install()
