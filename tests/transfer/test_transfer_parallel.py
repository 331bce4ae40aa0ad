"""The ladder's PyBullet episodes on Ray workers give the serial ladder's numbers, to the last bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dreamgym.transfer.gaps import GAP_PRESETS, parse_gap
from dreamgym.transfer.ladder import PyBulletRung, run_ladder

STEPS = 30  # episode cap: enough steps for the gaps' noise, latency and masses to change the returns


class _LinearPolicy:
    """A fixed linear policy: deterministic, and it pickles (it is sent to the workers)."""

    def __init__(self) -> None:
        self.weights = np.random.default_rng(0).normal(0.0, 0.5, (15, 3)).astype(np.float32)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.tanh(obs @ self.weights)


def test_two_ray_workers_give_the_serial_ladder(ray_cluster) -> None:
    # Hopper: its env plays its first episode differently from later ones, which the workers must reproduce
    rungs = [
        PyBulletRung(None, "nominal", STEPS),
        PyBulletRung(parse_gap("moderate"), "moderate", STEPS),
        PyBulletRung(parse_gap("random:mild"), "random mild", STEPS),
    ]
    kwargs = dict(episodes=3, seed=11, robustness_gap=GAP_PRESETS["harsh"], robustness_strengths=(0.0, 0.5))
    serial = run_ladder(_LinearPolicy(), "Hopper", rungs, progress=False, **kwargs)
    fanned = run_ladder(_LinearPolicy(), "Hopper", rungs, progress=False, workers=2, **kwargs)
    assert fanned.to_dict() == serial.to_dict()
    returns = [r.returns for r in serial.rungs]
    assert len(set(returns)) == len(returns)  # the rungs differ, so equal ladders are not equal by accident
    assert len(set(returns[0])) == 3  # and so do the episodes within a rung


def test_evaluate_on_workers_reports_the_serial_ladder(
    ray_cluster, trained_checkpoint: Path, untrained_policy: Path, tmp_path: Path
) -> None:
    from dreamgym.cli import main

    argv = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy), "--episodes", "2"]
    argv += ["--gaps", "moderate", "--robustness", "none", "--max-episode-steps", "25", "--no-fidelity", "--no-audit"]
    argv += ["--no-video", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
    assert main([*argv, "--out", str(tmp_path / "fanned"), "--workers", "2"]) == 0
    serial, fanned = (json.loads((tmp_path / name / "figures.json").read_text()) for name in ("serial", "fanned"))
    assert fanned["figures"] == serial["figures"]  # the ladder, its baseline and their figures
    assert "PyBullet + moderate gap" in json.dumps(serial["figures"])  # which hold the fanned-out rungs
