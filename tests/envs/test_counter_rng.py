"""Counter-based noise: uniform, deterministic, and independent across seeds, episodes, steps and streams."""

from __future__ import annotations

import torch

from dreamgym.envs.counter_rng import STREAM_MEMBER, STREAM_RESET, STREAM_STOCH, counter_uniform


def _draw(seed: int = 0, episode: int = 0, step: int = 0, stream: int = STREAM_STOCH, count: int = 8, n: int = 4):
    full = torch.full((n,), 0, dtype=torch.int64)
    return counter_uniform(full + seed, full + episode, full + step, stream, count)


def test_values_in_unit_interval_with_shape() -> None:
    seeds = torch.arange(-50, 50, dtype=torch.int64) * 7919
    u = counter_uniform(seeds, torch.arange(100), torch.arange(100) % 7, STREAM_STOCH, 33)
    assert u.shape == (100, 33)
    assert u.dtype == torch.float32
    assert (u > 0).all() and (u <= 1).all()


def test_extreme_counters_stay_in_range() -> None:
    big = torch.tensor([2**63 - 1, -(2**63), 0, -1], dtype=torch.int64)
    u = counter_uniform(big, big, big, STREAM_RESET, 5)
    assert (u > 0).all() and (u <= 1).all()


def test_deterministic() -> None:
    assert torch.equal(_draw(seed=3, episode=2, step=9), _draw(seed=3, episode=2, step=9))


def test_rows_depend_only_on_their_own_counters() -> None:
    seeds = torch.tensor([5, 6, 7], dtype=torch.int64)
    zeros = torch.zeros(3, dtype=torch.int64)
    batch = counter_uniform(seeds, zeros, zeros, STREAM_STOCH, 4)
    alone = counter_uniform(seeds[1:2], zeros[:1], zeros[:1], STREAM_STOCH, 4)
    assert torch.equal(batch[1:2], alone)


def test_every_counter_changes_the_numbers() -> None:
    base = _draw()
    for other in (_draw(seed=1), _draw(episode=1), _draw(step=1), _draw(stream=STREAM_MEMBER)):
        assert not torch.equal(base, other)
    assert len({STREAM_RESET, STREAM_STOCH, STREAM_MEMBER}) == 3
    # the lanes of one draw differ from each other too
    assert len(set(base[0].tolist())) == base.shape[1]


def test_roughly_uniform() -> None:
    seeds = torch.arange(10_000, dtype=torch.int64)
    u = counter_uniform(seeds, torch.zeros_like(seeds), torch.zeros_like(seeds), STREAM_STOCH, 1)[:, 0]
    assert abs(u.mean().item() - 0.5) < 0.01
    assert abs(u.var().item() - 1 / 12) < 0.005
    counts = torch.histc(u, bins=10, min=0.0, max=1.0)
    assert (counts > 900).all() and (counts < 1100).all(), counts
    # consecutive seeds are not correlated
    assert abs(torch.corrcoef(torch.stack([u[:-1], u[1:]]))[0, 1].item()) < 0.05
