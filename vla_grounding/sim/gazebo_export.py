"""``vla-grounding export-gazebo``: a simulator scene as a Gazebo (gz sim) world, with the arm's description.

Writes, for one task and seed:
- ``world.sdf``: the table, every task body with the simulator's shapes, sizes, colours,
  masses and poses (read back from pybullet, so a Gazebo run and a pybullet run of one
  seed start from the same scene), lights, the systems gz sim needs, and the RGB-D camera
  with the simulator's intrinsics and pose. Gazebo cameras look along their link's x axis;
  the sensor is posed so that the optical frame (z forward, x right, y down) is exactly
  the simulator's camera_pose, and its messages carry that frame's id (``gz_frame_id``);
- ``panda.urdf``: the Panda from pybullet_data with its meshes as absolute file URIs, fixed
  to the world, ``ros2_control`` tags for gz_ros2_control (position-controlled arm and
  fingers) and the plugin that loads ``config/gazebo_controllers.yaml``;
- ``camera.yaml``: the camera's optical frame in the base frame, for the static transform
  the launch file publishes (a stand-in for a hand-eye calibration);
- ``scene.json``: the objects (name, kind, position, yaw), for checks.

Nothing here needs Gazebo; ``ign sdf -k world.sdf`` checks the result where SDFormat is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pybullet as p
import pybullet_data
import yaml

from vla_grounding.perception.transforms import matrix_to_pose_list, matrix_to_quaternion

CAMERA_TOPIC = "rgbd_camera"  # gz topics: rgbd_camera/image, /depth_image, /camera_info, /points
ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
FINGER_JOINTS = ["panda_finger_joint1", "panda_finger_joint2"]
# Gazebo camera link frame -> ROS optical frame: optical z = link x, optical x = -link y, optical y = -link z
LINK_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _pose(parent: ET.Element, position, quat_xyzw) -> ET.Element:
    el = ET.SubElement(parent, "pose", rotation_format="quat_xyzw")
    el.text = _fmt([*position, *quat_xyzw])
    return el


def _geometry(parent: ET.Element, geom_type: int, dims) -> None:
    geometry = ET.SubElement(parent, "geometry")
    if geom_type == p.GEOM_BOX:
        ET.SubElement(ET.SubElement(geometry, "box"), "size").text = _fmt(dims[:3])
    elif geom_type == p.GEOM_CYLINDER:  # pybullet: (length, radius) in dims[0:2]
        cyl = ET.SubElement(geometry, "cylinder")
        ET.SubElement(cyl, "radius").text = _fmt([dims[1]])
        ET.SubElement(cyl, "length").text = _fmt([dims[0]])
    elif geom_type == p.GEOM_SPHERE:
        ET.SubElement(ET.SubElement(geometry, "sphere"), "radius").text = _fmt([dims[0]])
    else:
        raise ValueError(f"pybullet geometry type {geom_type} has no SDF export")


def body_model(bc, uid: int, name: str, static: bool) -> ET.Element:
    """An SDF <model> of a pybullet body: visual and collision shapes, pose, mass and inertia."""
    model = ET.Element("model", name=name)
    ET.SubElement(model, "static").text = "true" if static else "false"
    pos, orn = bc.getBasePositionAndOrientation(uid)
    _pose(model, pos, orn)
    link = ET.SubElement(model, "link", name="link")
    if not static:
        mass, _, inertia_diag = bc.getDynamicsInfo(uid, -1)[:3]
        inertial = ET.SubElement(link, "inertial")
        ET.SubElement(inertial, "mass").text = _fmt([mass])
        inertia = ET.SubElement(inertial, "inertia")
        for tag, value in zip(("ixx", "iyy", "izz"), inertia_diag, strict=True):
            ET.SubElement(inertia, tag).text = _fmt([max(value, 1e-8)])
        for tag in ("ixy", "ixz", "iyz"):
            ET.SubElement(inertia, tag).text = "0"
    for i, shape in enumerate(bc.getVisualShapeData(uid)):
        if shape[1] != -1:
            continue
        visual = ET.SubElement(link, "visual", name=f"visual_{i}")
        _pose(visual, shape[5], shape[6])
        _geometry(visual, shape[2], shape[3])
        material = ET.SubElement(visual, "material")
        ET.SubElement(material, "ambient").text = _fmt(shape[7])
        ET.SubElement(material, "diffuse").text = _fmt(shape[7])
    for i, shape in enumerate(bc.getCollisionShapeData(uid, -1)):
        collision = ET.SubElement(link, "collision", name=f"collision_{i}")
        _pose(collision, shape[5], shape[6])
        _geometry(collision, shape[2], shape[3])
    return model


def camera_model(camera_pose: np.ndarray, intrinsics, rate: float, frame_id: str) -> ET.Element:
    """A static model holding the RGB-D sensor, posed so its optical frame is ``camera_pose``."""
    rot = camera_pose[:3, :3] @ LINK_FROM_OPTICAL.T
    model = ET.Element("model", name="rgbd_camera")
    ET.SubElement(model, "static").text = "true"
    _pose(model, camera_pose[:3, 3], matrix_to_quaternion(rot))
    link = ET.SubElement(model, "link", name="link")
    sensor = ET.SubElement(link, "sensor", name="rgbd_camera", type="rgbd_camera")
    ET.SubElement(sensor, "always_on").text = "true"
    ET.SubElement(sensor, "update_rate").text = _fmt([rate])
    ET.SubElement(sensor, "topic").text = CAMERA_TOPIC
    ET.SubElement(sensor, "gz_frame_id").text = frame_id
    camera = ET.SubElement(sensor, "camera")
    ET.SubElement(camera, "horizontal_fov").text = _fmt([2 * np.arctan(intrinsics.width / (2 * intrinsics.fx))])
    image = ET.SubElement(camera, "image")
    ET.SubElement(image, "width").text = str(int(intrinsics.width))
    ET.SubElement(image, "height").text = str(int(intrinsics.height))
    ET.SubElement(image, "format").text = "R8G8B8"
    clip = ET.SubElement(camera, "clip")
    ET.SubElement(clip, "near").text = "0.1"
    ET.SubElement(clip, "far").text = "5"
    lens = ET.SubElement(ET.SubElement(camera, "lens"), "intrinsics")
    for tag, value in (("fx", intrinsics.fx), ("fy", intrinsics.fy), ("cx", intrinsics.cx), ("cy", intrinsics.cy),
                       ("s", 0.0)):
        ET.SubElement(lens, tag).text = _fmt([value])
    return model


def _plugin(parent: ET.Element, filename: str, name: str, **children: str) -> None:
    plugin = ET.SubElement(parent, "plugin", filename=filename, name=name)
    for tag, text in children.items():
        ET.SubElement(plugin, tag).text = text


def world_sdf(env, frame_id: str = "camera_color_optical_frame", rate: float = 30.0) -> str:
    """The SDF text of ``env``'s current scene (call after ``env.reset(seed)``)."""
    sdf = ET.Element("sdf", version="1.9")
    world = ET.SubElement(sdf, "world", name=f"vla_{env.task_name.replace('-', '_')}_{env.seed}")
    physics = ET.SubElement(world, "physics", name="1ms", type="ignored")
    ET.SubElement(physics, "max_step_size").text = "0.001"
    ET.SubElement(physics, "real_time_factor").text = "1.0"
    _plugin(world, "gz-sim-physics-system", "gz::sim::systems::Physics")
    _plugin(world, "gz-sim-user-commands-system", "gz::sim::systems::UserCommands")
    _plugin(world, "gz-sim-scene-broadcaster-system", "gz::sim::systems::SceneBroadcaster")
    _plugin(world, "gz-sim-sensors-system", "gz::sim::systems::Sensors", render_engine="ogre2")
    ET.SubElement(world, "gravity").text = "0 0 -9.8"
    light = ET.SubElement(world, "light", type="directional", name="sun")
    ET.SubElement(light, "cast_shadows").text = "true"
    _pose(light, [0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 1.0])
    ET.SubElement(light, "diffuse").text = "0.9 0.9 0.9 1"
    ET.SubElement(light, "specular").text = "0.2 0.2 0.2 1"
    ET.SubElement(light, "direction").text = "-0.3 0.2 -0.9"
    bc = env.bc
    world.append(body_model(bc, env.table_uid, "table", static=True))
    for uid, body in env.scene.bodies.items():
        world.append(body_model(bc, uid, body.name.replace(" ", "_") + f"_{uid}", static=not body.movable))
    world.append(camera_model(env.camera_pose, env.intrinsics, rate, frame_id))
    ET.indent(sdf)
    return '<?xml version="1.0"?>\n' + ET.tostring(sdf, encoding="unicode") + "\n"


