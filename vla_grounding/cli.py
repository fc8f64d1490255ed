"""``vla-grounding`` command line: demo | demos | eval | train | render | export-gazebo | markers.

Each subcommand lives in the module that owns the work; this file only parses the
first word and hands the rest of the arguments over, so importing the CLI stays cheap
(no torch, no pybullet, no rclpy until a subcommand needs them).
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, help). The module exposes ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("vla_grounding.nodes.demo", "run sim + grounding + arm controller as ROS nodes and execute one instruction"),
    "demos": ("vla_grounding.sim.demos", "record oracle demonstrations of a simulated task"),
    "eval": ("vla_grounding.evaluation", "evaluate a policy on simulated test episodes (Ravens scoring)"),
    "train": ("vla_grounding.training", "train the small CLIP (train clip) or a CLIPort policy (train cliport)"),
    "render": ("vla_grounding.sim.render", "write the simulated camera's view of a scene to PNG"),
    "export-gazebo": ("vla_grounding.sim.gazebo_export", "write a simulated scene as a Gazebo world (SDF) + robot URDF"),
    "markers": ("vla_grounding.markers", "write print-ready ArUco markers for grounding_node's fiducials"),
}


def _usage() -> str:
    lines = ["usage: vla-grounding <command> [options]", "", "commands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'vla-grounding <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"vla-grounding: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
