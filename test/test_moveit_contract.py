"""The moveit backend's sequencing against stand-ins that follow moveit_py's (Jazzy) signatures.

MoveIt cannot be installed here, so the real arm_controller_node runs in this process with
stand-ins for ``moveit.planning`` (MoveItPy, PlanRequestParameters), ``moveit_configs_utils`` and
the moveit_msgs/shape_msgs scene messages. Their signatures follow moveit_py's pybind11 bindings
(moveit2 jazzy, moveit_py/src): ``MoveItPy(node_name, config_dict=...)``,
``PlanningComponent.set_goal_state(pose_stamped_msg=..., pose_link=...)``,
``plan(single_plan_parameters=...)`` -> a response that is false on failure, ``execute(trajectory,
controllers)`` -> an ExecutionStatus (``.status``; false unless SUCCEEDED),
``PlanRequestParameters(robot, namespace)`` reading ``<namespace>.plan_request_params``, and the
planning scene monitor's ``read_write()`` scene with ``apply_collision_object`` and
``process_attached_collision_object(object=...)``. Checked: which planner plans which segment,
the order of scene edits, what a failed execution does, and the shutdown.
"""

from __future__ import annotations

import contextlib
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []


@dataclass
class _Header:
    frame_id: str = ""


@dataclass
class FakeCollisionObject:
    ADD = 0
    REMOVE = 1
    id: str = ""
    operation: int = 0
    header: _Header = field(default_factory=_Header)
    primitives: list = field(default_factory=list)
    primitive_poses: list = field(default_factory=list)


@dataclass
class FakeAttachedCollisionObject:
    link_name: str = ""
    touch_links: list = field(default_factory=list)
    object: FakeCollisionObject = field(default_factory=FakeCollisionObject)


@dataclass
class FakeSolidPrimitive:
    BOX = 1
    type: int = 0
    dimensions: list = field(default_factory=list)


class FakeStatus:
    def __init__(self, status: str) -> None:
        self.status = status

    def __bool__(self) -> bool:
        return self.status == "SUCCEEDED"


class FakeResponse:
    def __init__(self, ok: bool, trajectory) -> None:
        self.trajectory = trajectory
        self.error_code = types.SimpleNamespace(val=1 if ok else -1)

    def __bool__(self) -> bool:
        return self.error_code.val == 1


