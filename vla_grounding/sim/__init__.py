"""pybullet tabletop simulator: CLIPort tasks with oracles and Ravens rewards, demos, rendering.

Modules: ``env`` (TabletopEnv, TASKS), ``tasks`` (scenes, goals, rewards, oracles),
``robot`` (Panda + suction), ``camera`` (RGB-D rendering), ``objects`` (primitive bodies),
``colors`` (CLIPort's palette), ``demos`` (recording and loading), ``render`` (PNG).
Importing this package does not import pybullet.
"""
