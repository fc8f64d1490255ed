"""MoveIt 2 through moveit_py, the way moveit_py's own tutorials set it up.

The configuration is a ``config_dict`` built with moveit_configs_utils from the robot's MoveIt
config package (URDF, SRDF, kinematics, pipelines, controllers) plus config/moveit_py.yaml (planning
scene monitor, pipelines, and named plan-request parameters). MoveItPy runs MoveIt inside this
process; the robot's ros2_control bring-up must be running. Vertical segments (descents, lift,
retreat) are planned with Pilz LIN (straight lines), transfers with OMPL. The table is a
collision object; the held object is attached to the tool link after the grasp and removed
after the release. An execution that does not succeed is a failure (the arm controller's
held-object logic takes over). Untested here: no MoveIt can be installed on these machines;
test/test_moveit_contract.py checks this sequencing against a stand-in with moveit_py's signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from rclpy.node import Node

from vla_grounding.motion.sequence import Stage
from vla_grounding.nodes.pose_msgs import tool_pose_stamped

LINEAR_STAGES = {"descend_pick", "lift", "descend_place", "retreat"}  # straight up or down: Pilz LIN


@dataclass(frozen=True)
class MoveItSettings:
    config_package: str  # e.g. franka_fr3_moveit_config
    robot_name: str  # MoveItConfigsBuilder's robot_name
    planning_group: str
    tool_link: str
    base_frame: str
    urdf: str = ""  # URDF/xacro (package://pkg/file, absolute, or relative to the config package); "": default
    srdf: str = ""
    xacro_args: tuple[str, ...] = ()  # name:=value mappings for the xacro files
    controllers: str = ""  # trajectory execution YAML (relative: in the config package)
    moveit_py_config: str = ""  # moveit_py options (planning scene monitor, pipelines, named plan parameters)
    linear_params: str = "pilz_lin"
    free_params: str = "ompl_rrtc"
    table: tuple[float, float, float, float, float, float] = (0.6, 0.0, -0.01, 1.0, 1.2, 0.02)  # centre xyz, size


def moveit_messages() -> SimpleNamespace:
    """The planning-scene message types (moveit_msgs, shape_msgs: on ROS installs with MoveIt)."""
    from moveit_msgs.msg import AttachedCollisionObject, CollisionObject
    from shape_msgs.msg import SolidPrimitive

    return SimpleNamespace(AttachedCollisionObject=AttachedCollisionObject, CollisionObject=CollisionObject,
                           SolidPrimitive=SolidPrimitive)


def resolve_path(path: str) -> str:
    """``package://<package>/<file>`` -> the file in that package's share folder; other paths unchanged
    (relative ones are read by moveit_configs_utils inside the MoveIt config package)."""
    if not path.startswith("package://"):
        return path
    package, _, rest = path[len("package://"):].partition("/")
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return str(Path(get_package_share_directory(package)) / rest)
    except PackageNotFoundError as exc:
        raise RuntimeError(f"{path}: package {package!r} is not installed") from exc


def config_dict(settings: MoveItSettings) -> dict:
    """moveit_py's configuration, built as the tutorials build it (moveit_configs_utils)."""
    try:
        from moveit_configs_utils import MoveItConfigsBuilder
    except ImportError as exc:
        raise RuntimeError("backend 'moveit' needs moveit_configs_utils (ros-jazzy-moveit-configs-utils)") from exc
    mappings = dict(arg.split(":=", 1) for arg in settings.xacro_args)
    builder = MoveItConfigsBuilder(robot_name=settings.robot_name, package_name=settings.config_package)
    if settings.urdf:
        builder = builder.robot_description(file_path=resolve_path(settings.urdf), mappings=mappings or None)
    if settings.srdf:
        builder = builder.robot_description_semantic(file_path=resolve_path(settings.srdf), mappings=mappings or None)
    if settings.controllers:
        builder = builder.trajectory_execution(file_path=resolve_path(settings.controllers))
    if settings.moveit_py_config:
        builder = builder.moveit_cpp(file_path=resolve_path(settings.moveit_py_config))
    return builder.planning_pipelines(pipelines=["ompl", "pilz_industrial_motion_planner"]).to_moveit_configs().to_dict()


