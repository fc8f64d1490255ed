"""vla_grounding: language-grounded pick and place for ROS 2 (CLIP region grounding, CLIPort)."""

__version__ = "0.1.0"
