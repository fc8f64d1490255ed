"""Test harness: every test session runs in its own ROS 2 domain on loopback only.

The isolation variables are set before anything imports rclpy, so the test process and
every node process it starts share one private domain, ROS_HOME in a temp dir, and the
package's Fast DDS profile. Core tests (perception, grounding, CLIPort, simulator) need no
ROS; tests marked ``ros`` skip when the ROS build is missing unless VLA_REQUIRE_ROS=1 (set
by scripts/test.sh), where a missing build is an error instead.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest

from vla_grounding.nodes.processes import (
    NodeProcess,
    clean_fastdds_shm,
    fastdds_shm_files,
    isolated_ros_env,
)

SCRATCH = Path(tempfile.mkdtemp(prefix="vla_test_"))  # ROS_HOME and parameter files; removed at the end
ROS_HOME = SCRATCH / "ros_home"
ROS_HOME.mkdir()
ROS_ENV = isolated_ros_env(ros_home=ROS_HOME)
os.environ.update(ROS_ENV)
PEERS = Path(__file__).parent / "peers"


def _ros_available() -> str | None:
    """None when rclpy and the generated interfaces import, else the reason."""
    try:
        import rclpy  # noqa: F401
        import vla_grounding.msg  # noqa: F401
    except ImportError as exc:
        return f"ROS build not available ({exc}); run scripts/setup.sh and source scripts/env.sh"
    return None


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SCRATCH, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    reason = _ros_available()
    if reason is None:
        return
    if os.environ.get("VLA_REQUIRE_ROS") == "1":
        raise pytest.UsageError(reason)
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "ros" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    return dict(ROS_ENV)


@pytest.fixture(scope="session")
def rclpy_context():
    """rclpy initialised once per session; checks that no Fast DDS files are left behind."""
    import rclpy

    before = fastdds_shm_files()
    rclpy.init()
    yield
    rclpy.shutdown()
    left = fastdds_shm_files() - before
    if left:
        clean_fastdds_shm()
        still = fastdds_shm_files() - before
        if still:
            warnings.warn(f"Fast DDS files left in /dev/shm after the session: {sorted(still)}", stacklevel=1)


@pytest.fixture
def ros_node(rclpy_context, request):
    """A spinning test node; use ``ros_node.node`` for publishers, clients, subscriptions."""
    from vla_grounding.nodes.background import BackgroundNode

    spinning = BackgroundNode("test_" + re.sub(r"\W", "_", request.node.name)[:50])
    yield spinning
    spinning.close()


class Launcher:
    """Starts node processes in the session's domain and stops them all (SIGINT) at the end.

    ``launcher(module_or_script, args=[...], name=...) -> NodeProcess``. At teardown each process
    still running must exit 0 on SIGINT (a clean shutdown).
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[NodeProcess] = []

    def __call__(self, module: str, args: list[str] | None = None, name: str | None = None) -> NodeProcess:
        proc = NodeProcess(module, args, env=ROS_ENV, log_dir=self.log_dir, name=name).start()
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        failures = []
        for proc in self.started:
            was_running = proc.alive()
            code = proc.stop()
            if was_running and code != 0:
                failures.append(f"{proc.name} exited {code} on SIGINT:\n{proc.output()[-3000:]}")
        assert not any(p.alive() for p in self.started), "a node process is still running after teardown"
        clean_fastdds_shm()  # port mailboxes Fast DDS may leave when several participants close at once
        assert not failures, "\n\n".join(failures)


@pytest.fixture
def launch(tmp_path):
    launcher = Launcher(tmp_path / "logs")
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def module_launch(tmp_path_factory):
    launcher = Launcher(tmp_path_factory.mktemp("logs"))
    yield launcher
    launcher.stop_all()


def sim_params(node_name: str, **overrides) -> list[str]:
    """ROS arguments for a node of the simulator graph: config/sim.yaml plus overrides for it."""
    from vla_grounding.nodes.processes import ros_params_args

    return ros_params_args(node_name, overrides, tmp_dir=tempfile.mkdtemp(prefix="params_", dir=SCRATCH))
