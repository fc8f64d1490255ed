"""arm_controller_node (placeholder until implemented)."""


def main() -> int:
    raise SystemExit("arm_controller_node is not implemented yet")
