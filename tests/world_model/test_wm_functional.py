"""symlog/symexp and the two-hot encoding of the reward head."""

from __future__ import annotations

import pytest
import torch

from dreamgym.world_model.functional import symexp, symlog, twohot_bins, twohot_decode, twohot_encode

VALUES = [-1e6, -1000.0, -3.7, -1.0, -0.01, 0.0, 1e-4, 0.5, 1.0, 42.0, 1e5, 1e6]


def test_symlog_symexp_round_trip_float64() -> None:
    x = torch.tensor(VALUES, dtype=torch.float64)
    torch.testing.assert_close(symexp(symlog(x)), x, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(symlog(symexp(symlog(x))), symlog(x), rtol=1e-12, atol=1e-12)


def test_symlog_symexp_round_trip_float32() -> None:
    x = torch.tensor(VALUES, dtype=torch.float32)
    torch.testing.assert_close(symexp(symlog(x)), x, rtol=1e-4, atol=1e-6)


def test_symlog_is_odd_compressive_and_linear_near_zero() -> None:
    x = torch.tensor(VALUES, dtype=torch.float64)
    torch.testing.assert_close(symlog(-x), -symlog(x))
    big = x.abs() > 1
    assert (symlog(x).abs()[big] < x.abs()[big]).all()
    small = torch.tensor([1e-6, -1e-6], dtype=torch.float64)
    torch.testing.assert_close(symlog(small), small, rtol=1e-5, atol=0.0)
    assert torch.isfinite(symlog(torch.tensor([1e30, -1e30]))).all()


@pytest.fixture
def bins() -> torch.Tensor:
    return twohot_bins(255, 20.0)


def test_bins_are_symmetric_and_span_limit(bins: torch.Tensor) -> None:
    assert bins.shape == (255,)
    assert bins[0] == -20.0 and bins[-1] == 20.0
    assert (bins[1:] > bins[:-1]).all()
    torch.testing.assert_close(bins, -bins.flip(0))


def test_twohot_weights_sum_to_one_with_at_most_two_neighbours(bins: torch.Tensor) -> None:
    x = torch.tensor([*VALUES, symexp(bins[7]).item(), symexp(bins[-1]).item()], dtype=torch.float32)
    weights = twohot_encode(x, bins)
    assert weights.shape == (len(x), 255)
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(x)))
    assert (weights >= 0).all()
    nonzero = weights > 0
    assert (nonzero.sum(-1) <= 2).all()
    assert (nonzero.sum(-1) >= 1).all()
    for row in nonzero:  # the two weights sit on neighbouring bins
        idx = torch.nonzero(row).squeeze(-1)
        assert idx.max() - idx.min() <= 1


def test_twohot_expectation_is_symlog(bins: torch.Tensor) -> None:
    x = torch.tensor(VALUES, dtype=torch.float32)
    weights = twohot_encode(x, bins)
    torch.testing.assert_close((weights * bins).sum(-1), symlog(x), rtol=1e-5, atol=1e-5)


def test_twohot_encode_decode_round_trip(bins: torch.Tensor) -> None:
    x = torch.tensor(VALUES, dtype=torch.float32)
    decoded = twohot_decode(torch.log(twohot_encode(x, bins)), bins)
    torch.testing.assert_close(decoded, x, rtol=1e-4, atol=1e-5)


def test_twohot_batch_shape(bins: torch.Tensor) -> None:
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * 10
    weights = twohot_encode(x, bins)
    assert weights.shape == (3, 4, 255)
    torch.testing.assert_close(twohot_decode(torch.log(weights), bins), x, rtol=1e-4, atol=1e-5)


def test_twohot_clamps_outside_range(bins: torch.Tensor) -> None:
    limit = symexp(torch.tensor(20.0)).item()
    x = torch.tensor([1e12, -1e12, float(limit) * 10])
    weights = twohot_encode(x, bins)
    assert weights[0, -1] == 1.0 and weights[0, :-1].sum() == 0.0
    assert weights[1, 0] == 1.0 and weights[1, 1:].sum() == 0.0
    decoded = twohot_decode(torch.log(weights), bins)
    torch.testing.assert_close(decoded, torch.tensor([limit, -limit, limit]), rtol=1e-5, atol=0.0)


def test_twohot_decode_of_uniform_logits_is_zero(bins: torch.Tensor) -> None:
    # A zero-initialised reward head predicts uniform logits; symmetric bins make that a reward of 0.
    torch.testing.assert_close(twohot_decode(torch.zeros(2, 255), bins), torch.zeros(2), atol=1e-5, rtol=0.0)