def panda_urdf(controllers_yaml: str) -> str:
    """pybullet_data's Panda for gz_ros2_control: absolute mesh URIs, fixed base, ros2_control tags, the plugin."""
    root = Path(pybullet_data.getDataPath()) / "franka_panda"
    robot = ET.fromstring((root / "panda.urdf").read_text())
    for mesh in robot.iter("mesh"):
        mesh.set("filename", "file://" + str(root / mesh.get("filename").removeprefix("package://")))
    ET.SubElement(robot, "link", name="world")
    fixed = ET.SubElement(robot, "joint", name="world_to_panda", type="fixed")
    ET.SubElement(fixed, "parent", link="world")
    ET.SubElement(fixed, "child", link="panda_link0")
    ET.SubElement(fixed, "origin", xyz="0 0 0", rpy="0 0 0")
    for joint in robot.iter("joint"):
        if joint.get("name") == FINGER_JOINTS[1] and joint.find("mimic") is None:
            ET.SubElement(joint, "mimic", joint=FINGER_JOINTS[0], multiplier="1", offset="0")
    control = ET.SubElement(robot, "ros2_control", name="GazeboSimSystem", type="system")
    ET.SubElement(ET.SubElement(control, "hardware"), "plugin").text = "gz_ros2_control/GazeboSimSystem"
    for name in [*ARM_JOINTS, FINGER_JOINTS[0]]:
        joint = ET.SubElement(control, "joint", name=name)
        ET.SubElement(joint, "command_interface", name="position")
        ET.SubElement(joint, "state_interface", name="position")
        ET.SubElement(joint, "state_interface", name="velocity")
    gazebo = ET.SubElement(robot, "gazebo")
    plugin = ET.SubElement(gazebo, "plugin", filename="gz_ros2_control-system",
                           name="gz_ros2_control::GazeboSimROS2ControlPlugin")
    ET.SubElement(plugin, "parameters").text = controllers_yaml
    ET.indent(robot)
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"


