"""pip install of the ROS-free core (perception, grounding, CLIPort, simulator, CLI).

On a ROS 2 install, colcon builds the package with CMakeLists.txt instead (it also
generates the msg/srv/action interfaces, which this install does not have).
"""

from setuptools import find_packages, setup

setup(
    name="vla_grounding",
    version="0.1.0",
    description="Language-grounded tabletop pick and place: CLIP region grounding and CLIPort for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["vla_grounding", "vla_grounding.*"]),
    package_data={"vla_grounding": ["models/*/*.json", "models/*/*.safetensors", "sim/assets/*", "sim/cameras/*.yaml"]},
    install_requires=["numpy", "pillow", "pyyaml", "pybullet", "torch", "open-clip-torch", "safetensors"],
    extras_require={"test": ["pytest", "ruff"]},
    entry_points={"console_scripts": ["vla-grounding = vla_grounding.cli:main"]},
)
