"""sim_node (placeholder until implemented)."""


def main() -> int:
    raise SystemExit("sim_node is not implemented yet")
