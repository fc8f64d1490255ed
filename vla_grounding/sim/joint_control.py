"""The simulator's joint trajectory controller: what ros2_controllers' joint_trajectory_controller
does for a real arm, for the kinematic Panda (no ROS here; sim_node wires it to the topic and action).

The desired state is the commanded trajectory, linearly interpolated in simulated time from
where the arm was when it arrived (a new trajectory replaces the running one, as the
controller's topic interface does). The arm follows it through its motors: each joint moves
at most its velocity limit per step, so a trajectory that asks for more falls behind, and
that shows as a path-tolerance violation. Stopping holds the arm where it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_grounding.motion.cartesian import JointPath

# FollowJointTrajectory result codes (control_msgs), mirrored so the simulator stays ROS-free
SUCCESSFUL, INVALID_GOAL, INVALID_JOINTS, PATH_TOLERANCE_VIOLATED, GOAL_TOLERANCE_VIOLATED = 0, -1, -2, -4, -5
STOPPED = 1  # not a control_msgs code: cancelled, preempted by a newer trajectory, or stopped


@dataclass
class Tolerances:
    """Per joint, in the robot's joint order; 0 means unchecked (the controller's defaults are 0 too)."""

    path: np.ndarray
    goal: np.ndarray
    goal_time: float = 0.5  # s after the trajectory's end to get within the goal tolerance


@dataclass
class Outcome:
    code: int
    message: str


@dataclass
class _Active:
    path: JointPath
    tolerances: Tolerances
    elapsed: float = 0.0
    id: int = 0


def trajectory_from_points(joint_names: list[str], points: list[tuple[list[float], float]],
                           robot_joints: list[str], lower: np.ndarray, upper: np.ndarray,
                           q_now: np.ndarray) -> JointPath:
    """A JointPath in the robot's joint order from (positions, time_from_start) points; ValueError names the problem."""
    if sorted(joint_names) != sorted(robot_joints) or len(set(joint_names)) != len(joint_names):
        raise ValueError(f"the trajectory must name each of the arm's joints {robot_joints} once, got {joint_names}")
    if not points:
        raise ValueError("the trajectory has no points")
    order = [joint_names.index(name) for name in robot_joints]
    positions, times = [], []
    for i, (values, t) in enumerate(points):
        if len(values) != len(joint_names):
            raise ValueError(f"point {i} has {len(values)} positions for {len(joint_names)} joints")
        q = np.asarray(values, dtype=float)[order]
        if not np.all(np.isfinite(q)) or not np.isfinite(t):
            raise ValueError(f"point {i} is not finite")
        if np.any(q < lower - 1e-6) or np.any(q > upper + 1e-6):
            bad = [robot_joints[j] for j in np.flatnonzero((q < lower - 1e-6) | (q > upper + 1e-6))]
            raise ValueError(f"point {i} is outside the joint limits of {bad}")
        if t <= (times[-1] if times else 0.0):
            raise ValueError(f"time_from_start must increase from > 0, point {i} has {t:g} s")
        positions.append(q)
        times.append(float(t))
    return JointPath(list(robot_joints), np.asarray(q_now, dtype=float).copy(), np.array(positions), np.array(times))


class TrajectoryFollower:
    """One running trajectory at a time; ``step`` advances the arm by ``dt`` of simulated time."""

    def __init__(self, velocity_limits: np.ndarray) -> None:
        self.velocity_limits = np.asarray(velocity_limits, dtype=float)
        self.active: _Active | None = None
        self.results: dict[int, Outcome] = {}  # finished trajectories by id
        self._next_id = 0
        self._stop_request: tuple[int | None, str] | None = None

    def start(self, path: JointPath, tolerances: Tolerances) -> int:
        """Run ``path`` from now on (replacing any running one, which ends STOPPED); its id."""
        self.stop("replaced by a newer trajectory")
        self._stop_request = None  # a stop asked for before this newer command does not apply to it
        self._next_id += 1
        self.active = _Active(path, tolerances, id=self._next_id)
        return self._next_id

    def stop(self, message: str = "stopped") -> None:
        """Hold the arm where it is; the running trajectory (if any) ends STOPPED with ``message``."""
        if self.active is not None:
            self._finish(Outcome(STOPPED, message))

    def request_stop(self, message: str, goal_id: int | None = None) -> None:
        """Stop at the next :meth:`step` (trajectory ``goal_id`` only, or whichever runs). Safe to
        call without the simulation's lock: the arm cannot move again even if the caller would
        otherwise wait for a render to finish."""
        self._stop_request = (goal_id, message)

    def outcome(self, goal_id: int) -> Outcome | None:
        """The result of trajectory ``goal_id`` once it ended (None while it runs)."""
        return self.results.get(goal_id)

    def running(self) -> bool:
        return self.active is not None

    def _finish(self, outcome: Outcome) -> None:
        self.results[self.active.id] = outcome
        if len(self.results) > 100:
            del self.results[min(self.results)]
        self.active = None

    def step(self, q: np.ndarray, dt: float) -> np.ndarray:
        """The arm's joint positions after ``dt``; ends the trajectory on success or a tolerance violation."""
        request, self._stop_request = self._stop_request, None
        if request is not None and self.active is not None and request[0] in (None, self.active.id):
            self.stop(request[1])
        a = self.active
        if a is None:
            return q
        a.elapsed += dt
        want = a.path.sample(a.elapsed)
        limit = self.velocity_limits * dt
        q_next = q + np.clip(want - q, -limit, limit)
        error = want - q_next
        names = a.path.joint_names
        over = (a.tolerances.path > 0) & (np.abs(error) > a.tolerances.path)
        if a.elapsed < a.path.duration and np.any(over):
            j = int(np.flatnonzero(over)[0])
            self._finish(Outcome(PATH_TOLERANCE_VIOLATED, f"path tolerance violated: joint {names[j]} is "
                                 f"{abs(error[j]):.3f} rad from the trajectory (tolerance {a.tolerances.path[j]:g})"))
            return q_next
        if a.elapsed >= a.path.duration:
            goal_error = np.abs(a.path.end - q_next)
            tol = np.where(a.tolerances.goal > 0, a.tolerances.goal, 1e-3)
            if np.all(goal_error <= tol):
                self._finish(Outcome(SUCCESSFUL, "trajectory executed"))
            elif a.elapsed > a.path.duration + a.tolerances.goal_time:
                j = int(np.argmax(goal_error - tol))
                self._finish(Outcome(GOAL_TOLERANCE_VIOLATED, f"goal tolerance violated: joint {names[j]} is "
                                     f"{goal_error[j]:.3f} rad from its goal {a.tolerances.goal_time:g} s after the end"))
        return q_next
