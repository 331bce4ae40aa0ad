"""Actor, critic and one behaviour update on the tiny world model: what each piece must do, and nothing else."""

from pathlib import Path

import pytest
import torch

from agents.dreamer import Actor, ActorCritic, Critic, make_actor_critic_config
from dreamgym.tasks import TerminationRule
from dreamgym.world_model import load_checkpoint
from dreamgym.world_model.functional import twohot_encode


def test_actor_acts_inside_the_action_range_with_bounded_std() -> None:
    torch.manual_seed(0)
    actor = Actor(feature_dim=8, action_dim=2, hidden=16, layers=1, min_std=0.1, max_std=1.0)
    features = 50.0 * torch.randn(256, 8)  # large inputs push the raw outputs far out
    dist = actor.dist(features)
    assert (dist.base_dist.stddev >= 0.1).all() and (dist.base_dist.stddev <= 1.0).all()
    assert (actor.act(features).abs() <= 1.0).all()
    torch.testing.assert_close(actor.act(features, deterministic=True), dist.mean.clamp(-1, 1))
    assert dist.mean.abs().max() <= 1.0


def test_critic_loss_is_cross_entropy_to_the_two_hot_target_plus_the_slow_regulariser() -> None:
    torch.manual_seed(0)
    critic = Critic(feature_dim=8, hidden=16, layers=1)
    torch.nn.init.normal_(critic.net[-1].weight)  # a non-trivial fast critic; the slow one stays at zero
    features, target = torch.randn(5, 8), torch.tensor([0.0, 1.0, -3.0, 50.0, 400.0])
    log_probs = torch.log_softmax(critic.net(features), -1)
    expected = -(twohot_encode(target, critic.bins) * log_probs).sum(-1)
    torch.testing.assert_close(critic.loss(features, target, slow_reg=0.0), expected)
    slow_mean = torch.zeros(5)  # the slow critic's zero output layer predicts 0 everywhere
    expected_reg = expected - (twohot_encode(slow_mean, critic.bins) * log_probs).sum(-1)
    torch.testing.assert_close(critic.loss(features, target, slow_reg=1.0), expected_reg)


def test_critic_learns_a_return_and_the_slow_critic_follows() -> None:
    torch.manual_seed(0)
    critic = Critic(feature_dim=4, hidden=16, layers=1)
    optimizer = torch.optim.Adam(critic.net.parameters(), lr=1e-2)
    features, target = torch.randn(32, 4), torch.full((32,), 123.0)
    for _ in range(300):
        optimizer.zero_grad()
        critic.loss(features, target, slow_reg=0.0).mean().backward()
        optimizer.step()
        critic.update_slow(0.05)
    assert critic.value(features).mean().item() == pytest.approx(123.0, rel=0.02)
    assert critic.slow_value(features).mean().item() == pytest.approx(123.0, rel=0.1)


@pytest.mark.parametrize("gradient", ["reinforce", "dynamics"])
def test_update_trains_actor_and_critic_and_leaves_the_world_model_alone(
    trained_checkpoint: Path, wm_sequences, gradient: str
) -> None:
    torch.manual_seed(0)
    model = load_checkpoint(trained_checkpoint).model
    learner = ActorCritic(model.cfg.feature_dim, 1, make_actor_critic_config("debug", actor_gradient=gradient))
    rows = torch.tensor(wm_sequences.obs[:64]).reshape(4, 16, 5)
    actions = torch.tensor(wm_sequences.prev_action[:64]).reshape(4, 16, 1)
    posts = model.observe(rows, actions, torch.zeros(4, 16, dtype=torch.bool))
    model_before = {k: v.clone() for k, v in model.state_dict().items()}
    actor_before = [p.clone() for p in learner.actor.parameters()]
    slow_before = [p.clone() for p in learner.critic.slow.parameters()]
    metrics = learner.update(model, posts, torch.ones(4, 16))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, model_before[key])
    assert all(p.grad is None for p in model.parameters())  # no gradient leaked into the world model
    assert any(not torch.equal(a, b) for a, b in zip(actor_before, learner.actor.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(slow_before, learner.critic.slow.parameters(), strict=True))
    assert float(metrics["imagination/return_scale"]) >= 1.0
    assert all(torch.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize("termination", ["task", "model", "either"])
def test_imagined_episodes_end_where_the_task_rule_judges_the_decoded_state(
    trained_checkpoint: Path, wm_sequences, termination: str
) -> None:
    torch.manual_seed(0)
    model = load_checkpoint(trained_checkpoint).model
    rows = torch.tensor(wm_sequences.obs[:64]).reshape(4, 16, 5)
    actions = torch.tensor(wm_sequences.prev_action[:64]).reshape(4, 16, 1)
    posts = model.observe(rows, actions, torch.zeros(4, 16, dtype=torch.bool))
    decoded = model.decode(posts)
    # A planted rule that ends about half the states: those whose decoded first dimension is below its median.
    rule = TerminationRule(height_dim=0, min_height=decoded.obs[..., 0].median().item())
    ended = rule(decoded.obs)
    assert 0 < ended.sum() < ended.numel()
    learner = ActorCritic(model.cfg.feature_dim, 1, make_actor_critic_config("debug", termination=termination), rule)
    reward, cont = learner._reward_and_continue(model, posts)
    head_reward, head_cont = model.reward_and_continue(posts)
    torch.testing.assert_close(reward, head_reward)
    expected = {"task": (~ended).float(), "model": head_cont, "either": head_cont * ~ended}[termination]
    torch.testing.assert_close(cont, expected)


def test_preset_and_config_errors_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="Unknown actor-critic preset 'huge'"):
        make_actor_critic_config("huge")
    with pytest.raises(ValueError, match="Unknown actor_gradient 'magic'"):
        make_actor_critic_config("debug", actor_gradient="magic")
    with pytest.raises(ValueError, match="0 < min_std < max_std"):
        make_actor_critic_config("debug", min_std=2.0)
    with pytest.raises(ValueError, match="Unknown termination 'sometimes'"):
        make_actor_critic_config("debug", termination="sometimes")
