"""sim.launch.py under launch_testing: the graph comes up with the given arguments and every
process exits 0 when launch shuts it down.

Collected by launch_testing's pytest plugin (a ROS install, or the extras in CI); skipped
where launch_testing is missing.
"""

import os
import unittest

import pytest

pytest.importorskip("launch_testing", reason="needs launch_testing (a ROS install or the extras)")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

SEED = 7


@pytest.mark.launch_test
def generate_test_description():
    sim_launch = os.path.join(get_package_share_directory("vla_grounding"), "launch", "sim.launch.py")
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(sim_launch),
                                 launch_arguments={"seed": str(SEED), "policy": "clip_regions"}.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestGraphComesUp(unittest.TestCase):
    def test_nodes_report_ready_with_the_launch_arguments(self, proc_output):
        proc_output.assertWaitFor(f"simulating put-blocks-in-bowls-seen seed {SEED}", timeout=120, stream="stderr")
        proc_output.assertWaitFor("clip_regions policy ready", timeout=120, stream="stderr")
        proc_output.assertWaitFor("arm controller ready (ros2_control backend", timeout=120, stream="stderr")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_0(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
