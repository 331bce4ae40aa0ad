"""Dreams end where the task's own rule says, and dream contacts as seeded Bernoulli draws or their mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dreamgym.envs.dream_batch import DreamBatch
from dreamgym.tasks import get_task
from dreamgym.world_model import Checkpoint, WorldModel, load_checkpoint, make_config

HOPPER = get_task("Hopper")


def _run(dreams: DreamBatch, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dreams.set_seeds(torch.arange(dreams.num_envs), torch.arange(dreams.num_envs) + seed)
    dreams.reset(torch.ones(dreams.num_envs, dtype=torch.bool))
    for _ in range(steps):
        out = dreams.step(rng.uniform(-1, 1, (dreams.num_envs, dreams.cfg.action_dim)).astype(np.float32))
        yield out._replace(obs=out.obs.copy())  # a reset overwrites the batch's observations in place
        dreams.reset(torch.as_tensor(out.terminated | out.truncated))


def test_dreams_end_by_the_task_rule_or_by_the_continue_head(trained_checkpoint: Path):
    checkpoint = load_checkpoint(trained_checkpoint)
    rule = get_task("InvertedPendulum").termination
    task_ended = 0
    for out in _run(DreamBatch(checkpoint, 32, horizon=50), 40):
        np.testing.assert_array_equal(out.terminated, rule(out.obs))
        task_ended += out.terminated.sum()
    by_head = DreamBatch(checkpoint, 32, horizon=50, termination="model")
    for out in _run(by_head, 40):
        with torch.no_grad():
            cont = by_head.model.decode(by_head.state).cont.numpy()
        np.testing.assert_array_equal(out.terminated, cont < 0.5)
    assert task_ended > 0  # the tiny model's random dreams do tip the pole past 0.2 rad
    either = DreamBatch(checkpoint, 32, horizon=50, termination="either")
    for out in _run(either, 40):
        with torch.no_grad():
            cont = either.model.decode(either.state).cont.numpy()
        np.testing.assert_array_equal(out.terminated, rule(out.obs) | (cont < 0.5))


def test_the_dreamed_cart_moves_by_its_velocity(trained_checkpoint: Path):
    """The cart's position is stepped from the previous observation by the decoded velocity (within the slider's
    bounds), not decoded afresh: a dreamed cart cannot jump farther than its speed takes it."""
    checkpoint = load_checkpoint(trained_checkpoint)
    ((position, velocity, dt),) = checkpoint.model.cfg.obs_layout.integrals
    low, high = checkpoint.model.cfg.obs_layout.low[position], checkpoint.model.cfg.obs_layout.high[position]
    dreams = DreamBatch(checkpoint, 32, horizon=50)
    before, ended, checked = None, None, 0
    for out in _run(dreams, 30):
        if before is not None:
            expected = np.clip(before[:, position] + np.float32(dt) * out.obs[:, velocity], low, high)
            np.testing.assert_allclose(out.obs[~ended, position], expected[~ended], rtol=0, atol=1e-6)
            checked += (~ended).sum()
        before, ended = out.obs, out.terminated | out.truncated  # an ended dream restarts from a real start
    assert checked > 100
    with torch.inference_mode():  # decoded afresh from the same state, the position is another
        free = dreams.model.decode(dreams.state).obs[:, position]
        stepped = dreams.model.decode(dreams.state, previous=dreams.obs).obs[:, position]
    assert (free - stepped).abs().max() > 1e-3


def _hopper_checkpoint() -> Checkpoint:
    """A tiny untrained Hopper model in memory, with one start window of zeros."""
    cfg, _ = make_config("debug", 15, 3)
    torch.manual_seed(0)
    model = WorldModel(cfg.with_task_layout(HOPPER.layout)).eval()
    starts = {"obs": torch.zeros(1, 2, 15), "prev_action": torch.zeros(1, 2, 3), "is_first": torch.ones(1, 2)}
    return Checkpoint(model=model, config={"task": "Hopper"}, starts=starts, path=Path("in-memory"))


def test_sampled_contacts_are_seeded_draws_of_the_kept_probability():
    checkpoint = _hopper_checkpoint()
    draws = [list(_run(DreamBatch(checkpoint, 512, 20, binary_sampling="sample"), 5, seed=3)) for _ in range(2)]
    for first, again in zip(*draws, strict=True):
        np.testing.assert_array_equal(first.obs, again.obs)  # the same seeds dream the same contacts
    out = draws[0][0]
    assert set(np.unique(out.obs[:, 14])) <= {0.0, 1.0} and out.binary_prob.shape == (512, 1)
    assert abs(out.obs[:, 14].mean() - out.binary_prob.mean()) < 0.06  # draws follow the probabilities
    mode = next(_run(DreamBatch(checkpoint, 512, 20), 1, seed=3))
    np.testing.assert_array_equal(mode.obs[:, 14], (mode.binary_prob[:, 0] > 0.5).astype(np.float32))


def test_env_info_keeps_the_contact_probability():
    from dreamgym.envs.dream_env import DreamEnv
    from dreamgym.envs.native import set_native_spaces

    env = DreamEnv.__new__(DreamEnv)  # the in-memory checkpoint has no directory to load from
    env.task, env.dreams, env._last_reward = HOPPER, DreamBatch(_hopper_checkpoint(), 1, 20), 0.0
    env.observation_space, env.action_space = set_native_spaces(env, HOPPER, native=False)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(3, np.float32))
    assert info["contact_prob"].shape == (1,) and 0.0 <= info["contact_prob"][0] <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"termination": "oracle"}, r"Unknown termination 'oracle'; expected one of \['task', 'model', 'either'\]"),
        ({"binary_sampling": "coin"}, r"Unknown binary_sampling 'coin'; expected one of \['mode', 'sample'\]"),
    ],
)
def test_unknown_settings_are_refused(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        DreamBatch(_hopper_checkpoint(), 1, 20, **kwargs)