def make_fakes(rec: Recorder, fail_execution_at: int | None = None):
    plan_yaml = yaml.safe_load((ROOT / "config" / "moveit_py.yaml").read_text())

    class PlanRequestParameters:
        def __init__(self, moveit_py, namespace, /) -> None:  # positional, as bound
            assert isinstance(moveit_py, MoveItPy)
            params = plan_yaml[namespace]["plan_request_params"] if namespace else plan_yaml["plan_request_params"]
            self.planning_pipeline = params.get("planning_pipeline", "")
            self.planner_id = params.get("planner_id", "")
            self.max_velocity_scaling_factor = params.get("max_velocity_scaling_factor", 1.0)

    class Scene:
        def __init__(self) -> None:
            self.current_state = types.SimpleNamespace(update=lambda: rec.calls.append(("state_update",)))

        def apply_collision_object(self, collision_object_msg, color_msg=None) -> None:
            rec.calls.append(("apply", collision_object_msg.id, collision_object_msg.operation))

        def process_attached_collision_object(self, object) -> None:  # noqa: A002 (the binding's keyword)
            rec.calls.append(("attached", object.object.id, object.object.operation, object.link_name))

    class Monitor:
        @contextlib.contextmanager
        def read_write(self):
            yield Scene()

    class Component:
        def __init__(self, name: str) -> None:
            self.name, self.goal = name, None

        def set_start_state_to_current_state(self) -> None:
            pass

        def set_goal_state(self, configuration_name=None, robot_state=None, pose_stamped_msg=None, pose_link=None,
                           motion_plan_constraints=None) -> None:
            if (pose_stamped_msg is None) != (pose_link is None):
                raise ValueError("pose_stamped_msg and pose_link go together")
            self.goal = (pose_stamped_msg, pose_link)

        def plan(self, single_plan_parameters=None, multi_plan_parameters=None, planning_scene=None,
                 solution_selection_function=None, stopping_criterion_callback=None):
            assert multi_plan_parameters is None
            pose, link = self.goal
            p = pose.pose.position
            rec.calls.append(("plan", single_plan_parameters.planner_id, link, pose.header.frame_id,
                              round(p.z, 3)))
            return FakeResponse(True, trajectory=("trajectory", len(rec.calls)))

    class MoveItPy:
        def __init__(self, node_name="moveit_py", name_space="", launch_params_filepaths=None, config_dict=None,
                     provide_planning_service=True) -> None:
            assert config_dict is not None, "configure MoveItPy from config_dict, as the tutorials do"
            rec.calls.append(("init", node_name, config_dict["built_from"]))
            self.executions = 0

        def get_planning_component(self, planning_component_name):
            rec.calls.append(("component", planning_component_name))
            return Component(planning_component_name)

        def get_planning_scene_monitor(self):
            return Monitor()

        def execute(self, robot_trajectory, controllers):
            self.executions += 1
            failed = fail_execution_at is not None and self.executions == fail_execution_at
            rec.calls.append(("execute", robot_trajectory[0], list(controllers)))
            return FakeStatus("ABORTED" if failed else "SUCCEEDED")

        def get_trajectory_execution_manager(self):
            return types.SimpleNamespace(stop_execution=lambda auto_clear=True: rec.calls.append(("stop",)))

        def shutdown(self) -> None:
            rec.calls.append(("shutdown",))

    class MoveItConfigsBuilder:
        def __init__(self, robot_name, robot_description="robot_description", package_name=None) -> None:
            self.built = {"robot_name": robot_name, "package_name": package_name}

        def __getattr__(self, name):
            def chain(*args, **kwargs):
                self.built[name] = kwargs or args
                return self
            return chain

        def to_moveit_configs(self):
            return types.SimpleNamespace(to_dict=lambda: {"built_from": self.built})

    planning = types.ModuleType("moveit.planning")
    planning.MoveItPy, planning.PlanRequestParameters = MoveItPy, PlanRequestParameters
    moveit = types.ModuleType("moveit")
    moveit.planning = planning
    configs = types.ModuleType("moveit_configs_utils")
    configs.MoveItConfigsBuilder = MoveItConfigsBuilder
    msgs = types.ModuleType("moveit_msgs.msg")
    msgs.CollisionObject, msgs.AttachedCollisionObject = FakeCollisionObject, FakeAttachedCollisionObject
    shape = types.ModuleType("shape_msgs.msg")
    shape.SolidPrimitive = FakeSolidPrimitive
    return {"moveit": moveit, "moveit.planning": planning, "moveit_configs_utils": configs,
            "moveit_msgs": types.ModuleType("moveit_msgs"), "moveit_msgs.msg": msgs,
            "shape_msgs": types.ModuleType("shape_msgs"), "shape_msgs.msg": shape}


class FakeTool:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def set(self, on: bool) -> tuple[bool, str]:
        self.rec.calls.append(("tool", on))
        return True, "ok"


@pytest.fixture
def node_with(rclpy_context, monkeypatch):
    made = []

    def build(fail_execution_at: int | None = None):
        from rclpy.parameter import Parameter

        rec = Recorder()
        for name, module in make_fakes(rec, fail_execution_at).items():
            monkeypatch.setitem(sys.modules, name, module)
        from vla_grounding.nodes.arm_controller_node import ArmControllerNode

        node = ArmControllerNode(parameter_overrides=[
            Parameter("backend", value="moveit"), Parameter("base_frame", value="fr3_link0"),
            Parameter("tool_link", value="fr3_hand_tcp"), Parameter("moveit.planning_group", value="fr3_arm"),
            Parameter("moveit.config_package", value="franka_fr3_moveit_config"),
            Parameter("moveit.robot_name", value="fr3")])
        node.tool = FakeTool(rec)
        made.append(node)
        return node, rec

    yield build
    for node in made:
        node.destroy_node()


