"""Test harness: every test session runs in its own ROS 2 domain on loopback only.

The isolation variables are set before anything imports rclpy, so the test process and
every node process it starts share one private domain, ROS_HOME in a temp dir, and the
package's Fast DDS profile. Core tests (perception, grounding, CLIPort, simulator) need no
ROS; tests marked ``ros`` skip when the ROS build is missing unless VLA_REQUIRE_ROS=1 (set
by scripts/test.sh), where a missing build is an error instead.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
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


EXTRAS_HINT = ("ROS 2 packages the registry's wheels lack; a ROS install has them, and in this checkout "
               "scripts/install_ros_extras.sh adds them from the prebuilt extras (README: Tests and CI)")


def missing_modules(*modules: str) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # a dotted name whose parent package is missing
            found = False
        if not found:
            missing.append(name)
    return missing


def pytest_collection_modifyitems(config, items):
    reason = _ros_available()
    if reason is not None and os.environ.get("VLA_REQUIRE_ROS") == "1":
        raise pytest.UsageError(reason)
    for item in items:
        if reason is not None and "ros" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
            continue
        marker = item.get_closest_marker("extras")
        missing = missing_modules(*marker.args) if marker else []
        if not missing:
            continue
        why = f"needs {', '.join(missing)}: {EXTRAS_HINT}"
        if os.environ.get("VLA_REQUIRE_EXTRAS") == "1":  # CI installed them: a broken install must fail
            raise pytest.UsageError(f"{item.nodeid} {why}")
        item.add_marker(pytest.mark.skip(reason=why))


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
    gc.collect()  # the DDS participant goes with the last reference to the context (fixture caches hold some)
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

    def __call__(self, module: str, args: list[str] | None = None, name: str | None = None,
                 command: bool = False) -> NodeProcess:
        proc = NodeProcess(module, args, env=ROS_ENV, log_dir=self.log_dir, name=name, command=command).start()
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


def ros2(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run the real ``ros2`` command line in the session's isolated domain; output as text."""
    return subprocess.run(["ros2", *args], env={**os.environ, **ROS_ENV}, capture_output=True, text=True,
                          timeout=timeout, check=False)


class Camera:
    """Publishes colour/depth/camera_info from the test process like a camera driver would."""

    def __init__(self, node, frame, frame_id: str = "camera_color_optical_frame") -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        self.node, self.frame, self.frame_id = node, frame, frame_id
        self.color_pub = node.create_publisher(Image, "camera/color/image_raw", qos_profile_sensor_data)
        self.depth_pub = node.create_publisher(Image, "camera/depth/image_raw", qos_profile_sensor_data)
        self.info_pub = node.create_publisher(CameraInfo, "camera/color/camera_info", qos_profile_sensor_data)

    def publish(self, *, color=None, depth=None, color_encoding="rgb8", depth_encoding="32FC1", info=True,
                repeats: int = 5, stamp=None, offsets=(0.0, 0.0, 0.0), edit_info=None) -> None:
        """``repeats`` frames 50 ms apart, stamped now (or all with ``stamp``, a builtin_interfaces/Time);
        ``offsets``: seconds added to the colour, depth and camera_info stamps; ``edit_info(msg)``
        changes the camera_info before it is sent."""
        from rclpy.duration import Duration
        from rclpy.time import Time

        from vla_grounding.nodes.graph import wait_for_topic_subscribers
        from vla_grounding.nodes.image_conversion import intrinsics_to_camera_info, numpy_to_image

        for pub in (self.color_pub, self.depth_pub, self.info_pub):
            wait_for_topic_subscribers(self.node, pub.topic_name, timeout=15)
        color = self.frame.color if color is None else color
        depth = self.frame.depth if depth is None else depth
        for _ in range(repeats):
            t = Time.from_msg(stamp) if stamp is not None else self.node.get_clock().now()
            tc, td, ti = ((t + Duration(nanoseconds=int(o * 1e9))).to_msg() for o in offsets)
            c = numpy_to_image(color, color_encoding)
            d = numpy_to_image(depth, depth_encoding)
            c.header.stamp, d.header.stamp = tc, td
            c.header.frame_id = d.header.frame_id = self.frame_id
            self.color_pub.publish(c)
            self.depth_pub.publish(d)
            if info:
                i = intrinsics_to_camera_info(self.frame.intrinsics)
                i.header.stamp, i.header.frame_id = ti, self.frame_id
                if edit_info is not None:
                    edit_info(i)
                self.info_pub.publish(i)
            time.sleep(0.05)
        time.sleep(0.2)


def sim_config() -> dict:
    """config/sim.yaml as a dict."""
    import yaml

    from vla_grounding.nodes.processes import package_file

    return yaml.safe_load(package_file("config/sim.yaml").read_text())


def render_scene(task: str, seed: int):
    """(frame, objects) of the simulator's scene for ``seed``, seen by the camera of config/sim.yaml."""
    from vla_grounding.perception.transforms import pose_list_to_matrix
    from vla_grounding.sim.env import TabletopEnv

    pose = pose_list_to_matrix(sim_config()["/**"]["ros__parameters"]["camera_pose"])
    with TabletopEnv(task, camera_pose=pose, render_backend="tiny") as env:
        frame = env.reset(seed)
        return frame, env.objects()


def assert_no_segments_left(before: set[str]) -> None:
    """No Fast DDS data segment of a stopped process is left in /dev/shm (``before``: the files
    that existed earlier). Port mailboxes Fast DDS sometimes leaves when several participants
    close at once are tolerated here and removed by the launcher's clean-up."""
    new = fastdds_shm_files() - before
    clean_fastdds_shm()
    segments = {f for f in new - fastdds_shm_files() if "port" not in f}
    assert not segments, f"Fast DDS segments left in /dev/shm by stopped nodes: {sorted(segments)}"


def ground_client(node, proc: NodeProcess, service: str = "ground"):
    """A vla_grounding/Ground client on ``node`` once ``proc`` serves ``service``; the test fails
    with the node's output when it does not come up."""
    from vla_grounding.srv import Ground

    from vla_grounding.nodes.graph import wait_for_service

    cli = node.create_client(Ground, service)
    try:
        wait_for_service(cli, timeout=90)
    except TimeoutError:
        pytest.fail(f"{proc.name} did not serve {service}:\n{proc.output()[-3000:]}")
    return cli
