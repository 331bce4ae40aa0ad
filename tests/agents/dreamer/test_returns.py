"""λ-returns and the percentile return scale, against hand-computed cases."""

import pytest
import torch

from agents.dreamer.returns import ReturnScale, lambda_returns


def test_lambda_returns_match_a_hand_computed_case() -> None:
    # R_1 = 2 + 0.5 * (0.5 * 20 + 0.5 * 20) = 12; R_0 = 1 + 0.5 * (0.5 * 10 + 0.5 * 12) = 6.5
    rewards, continues = torch.tensor([[1.0, 2.0]]), torch.ones(1, 2)
    values = torch.tensor([[0.0, 10.0, 20.0]])
    returns = lambda_returns(rewards, continues, values, gamma=0.5, lam=0.5)
    torch.testing.assert_close(returns, torch.tensor([[6.5, 12.0]]))


def test_lambda_zero_is_one_step_td_and_termination_stops_the_bootstrap() -> None:
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[5.0, 6.0, 7.0, 8.0]])
    continues = torch.tensor([[1.0, 0.0, 1.0]])
    td = lambda_returns(rewards, continues, values, gamma=0.9, lam=0.0)
    torch.testing.assert_close(td, torch.tensor([[1.0 + 0.9 * 6.0, 2.0, 3.0 + 0.9 * 8.0]]))
    full = lambda_returns(rewards, continues, values, gamma=0.9, lam=1.0)
    # λ = 1: discounted rewards until the predicted termination, nothing after it
    torch.testing.assert_close(full, torch.tensor([[1.0 + 0.9 * 2.0, 2.0, 3.0 + 0.9 * 8.0]]))


def test_lambda_returns_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"values \(B, H \+ 1\)"):
        lambda_returns(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3), 0.99, 0.95)


def test_return_scale_is_an_ema_of_the_5th_to_95th_percentile_range_floored_at_one() -> None:
    scale = ReturnScale(decay=0.5)
    returns = torch.linspace(0.0, 100.0, 101)  # percentiles 5 and 95 exactly
    assert float(scale.update(returns)) == pytest.approx(0.5 * 95 - 0.5 * 5)
    assert float(scale.update(returns)) == pytest.approx(0.75 * 95 - 0.75 * 5)
    small = ReturnScale(decay=0.5)
    assert float(small.update(torch.linspace(0.0, 0.1, 11))) == 1.0  # a range under 1 is not blown up
    assert set(dict(scale.state_dict())) == {"low", "high"}  # checkpointed with the learner
