"""``vla-grounding eval``: run a policy on simulated test episodes and score it as Ravens does.

Test episodes are the odd seeds 1, 3, 5, ... (``--first-seed``/``--seed-offset`` move the
window). An episode's score is its total reward (0..1, partial credit per goal);
``mean_score`` is the mean over episodes x 100, ``success_rate`` the share of episodes
with total reward above 0.99. A policy's ``GroundingRefused`` uses up that step
without motion and earns nothing; a plan outside the workspace is rejected the same way.
With ``--json`` the last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from vla_grounding.perception.fiducials import SIM_LAYOUT, refined
from vla_grounding.policy import GroundingRefused

SUCCESS = 0.99


def run_episode(env, policy, seed: int, max_steps: int | None = None) -> dict:
    """One episode; ``policy`` None means the simulator's oracle. With ``env.fiducials`` the
    policy gets each frame with its camera pose refined by the markers (as grounding_node does)."""
    frame = env.reset(seed)
    if max_steps is not None:
        env.max_steps = min(env.max_steps, max_steps)
    refused = rejected = 0
    t_act = 0.0
    shifts: list[float] = []
    unseen = 0
    while not env.done:
        t0 = time.perf_counter()
        if env.fiducials is not None and policy is not None:
            try:
                frame, found = refined(frame, env.workspace, env.fiducials)
                shifts.append(found.shift_m)
            except ValueError:
                unseen += 1  # as grounding_node: the calibrated pose, unrefined
        try:
            plan = env.oracle() if policy is None else policy.act(frame, env.instruction)
        except GroundingRefused as exc:
            plan, why = None, f"refused: {exc}"
        else:
            why = "oracle has no move left"
        t_act += time.perf_counter() - t0
        if plan is None:
            refused += 1
            env.end_step(False, why)
        else:
            result = env.step(plan)
            rejected += int(result.message.startswith("rejected"))
        if not env.done and policy is not None:  # the oracle reads the simulator, not images
            frame = env.render()
    return {
        "seed": seed,
        "score": float(env.score),
        "steps": env.steps,
        "refused": refused,
        "rejected": rejected,
        "act_seconds": t_act,
        "fiducial_shift_m": float(np.median(shifts)) if shifts else None,
        "fiducials_unseen": unseen,
    }


def evaluate(
    task: str,
    policy_name: str = "oracle",
    episodes: int = 100,
    first_seed: int = 1,
    seed_offset: int = 0,
    max_steps: int | None = None,
    checkpoint: str | None = None,
    device: str = "auto",
    render_backend: str = "auto",
    progress=None,
    tool: str = "suction",
    camera: str = "ideal",
    calibration_error: tuple[float, float] = (0.0, 0.0),
    fiducials: bool = False,
    policy_options: dict | None = None,
) -> dict:
    """Mean Ravens score of a policy over ``episodes`` test seeds; ``camera`` (a profile name or
    YAML file) and ``calibration_error`` (metres, degrees) corrupt what the policy sees;
    ``fiducials``: markers on the table (perception.fiducials.SIM_LAYOUT) refine the camera pose;
    ``policy_options``: keyword arguments of the policy's constructor (ablations, e.g. cliport's subcell)."""
    from vla_grounding.sim.camera_effects import CameraProfile
    from vla_grounding.sim.env import TabletopEnv

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    policy = None
    if policy_name != "oracle":
        from vla_grounding.policy import make_policy

        chosen = checkpoint
        if policy_name == "cliport" and not chosen:  # the package's checkpoint for this task, where one is shipped
            from vla_grounding.cliport.policy import shipped_checkpoint

            chosen = str(shipped_checkpoint(task))
        policy = make_policy(policy_name, checkpoint=chosen, device=device, **(policy_options or {}))
    seeds = [first_seed + 2 * (seed_offset + i) for i in range(episodes)]
    results = []
    start = time.perf_counter()
    profile = CameraProfile.load(camera)
    env = TabletopEnv(task, render_backend=render_backend, tool=tool, camera=profile,
                      calibration_error=calibration_error, fiducials=SIM_LAYOUT if fiducials else None)
    try:
        for i, seed in enumerate(seeds):
            t0 = time.perf_counter()
            res = run_episode(env, policy, seed, max_steps)
            res["seconds"] = time.perf_counter() - t0
            results.append(res)
            if progress:
                mean = 100 * np.mean([r["score"] for r in results])
                progress(
                    f"[{i + 1}/{episodes}] seed {seed}: score {100 * res['score']:.1f} in {res['steps']} steps "
                    f"({res['seconds']:.1f} s); mean so far {mean:.1f}"
                )
    finally:
        env.close()
    total = time.perf_counter() - start
    scores = np.array([r["score"] for r in results])
    steps = int(sum(r["steps"] for r in results))
    return {
        "task": task,
        "policy": policy_name,
        "checkpoint": checkpoint,
        "policy_options": policy_options or {},
        "episodes": episodes,
        "seeds": seeds,
        "mean_score": float(100 * scores.mean()),
        "success_rate": float(np.mean(scores > SUCCESS)),
        "seconds_per_episode": total / episodes,
        "seconds_per_step": total / max(steps, 1),
        "policy_seconds_per_step": float(sum(r["act_seconds"] for r in results)) / max(steps, 1),
        "steps": steps,
        "refused_steps": int(sum(r["refused"] for r in results)),
        "rejected_steps": int(sum(r["rejected"] for r in results)),
        "scores": [round(float(s), 4) for s in scores],
        "render_backend": render_backend,
        "tool": tool,
        "camera": profile.as_dict(),
        "calibration_error": list(calibration_error),
        "fiducials": fiducials,
        "fiducial_shift_mm_median": (float(1000 * np.median(shifts)) if (shifts := [
            r["fiducial_shift_m"] for r in results if r["fiducial_shift_m"] is not None]) else None),
        "fiducials_unseen_steps": int(sum(r["fiducials_unseen"] for r in results)),
    }


def main(argv: list[str]) -> int:
    from vla_grounding.sim.tasks import TASKS

    parser = argparse.ArgumentParser(prog="vla-grounding eval", description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--policy", default="oracle", help="oracle, or a name in vla_grounding.policy.POLICIES")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--checkpoint", default=None, help="passed to the policy (cliport default: the package's checkpoint for the task, where one is shipped)")
    parser.add_argument("--device", default="auto", help="passed to the policy (auto, cpu, cuda)")
    parser.add_argument("--first-seed", type=int, default=1, help="first seed (odd seeds are test episodes)")
    parser.add_argument("--seed-offset", type=int, default=0, help="skip this many episodes from --first-seed")
    parser.add_argument("--max-steps", type=int, default=None, help="cap on steps per episode (default: the task's)")
    parser.add_argument("--render-backend", default="auto", choices=("auto", "tiny", "egl"))
    parser.add_argument("--tool", default="suction", choices=("suction", "gripper"),
                        help="the arm's tool in the simulated grasp (sim_node's tool parameter is the same model)")
    parser.add_argument("--camera", default="ideal", help="camera profile: ideal, a name in vla_grounding/sim/cameras "
                        "(realsense-d435, realsense-d455, depth-noise, depth-holes, colour-only, distortion-only) or a YAML file")
    parser.add_argument("--calibration-error", default="0,0", metavar="METRES,DEGREES",
                        help="the camera pose the policy is given is this far off the true one (e.g. 0.01,1.0)")
    parser.add_argument("--fiducials", action="store_true",
                        help="ArUco markers on the table beside the workspace; the policy gets the camera pose they "
                        "correct (as grounding_node's fiducials parameters do)")
    parser.add_argument("--policy-options", default="{}", metavar="JSON",
                        help='keyword arguments for the policy, e.g. \'{"subcell": false}\' (cliport ablations)')
    parser.add_argument("--progress", action="store_true", help="one line per episode on stderr")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line, last")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if args.first_seed < 0 or args.seed_offset < 0:
        parser.error("--first-seed and --seed-offset must be >= 0")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be >= 1")
    try:
        policy_options = json.loads(args.policy_options)
    except json.JSONDecodeError as exc:
        parser.error(f"--policy-options is not JSON: {exc}")
    if not isinstance(policy_options, dict):
        parser.error("--policy-options must be a JSON object")
    if policy_options and args.policy == "oracle":
        parser.error("--policy-options needs a --policy (the oracle has none)")
    if args.first_seed % 2 == 0:
        print("warning: even seeds are training episodes", file=sys.stderr)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    from vla_grounding.sim.camera_effects import parse_calibration_error

    try:
        calibration_error = parse_calibration_error(args.calibration_error)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        res = evaluate(
            args.task,
            args.policy,
            args.episodes,
            args.first_seed,
            args.seed_offset,
            args.max_steps,
            args.checkpoint,
            args.device,
            args.render_backend,
            say if args.progress else None,
            args.tool,
            args.camera,
            calibration_error,
            args.fiducials,
            policy_options,
        )
    except ValueError as exc:
        print(f"vla-grounding eval: {exc}", file=sys.stderr)
        return 2
    sys.stderr.flush()
    if args.json:
        print(json.dumps(res), flush=True)
    else:
        print(
            f"{res['task']} / {res['policy']} / {res['tool']} / camera {res['camera']['name']}: mean score {res['mean_score']:.1f} over {res['episodes']} episodes, "
            f"success {100 * res['success_rate']:.0f} %, {res['seconds_per_episode']:.2f} s per episode"
        )
    return 0
