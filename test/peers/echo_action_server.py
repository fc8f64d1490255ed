"""Test peer: a minimal ExecuteInstruction server that walks the stages and echoes the goal.

Runs until SIGINT, which it handles as a clean shutdown (exit 0).
"""

import sys
import time

import rclpy
from rclpy.action import ActionServer
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from vla_grounding.action import ExecuteInstruction

STAGES = ["grounding", "approach_pick", "grasp", "move_to_place", "release", "retreat"]


class EchoServer(Node):
    def __init__(self) -> None:
        super().__init__("echo_action_server")
        self._server = ActionServer(self, ExecuteInstruction, "execute_instruction", self._execute)

    def _execute(self, goal_handle):
        goal = goal_handle.request
        for i, stage in enumerate(STAGES):
            feedback = ExecuteInstruction.Feedback(stage=stage, progress=(i + 1) / len(STAGES))
            goal_handle.publish_feedback(feedback)
            time.sleep(0.02)
        goal_handle.succeed()
        result = ExecuteInstruction.Result(success=True, message=f"echo: {goal.instruction}")
        result.pick_place.instruction = goal.instruction
        result.pick_place.policy = "echo"
        result.pick_place.pick_confidence = float(goal.min_confidence)
        result.grounding_seconds = 0.25
        return result


def main() -> int:
    rclpy.init()
    node = EchoServer()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