def _pick_place(frame="fr3_link0"):
    from vla_grounding.msg import PickPlace

    from vla_grounding.nodes.pose_msgs import tool_pose

    msg = PickPlace()
    msg.header.frame_id, msg.instruction = frame, "put the red block in the blue bowl"
    msg.pick, msg.place = tool_pose(np.array([0.5, 0.1, 0.04]), 0.3), tool_pose(np.array([0.55, -0.1, 0.005]), 0.3)
    return msg


def test_planners_per_segment_and_scene_edits_in_order(node_with):
    node, rec = node_with()
    assert rec.calls[0] == ("init", "arm_controller_node_moveit",
                            rec.calls[0][2]) and rec.calls[0][2]["package_name"] == "franka_fr3_moveit_config"
    assert ("component", "fr3_arm") in rec.calls
    assert ("apply", "table", FakeCollisionObject.ADD) in rec.calls  # the table, before any motion
    start = len(rec.calls)
    ok, message = node.execute(_pick_place(), lambda stage, progress: None, lambda: False)
    assert ok, message
    seq = [c for c in rec.calls[start:] if c[0] in ("plan", "tool", "attached", "apply")]
    kinds = [(c[0], c[1]) for c in seq]
    assert kinds == [
        ("plan", "RRTConnectkConfigDefault"),  # approach_pick: a transfer
        ("plan", "LIN"),  # descend_pick
        ("tool", True), ("attached", "held_object"),  # grasp, then the object rides on the tool link
        ("plan", "LIN"),  # lift
        ("plan", "RRTConnectkConfigDefault"),  # move_to_place
        ("plan", "LIN"),  # descend_place
        ("tool", False), ("attached", "held_object"), ("apply", "held_object"),  # release: detach and remove
        ("plan", "LIN"),  # retreat
    ]
    attach, detach = [c for c in seq if c[0] == "attached"]
    assert attach[2] == FakeCollisionObject.ADD and attach[3] == "fr3_hand_tcp" and detach[2] == FakeCollisionObject.REMOVE
    plans = [c for c in seq if c[0] == "plan"]
    assert all(c[2] == "fr3_hand_tcp" and c[3] == "fr3_link0" for c in plans)  # pose goals of the tool link
    executions = [c for c in rec.calls[start:] if c[0] == "execute"]
    assert len(executions) == 6 and all(c[2] == [] for c in executions)
    assert not node.held.holding


def test_a_failed_execution_after_the_grasp_leaves_the_node_holding(node_with):
    node, rec = node_with(fail_execution_at=4)  # the move to the place
    ok, message = node.execute(_pick_place(), lambda stage, progress: None, lambda: False)
    assert not ok and "move_to_place failed: MoveIt execution" in message and "ABORTED" in message, message
    assert node.held.holding and "still holding the object" in message
    assert ("tool", False) not in rec.calls  # nothing released mid-air
    again, why = node.execute(_pick_place(), lambda stage, progress: None, lambda: False)
    assert not again and "holding an object" in why


def test_stop_and_shutdown_reach_moveit(node_with):
    node, rec = node_with()
    node.backend.stop_arm()
    node.close()
    assert ("stop",) in rec.calls and rec.calls[-1] == ("shutdown",)


def test_package_paths_resolve_to_installed_share_files():
    from vla_grounding.nodes.moveit_backend import resolve_path

    assert Path(resolve_path("package://vla_grounding/config/fr3_moveit_controllers.yaml")).is_file()
    assert resolve_path("config/x.yaml") == "config/x.yaml"  # read inside the MoveIt config package
    with pytest.raises(RuntimeError, match="package 'franka_nothing' is not installed"):
        resolve_path("package://franka_nothing/x.urdf")
    fr3 = yaml.safe_load((ROOT / "config" / "fr3_realsense.yaml").read_text())
    moveit = fr3["arm_controller_node"]["ros__parameters"]["moveit"]
    assert moveit["controllers"] == "package://vla_grounding/config/fr3_moveit_controllers.yaml"
    controllers = yaml.safe_load((ROOT / "config" / "fr3_moveit_controllers.yaml").read_text())
    arm = controllers["moveit_simple_controller_manager"]["fr3_arm_controller"]
    assert arm["type"] == "FollowJointTrajectory" and arm["joints"] == [f"fr3_joint{i}" for i in range(1, 8)]
