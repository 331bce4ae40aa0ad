"""MBPO's parts on small real data: the rollout schedule, real and imagined transitions, branched rollouts."""

import numpy as np
import pytest
import torch

from agents.dreamer.replay import ReplayBuffer
from agents.mbpo import MBPOConfig, MixedReplay, ModelBuffer, branched_rollouts
from dreamgym.world_model import WorldModel, make_config


def test_rollout_length_grows_linearly_between_its_steps() -> None:
    cfg = MBPOConfig(rollout_schedule=(20_000, 100_000, 1, 15))
    lengths = [cfg.rollout_length(s) for s in (0, 20_000, 60_000, 100_000, 500_000)]
    assert lengths == [1, 1, 8, 15, 15]
    assert MBPOConfig(rollout_schedule=(0, 0, 3, 5)).rollout_length(1) == 5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("real_ratio", 1.5, "real_ratio"),
        ("utd", 0.0, "positive `utd`"),
        ("rollout_schedule", (10, 5, 1, 2), "start_step <= end_step"),
        ("rollout_schedule", (0, 5, 0, 2), "1 <= min_length"),
        ("batch_size", 0, "positive `batch_size`"),
        ("net_arch", (), "one or more positive layer widths"),
        ("net_arch", (64, 0), "one or more positive layer widths"),
    ],
)
def test_bad_settings_are_refused_by_name(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MBPOConfig(**{field: value})


def _replay() -> ReplayBuffer:
    """Two envs, 12 rows each, observations numbering the rows; env 0 resets at row 5, env 1 terminates at row 7."""
    replay = ReplayBuffer(num_envs=2, capacity=12, obs_dim=2, action_dim=1)
    for k in range(12):
        obs = np.array([[k, 0.0], [k, 1.0]], np.float32)
        is_first = np.array([k in (0, 5), k in (0, 8)])
        terminal = np.array([False, k == 7])
        replay.add(obs, np.full((2, 1), k, np.float32), np.array([k, -k], np.float32), is_first, terminal)
    return replay


def test_real_transitions_never_cross_an_episode_boundary() -> None:
    batch = _replay().sample_transitions(2000, np.random.default_rng(0))
    obs, next_obs = batch["obs"][:, 0], batch["next_obs"][:, 0]
    assert (next_obs == obs + 1).all()
    assert (batch["action"][:, 0] == next_obs).all()  # the action stored with row k + 1 is the one taken at row k
    env1 = batch["obs"][:, 1] == 1
    assert not ((obs == 4) & ~env1).any() and not ((obs == 7) & env1).any()  # the rows before a reset
    assert (batch["done"][env1 & (next_obs == 7)] == 1).all() and batch["done"].sum() == (env1 & (next_obs == 7)).sum()
    assert (batch["reward"] == torch.where(env1, -next_obs, next_obs)).all()


def test_the_model_buffer_keeps_the_newest_transitions() -> None:
    buffer = ModelBuffer(capacity=5, obs_dim=1, action_dim=1)
    for start in (0, 3, 6):
        values = torch.arange(start, start + 3, dtype=torch.float32)
        buffer.add({k: values[:, None] if k in ("obs", "next_obs", "action") else values for k in _KEYS})
    assert len(buffer) == 5
    assert sorted(buffer.data["obs"][:, 0].tolist()) == [4, 5, 6, 7, 8]
    restored = ModelBuffer(capacity=5, obs_dim=1, action_dim=1)
    restored.load_state_dict(buffer.state_dict(), buffer.position)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert torch.equal(buffer.sample(8, rng_a)["obs"], restored.sample(8, rng_b)["obs"])


_KEYS = ("obs", "action", "reward", "next_obs", "done")


def test_mixed_batches_hold_the_real_share() -> None:
    model = ModelBuffer(capacity=100, obs_dim=2, action_dim=1)
    mixed = MixedReplay(_replay(), model, real_ratio=0.25, seed=0)
    assert (mixed.sample(64).observations[:, 0] < 12).all()  # nothing imagined yet: all real
    model.add({k: torch.full((100, 2) if "obs" in k else (100, 1) if k == "action" else (100,), 99.0) for k in _KEYS})
    batch = mixed.sample(64)
    assert (batch.observations[:, 0] < 12).sum() == 16 and batch.rewards.shape == batch.dones.shape == (64, 1)


def test_branched_rollouts_start_real_and_stop_where_the_rule_ends_them() -> None:
    torch.manual_seed(0)
    cfg, _ = make_config("debug", obs_dim=3, action_dim=2)
    model = WorldModel(cfg).eval()
    start_obs = torch.randn(32, 3)
    posts = model.observe(start_obs[:, None], torch.zeros(32, 1, 2), torch.ones(32, 1, dtype=torch.bool))
    start = posts.index((slice(None), 0))

    def ends_above_zero(obs: torch.Tensor) -> torch.Tensor:
        return obs[:, 0] > 0.0

    def act(obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(obs[:, :2])

    out = branched_rollouts(model, start, start_obs, act, 4, ends_above_zero)
    assert torch.equal(out["obs"][:32], start_obs) and torch.equal(out["action"][:32], act(start_obs))
    assert torch.equal(out["done"].bool(), out["next_obs"][:, 0] > 0)
    alive, offset = 32, 0
    for _ in range(4):  # each step continues exactly the rollouts the previous one did not end
        step_done = out["done"][offset : offset + alive]
        offset, alive = offset + alive, alive - int(step_done.sum())
        if alive == 0:
            break
    assert offset == len(out["obs"])
    torch.manual_seed(1)
    with torch.inference_mode():  # one step from the starts is the model's own prior step and decode
        state, _ = model.rssm.img_step(start, act(start_obs))
    torch.manual_seed(1)
    one = branched_rollouts(model, start, start_obs, act, 1, None)
    assert len(one["obs"]) == 32 and torch.allclose(one["next_obs"], model.decode(state).obs)


def _ensemble_rollout_setup(heads: int) -> tuple[WorldModel, object, torch.Tensor]:
    torch.manual_seed(0)
    cfg, _ = make_config("debug", obs_dim=3, action_dim=2, ensemble=heads)
    model = WorldModel(cfg).eval()
    start_obs = torch.randn(64, 3)
    posts = model.observe(start_obs[:, None], torch.zeros(64, 1, 2), torch.ones(64, 1, dtype=torch.bool))
    return model, posts.index((slice(None), 0)), start_obs


def _act(obs: torch.Tensor) -> torch.Tensor:
    return torch.tanh(obs[:, :2])


def _never_ends(obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(obs), dtype=torch.bool)


def test_rollouts_sample_a_head_per_step_and_stop_where_the_heads_disagree() -> None:
    model, start, start_obs = _ensemble_rollout_setup(heads=3)
    torch.manual_seed(1)
    full = branched_rollouts(model, start, start_obs, _act, 4, _never_ends)
    assert len(full["obs"]) == 64 * 4  # no end, no trust limit: every rollout runs its length
    with torch.inference_mode():
        head0, _ = model.rssm.img_step(start, _act(start_obs))
    assert not torch.allclose(full["next_obs"][:64], model.decode(head0).obs)  # not head 0 alone
    torch.manual_seed(1)
    trusted = branched_rollouts(model, start, start_obs, _act, 4, _never_ends, trust_quantile=0.5)
    assert torch.equal(trusted["obs"][:64], start_obs)  # the first step, from real states, is always kept
    assert 64 < len(trusted["obs"]) < 64 * 4  # later steps stop where the untrained heads disagree
    with pytest.raises(ValueError, match=r"`trust_quantile` in \(0, 1\]"):
        branched_rollouts(model, start, start_obs, _act, 4, None, trust_quantile=0.0)


def test_heads_that_agree_are_trusted_however_low_the_quantile() -> None:
    model, start, start_obs = _ensemble_rollout_setup(heads=3)
    with torch.no_grad():  # every head a copy of the first: their disagreement is zero everywhere
        for parameter in model.rssm.prior_net.parameters():
            parameter.copy_(parameter[:1].expand_as(parameter))
    out = branched_rollouts(model, start, start_obs, _act, 4, _never_ends, trust_quantile=0.01)
    assert len(out["obs"]) == 64 * 4