def export(task: str, seed: int, out: str | Path, tool: str = "gripper", frame_id: str = "camera_color_optical_frame",
           base_frame: str = "panda_link0") -> dict[str, str]:
    """Write world.sdf, panda.urdf, camera.yaml and scene.json to ``out``; their paths."""
    from vla_grounding.nodes.processes import package_file
    from vla_grounding.sim.env import TabletopEnv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with TabletopEnv(task, tool=tool) as env:
        env.reset(seed)
        paths = {"world": out / "world.sdf", "robot": out / "panda.urdf", "camera": out / "camera.yaml",
                 "scene": out / "scene.json"}
        paths["world"].write_text(world_sdf(env, frame_id))
        paths["robot"].write_text(panda_urdf(str(package_file("config/gazebo_controllers.yaml"))))
        paths["camera"].write_text(yaml.safe_dump({
            "parent_frame": base_frame, "child_frame": frame_id,
            "camera_pose": [round(v, 6) for v in matrix_to_pose_list(env.camera_pose)]}))
        objects = [{k: (np.asarray(v).round(6).tolist() if isinstance(v, np.ndarray) else v) for k, v in o.items()}
                   for o in env.objects()]
        paths["scene"].write_text(json.dumps({"task": task, "seed": seed, "instruction": env.instruction,
                                              "objects": objects}, indent=1))
    return {k: str(v) for k, v in paths.items()}


def main(argv: list[str]) -> int:
    from vla_grounding.sim.tasks import TASKS

    ap = argparse.ArgumentParser(prog="vla-grounding export-gazebo", description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, choices=sorted(TASKS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="directory for world.sdf, panda.urdf, camera.yaml, scene.json")
    args = ap.parse_args(argv)
    if args.seed < 0:
        ap.error("--seed must be >= 0")
    paths = export(args.task, args.seed, args.out)
    for kind, path in paths.items():
        print(f"{kind}: {os.path.relpath(path)}")
    print(f"check: ign sdf -k {os.path.relpath(paths['world'])}   run: ros2 launch vla_grounding gazebo.launch.py "
          f"world_dir:={os.path.abspath(args.out)}", file=sys.stderr)
    return 0
