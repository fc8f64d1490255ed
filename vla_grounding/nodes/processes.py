"""Start ROS 2 nodes as separate processes, isolated to this machine, and stop them cleanly.

Used by the demo command, the end-to-end tests and the benchmarks: every process they
start gets the same isolated environment (one ROS domain, loopback-only discovery, the
package's Fast DDS profile, ROS_HOME in a private directory), and is ended by its own id.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent


def package_file(relative: str) -> Path:
    """A file of the package's config/ or launch/: the source tree's (symlink install, checkout)
    or the installed share directory's."""
    candidate = SOURCE_ROOT / relative
    if candidate.is_file():
        return candidate
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("vla_grounding")) / relative


def isolated_ros_env(domain_id: int | None = None, ros_home: str | Path | None = None) -> dict[str, str]:
    """Environment variables that keep ROS 2 traffic on loopback in a private domain."""
    if domain_id is None:
        domain_id = random.Random(os.getpid() ^ time.time_ns()).randint(1, 101)
    if not 0 <= domain_id <= 101:
        raise ValueError(f"ROS_DOMAIN_ID must be in 0..101, got {domain_id}")
    home = Path(ros_home) if ros_home else Path(tempfile.mkdtemp(prefix="vla_ros_home_"))
    home.mkdir(parents=True, exist_ok=True)
    return {
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_HOME": str(home),
        "ROS_LOG_DIR": str(home / "log"),
        # Fast DDS 2.x (ROS 2 Jazzy) reads FASTRTPS_..., 3.x (Kilted) FASTDDS_...: set both.
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(package_file("config/fastdds_localhost.xml")),
        "FASTDDS_DEFAULT_PROFILES_FILE": str(package_file("config/fastdds_localhost.xml")),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "PYTHONUNBUFFERED": "1",
    }


def enter_isolated_ros_env() -> tuple[dict[str, str], Path]:
    """:func:`isolated_ros_env` applied to this process too (for a benchmark that starts rclpy
    itself beside its node processes) -> (the variables, the ROS_HOME temp dir)."""
    env = isolated_ros_env()
    os.environ.update(env)
    return env, Path(env["ROS_HOME"])


class NodeProcess:
    """One node (a Python module, a script path ending in .py, or with ``command`` any program
    such as ``ros2 launch``) in its own process.

    Output goes to ``<log_dir>/<name>.log``; ``stop()`` sends SIGINT (as Ctrl-C does) and
    escalates to SIGTERM/SIGKILL only if the process does not end.
    """

    def __init__(
        self,
        module: str,
        args: list[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        log_dir: str | Path | None = None,
        name: str | None = None,
        command: bool = False,
    ) -> None:
        """``command``: ``module`` is a program on PATH (or a path), run with ``args``."""
        self.name = name or (Path(module).stem if module.endswith(".py") else module.rsplit(".", 1)[-1])
        # -P: do not put the working directory first on sys.path, where a source checkout (no
        # generated msg/srv/action) would shadow the installed package.
        target = [module] if module.endswith(".py") else ["-P", "-m", module]
        self.cmd = [module, *(args or [])] if command else [sys.executable, *target, *(args or [])]
        self.env = {**os.environ, **(env or {})}
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="vla_nodes_"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> NodeProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "process not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGINT) -> int | None:
        """Ask the process to stop (SIGINT like Ctrl-C), escalate if it does not; return its exit code."""
        if self.proc is None:
            return None
        for s, wait in ((sig, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(s)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.proc.returncode


def clean_fastdds_shm() -> None:
    """Remove Fast DDS shared-memory files left by processes that no longer exist."""
    tool = shutil.which("fastdds")
    if tool:
        subprocess.run([tool, "shm", "clean"], capture_output=True, timeout=30, check=False)


def fastdds_shm_files() -> set[str]:
    """Fast DDS shared-memory segments, ports and locks currently in /dev/shm."""
    shm = Path("/dev/shm")
    return {p.name for p in shm.iterdir() if "fastrtps" in p.name or "fastdds" in p.name} if shm.is_dir() else set()


def ros_params_args(node_name: str, overrides: dict | None = None, base: str = "config/sim.yaml",
                    tmp_dir: str | Path | None = None) -> list[str]:
    """``--ros-args`` for a node: the package's ``base`` YAML, then ``overrides`` for that node.

    Overrides go through a second parameter file under the node's own name, because a
    ``-p name:=value`` override is a ``/**`` rule and loses to the node's section in ``base``.
    """
    args = ["--ros-args", "--params-file", str(package_file(base))]
    if overrides:
        import yaml

        path = Path(tmp_dir or tempfile.mkdtemp(prefix="vla_params_")) / f"{node_name}_overrides.yaml"
        # /**/: the overrides reach the node in any namespace (a bare name matches the root namespace only)
        path.write_text(yaml.safe_dump({f"/**/{node_name}": {"ros__parameters": overrides}}))
        args += ["--params-file", str(path)]
    return args
