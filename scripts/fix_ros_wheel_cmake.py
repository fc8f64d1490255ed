"""Point the ROS wheels' exported CMake targets at this venv's Python and numpy headers.

The registry's ROS 2 wheels were built in a manylinux container, and their
``*_rosidl_generator_pyExport.cmake`` files name that container's include directories;
CMake then refuses to use the targets ("imported target includes non-existent path") when
colcon builds our interfaces. Rewriting them once inside the venv keeps the product's
CMakeLists.txt free of workarounds. Idempotent.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

PY_INCLUDE = re.compile(r"/opt/python/[^/;\"]+/include/python3\.\d+")
NUMPY_INCLUDE = re.compile(r"/opt/python/[^;\"]*?/site-packages/numpy/_?core/include")


def fix(venv: Path) -> int:
    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    changed = 0
    for path in (venv / "share").rglob("*.cmake"):
        text = path.read_text()
        new = NUMPY_INCLUDE.sub(np_include, PY_INCLUDE.sub(py_include, text))
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


if __name__ == "__main__":
    n = fix(Path(sys.argv[1]))
    print(f"[setup] CMake include paths rewritten in {n} file(s)" if n else "[setup] CMake include paths already fixed")
