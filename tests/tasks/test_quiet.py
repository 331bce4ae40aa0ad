"""Making and resetting a task's env prints nothing of PyBullet's own to the terminal."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("task", ["Hopper", "PandaReach"])
def test_pybullet_prints_nothing(task: str) -> None:
    code = (
        "from dreamgym.tasks import get_task\n"
        f"env = get_task({task!r}).make_env()\n"
        "env.reset(seed=0); env.reset(); env.step(env.action_space.sample())\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout == "done\n"
    assert "argv" not in out.stderr and "build time" not in out.stderr
