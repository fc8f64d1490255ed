"""Every node refuses a bad parameter value at start-up with one line and exit code 2.

rclpy checks a parameter's type and range before the node sees it, and raises; the nodes
turn that, and their own checks, into one line that names the parameter and what it needs.
The values are given as a user types them: ``ros2 run vla_grounding <node> --ros-args -p ...``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ros

CASES = [  # node, --ros-args, what the line must say
    ("sim_node", ["-p", "seed:=-1"], "parameter 'seed' is -1; expected a value >= 0"),
    ("sim_node", ["-p", "publish_rate:=30"], "parameter 'publish_rate' must be a floating-point number, got 30 "
                                             "(write 30.0)"),
    ("sim_node", ["-p", "task:=stack-the-moon"], "parameter 'task' is 'stack-the-moon'; expected one of"),
    ("sim_node", ["-p", "camera_profile:=realsense-d999"], "unknown camera profile 'realsense-d999'"),
    ("sim_node", ["-p", "calibration_error:=[0.01]"], "parameter 'calibration_error' is [0.01]; expected "
                                                      "[metres, degrees]"),
    ("grounding_node", ["-p", "min_confidence:=1.5"], "parameter 'min_confidence' is 1.5; expected a value in "
                                                      "[0.0, 1.0]"),
    ("grounding_node", ["-p", "frame_sync:=fastest"], "parameter 'frame_sync' is 'fastest'; expected one of"),
    ("grounding_node", ["-p", "torch_threads:=-2"], "parameter 'torch_threads' is -2"),
    ("grounding_node", ["-p", "camera_pose:=[1,2,3]"], "parameter 'camera_pose' must be a list of floating-point "
                                                      "numbers"),
    ("arm_controller_node", ["-p", "approach_height:=0"], "parameter 'approach_height' must be a floating-point "
                                                          "number, got 0 (write 0.0)"),
    ("arm_controller_node", ["-p", "backend:=teleport"], "parameter 'backend' is 'teleport'; expected one of"),
    ("arm_controller_node", ["--params-file", "/nonexistent/params.yaml"], "bad ROS arguments: failed to initialize "
                                                                           "rcl: Couldn't parse params file"),
]


@pytest.mark.parametrize("node,args,line", CASES, ids=[f"{c[0]}:{' '.join(c[1])}" for c in CASES])
def test_a_bad_parameter_value_gives_one_line_and_code_2(launch, node, args, line):
    proc = launch(f"vla_grounding.nodes.{node}", ["--ros-args", *args], name=f"{node}_bad")
    code = proc.proc.wait(120)
    out = proc.output()
    assert code == 2, out[-3000:]
    errors = [ln for ln in out.splitlines() if "cannot start" in ln]
    assert len(errors) == 1 and line in errors[0], out[-3000:]
    assert errors[0].startswith(f"[{node}] cannot start: ")
    assert "Traceback" not in out
