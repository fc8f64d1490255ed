"""grounding_node (placeholder until implemented)."""


def main() -> int:
    raise SystemExit("grounding_node is not implemented yet")