class MoveItBackend:
    interface = "moveit_py"

    def __init__(self, node: Node, settings: MoveItSettings, robot=None, plan_parameters=None,
                 messages: SimpleNamespace | None = None) -> None:
        """``robot``/``plan_parameters``/``messages``: a MoveItPy, moveit.planning.PlanRequestParameters and the
        scene message types (tests pass stand-ins); by default they are built from ``settings``."""
        if robot is None:
            try:
                from moveit.planning import MoveItPy, PlanRequestParameters
            except ImportError as exc:
                raise RuntimeError("backend 'moveit' needs moveit_py (ROS 2 Jazzy or later with MoveIt 2 installed); "
                                   "use backend 'ros2_control' for the package's simulator") from exc
            robot = MoveItPy(node_name=f"{node.get_name()}_moveit", config_dict=config_dict(settings))
            plan_parameters = PlanRequestParameters
        self.node, self.settings, self.robot = node, settings, robot
        self.msgs = messages or moveit_messages()
        self.arm = robot.get_planning_component(settings.planning_group)
        self.linear = plan_parameters(robot, settings.linear_params)
        self.free = plan_parameters(robot, settings.free_params)
        self.kinematics = None  # no own IK: after a failure the arm controller does not retreat with this backend
        self._add_table()

    # -- planning scene --------------------------------------------------------------------------

    def _collision_box(self, object_id: str, frame: str, centre, size, operation: int):
        from geometry_msgs.msg import Pose

        box = self.msgs.SolidPrimitive
        obj = self.msgs.CollisionObject(id=object_id, operation=operation)
        obj.header.frame_id = frame
        obj.primitives = [box(type=box.BOX, dimensions=[float(v) for v in size])]
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in centre)
        pose.orientation.w = 1.0
        obj.primitive_poses = [pose]
        return obj

    def _add_table(self) -> None:
        t = self.settings.table
        table = self._collision_box("table", self.settings.base_frame, t[:3], t[3:], self.msgs.CollisionObject.ADD)
        with self.robot.get_planning_scene_monitor().read_write() as scene:
            scene.apply_collision_object(table)
            scene.current_state.update()

    def attach(self, size: tuple[float, float, float]) -> None:
        """The grasped object, a box of ``size`` below the tool point, moves with the tool link."""
        held = self.msgs.AttachedCollisionObject(link_name=self.settings.tool_link,
                                                 touch_links=[self.settings.tool_link])
        held.object = self._collision_box("held_object", self.settings.tool_link, (0.0, 0.0, size[2] / 2), size,
                                          self.msgs.CollisionObject.ADD)
        with self.robot.get_planning_scene_monitor().read_write() as scene:
            scene.process_attached_collision_object(object=held)

    def detach(self) -> None:
        CollisionObject = self.msgs.CollisionObject  # noqa: N806
        held = self.msgs.AttachedCollisionObject(link_name=self.settings.tool_link)
        held.object.id, held.object.operation = "held_object", CollisionObject.REMOVE
        with self.robot.get_planning_scene_monitor().read_write() as scene:
            scene.process_attached_collision_object(object=held)
            removed = CollisionObject(id="held_object", operation=CollisionObject.REMOVE)
            removed.header.frame_id = self.settings.base_frame
            scene.apply_collision_object(removed)

    # -- motion -------------------------------------------------------------------------------------

    def prepare(self, stages: list[Stage]) -> tuple[list[Stage] | None, str]:
        return stages, ""  # MoveIt plans each stage from the state it starts in

    def move_tool(self, position: np.ndarray, yaw: float, cancelled: Callable[[], bool],
                  stage: str = "") -> tuple[bool, str]:
        params = self.linear if stage in LINEAR_STAGES else self.free
        self.arm.set_start_state_to_current_state()
        self.arm.set_goal_state(pose_stamped_msg=tool_pose_stamped(self.settings.base_frame, position, yaw),
                                pose_link=self.settings.tool_link)
        plan = self.arm.plan(single_plan_parameters=params)
        where = np.round(position, 3).tolist()
        if not plan:
            code = getattr(getattr(plan, "error_code", None), "val", "?")
            return False, f"MoveIt found no {params.planner_id or 'default'} plan to {where} (error code {code})"
        if cancelled():
            return False, "cancelled before execution"
        status = self.robot.execute(plan.trajectory, controllers=[])
        if not status:
            return False, f"MoveIt execution to {where} ended {status.status}"
        return True, f"{params.planner_id or 'planned'} motion executed"

    def stop_arm(self) -> None:
        """Stop the trajectory MoveIt is executing (its trajectory execution manager)."""
        manager = self.robot.get_trajectory_execution_manager()
        manager.stop_execution(True)

    def close(self) -> None:
        self.robot.shutdown()
