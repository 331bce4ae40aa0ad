"""One tiny online Dreamer run shared by the tests of the policy and the loop."""

from pathlib import Path

import pytest

from agents.online import OnlineConfig, OnlineTrainer

# The debug preset updates on 4 x 16 windows; 16 replayed steps per real step make one update every 4 steps, so the
# 160 steps after the prefill give 40 updates: seconds, yet every part of the loop runs (prefill, acting with the
# policy, updates, two evaluations, two checkpoints, episodes ending and starting mid-run).
TINY = OnlineConfig(
    task="InvertedPendulum",
    steps=240,
    num_envs=2,
    preset="debug",
    prefill=80,
    train_ratio=16.0,
    eval_every=120,
    eval_episodes=2,
    checkpoint_every=120,
    log_every=40,
    seed=0,
)


@pytest.fixture(scope="module")
def online_run(tmp_path_factory: pytest.TempPathFactory) -> OnlineTrainer:
    """A finished TINY run (read-only: its directory is ``trainer.out``)."""
    trainer = OnlineTrainer(TINY, Path(tmp_path_factory.mktemp("online")) / "run", progress=False)
    trainer.run()
    trainer.close()
    return trainer
