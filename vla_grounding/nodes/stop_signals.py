"""SIGINT/SIGTERM handling for node processes, installed when this module is imported.

Every node module imports it before anything heavy (rclpy, torch), so a Ctrl-C or SIGTERM at
any moment ends the process with code 0 within 2 s:

- while the modules are still importing, nothing exists to clean up: exit at once;
- while the node is being built (rclpy initialised, a model loading), abort the start-up
  with KeyboardInterrupt, which ``run_node`` turns into a clean exit;
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
            raise KeyboardInterrupt

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self)

    @staticmethod
    def ignore_more() -> None:
        """Ignore further signals (while cleaning up after the first)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


STOP = StopRequest()
STOP.install()
