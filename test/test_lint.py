"""The code base passes ruff (configuration in pyproject.toml)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_passes():
    ruff_main = pytest.importorskip("ruff.__main__")
    result = subprocess.run([ruff_main.find_ruff_bin(), "check", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
