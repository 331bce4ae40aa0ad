"""``dreamgym/<Task>-robot-v0`` is registered for every vector task, and registering it imports nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_robot_envs_are_registered_by_string_and_import_dreamgym_stays_cheap() -> None:
    code = (
        "import json, sys, gymnasium, dreamgym\n"
        "ids = sorted(i for i in gymnasium.registry if i.endswith('-robot-v0'))\n"
        "spec = gymnasium.registry['dreamgym/Hopper-robot-v0']\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('msgpack', 'torch', 'pybullet') or "
        "m in ('dreamgym.robots.env', 'dreamgym.robots.client'))\n"
        "print(json.dumps({'ids': ids, 'entry': spec.entry_point, 'kwargs': spec.kwargs, 'heavy': heavy}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert "dreamgym/Hopper-robot-v0" in found["ids"] and "dreamgym/PandaReach-robot-v0" in found["ids"]
    assert not any("Pixels" in i for i in found["ids"])  # camera tasks are not served over the bridge
    assert found["entry"] == "dreamgym.robots.env:RobotEnv" and found["kwargs"] == {"task": "Hopper"}
    assert found["heavy"] == []
