"""RSSM and world model: shapes, is_first resets, ensembles, and a loss that falls when trained."""

from __future__ import annotations

import pytest
import torch

from dreamgym.data import SequenceData, SequenceSampler
from dreamgym.world_model import RSSM, RSSMState, WorldModel, make_config
from dreamgym.world_model.networks import EnsembleMLP

B, T, OBS, ACT = 3, 7, 5, 1


def _model(**overrides) -> WorldModel:
    torch.manual_seed(0)
    cfg, _ = make_config("debug", OBS, ACT, **overrides)
    return WorldModel(cfg)


def _inputs(steps: int = T, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, steps, OBS, generator=gen)
    act = torch.rand(B, steps, ACT, generator=gen) * 2 - 1
    first = torch.zeros(B, steps, dtype=torch.bool)
    first[:, 0] = True
    return obs, act, first


def _fixed_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes every latent draw use uniform 0.5, so filtering is a deterministic function of its inputs."""
    original = RSSM.sample

    def sample(logp: torch.Tensor, uniform: torch.Tensor | None = None) -> torch.Tensor:
        return original(logp, torch.full(logp.shape[:-2] + logp.shape[-2:-1], 0.5))

    monkeypatch.setattr(RSSM, "sample", staticmethod(sample))


def test_observe_shapes() -> None:
    model = _model()
    cfg = model.cfg
    obs, act, first = _inputs()
    posts, post_logp, prior_logp = model.rssm.observe(model.embed(obs), act, first)
    assert posts.deter.shape == (B, T, cfg.deter)
    assert posts.stoch.shape == (B, T, cfg.stoch, cfg.classes)
    assert posts.features.shape == (B, T, cfg.feature_dim)
    assert post_logp.shape == (B, T, cfg.stoch, cfg.classes)
    assert prior_logp.shape == (B, T, 1, cfg.stoch, cfg.classes)
    # one-hot samples, and log-probabilities of proper distributions
    torch.testing.assert_close(posts.stoch.sum(-1), torch.ones(B, T, cfg.stoch))
    torch.testing.assert_close(post_logp.exp().sum(-1), torch.ones(B, T, cfg.stoch))
    torch.testing.assert_close(prior_logp.exp().sum(-1), torch.ones(B, T, 1, cfg.stoch))


def test_decode_shapes_for_any_batch_shape() -> None:
    model = _model()
    obs, act, first = _inputs()
    posts = model.observe(obs, act, first)
    decoded = model.decode(posts)
    assert decoded.obs.shape == (B, T, OBS)
    assert decoded.reward.shape == (B, T)
    assert decoded.cont.shape == (B, T)
    assert ((decoded.cont > 0) & (decoded.cont < 1)).all()
    last = model.decode(posts.index((slice(None), -1)))
    assert last.obs.shape == (B, OBS)
    torch.testing.assert_close(last.obs, decoded.obs[:, -1])


def test_imagine_with_policy() -> None:
    model = _model()
    obs, act, first = _inputs()
    start = model.observe(obs, act, first).index((slice(None), -1))
    seen: list[tuple[int, ...]] = []

    def policy(state: RSSMState) -> torch.Tensor:
        seen.append(tuple(state.deter.shape))
        return torch.tanh(state.deter[:, :ACT])

    states, actions = model.imagine(start, policy, horizon=4)
    assert states.deter.shape == (B, 4, model.cfg.deter)
    assert states.stoch.shape == (B, 4, model.cfg.stoch, model.cfg.classes)
    assert actions.shape == (B, 4, ACT)
    assert seen == [(B, model.cfg.deter)] * 4
    torch.testing.assert_close(actions[:, 0], torch.tanh(start.deter[:, :ACT]))
    assert model.decode(states).obs.shape == (B, 4, OBS)


def test_imagine_with_action_tensor() -> None:
    model = _model()
    start = model.rssm.initial((B,))
    planned = torch.rand(B, 5, ACT, generator=torch.Generator().manual_seed(1))
    states, actions = model.imagine(start, planned, horizon=5)
    assert states.deter.shape == (B, 5, model.cfg.deter)
    torch.testing.assert_close(actions, planned)
    # the first deterministic state only depends on the (zero) start state and the first action
    torch.testing.assert_close(states.deter[:, 0], model.rssm.advance(start, planned[:, 0]))


def test_is_first_resets_state_at_reset_step() -> None:
    model = _model()
    obs, act, first = _inputs(steps=8)
    first[:, 4] = True
    posts = model.observe(obs, act, first)
    alone = model.observe(obs[:, 4:], act[:, 4:], first[:, 4:])
    # at the reset step h depends only on the zero state and the zeroed action, whatever came before
    torch.testing.assert_close(posts.deter[:, 4], alone.deter[:, 0], rtol=0, atol=1e-6)
    zero = model.rssm.advance(model.rssm.initial((B,)), torch.zeros(B, ACT))
    torch.testing.assert_close(posts.deter[:, 4], zero, rtol=0, atol=1e-6)


def test_is_first_resets_whole_second_half(monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_sampling(monkeypatch)
    model = _model()
    obs, act, first = _inputs(steps=8)
    first[:, 4] = True
    posts = model.observe(obs, act, first)
    alone = model.observe(obs[:, 4:], act[:, 4:], first[:, 4:])
    torch.testing.assert_close(posts.deter[:, 4:], alone.deter, rtol=0, atol=1e-5)
    torch.testing.assert_close(posts.stoch[:, 4:], alone.stoch)
    # and without the flag the history does matter
    first[:, 4] = False
    unreset = model.observe(obs, act, first)
    assert not torch.allclose(unreset.deter[:, 4], alone.deter[:, 0], atol=1e-3)


def test_is_first_per_sequence() -> None:
    """A reset in one sequence of the batch leaves the other sequences alone."""
    model = _model()
    obs, act, first = _inputs(steps=6)
    first[1, 3] = True
    posts = model.observe(obs, act, first)
    zero = model.rssm.advance(model.rssm.initial((B,)), torch.zeros(B, ACT))
    torch.testing.assert_close(posts.deter[1, 3], zero[1], rtol=0, atol=1e-6)
    assert not torch.allclose(posts.deter[0, 3], zero[0], atol=1e-3)


@pytest.mark.parametrize("heads", ["linear", "mlp"])
def test_ensemble_prior_has_member_axis(heads: str) -> None:
    model = _model(ensemble=3, ensemble_heads=heads, free_bits=0.0)  # free bits would hide a fresh model's KL
    cfg = model.cfg
    obs, act, first = _inputs()
    _, _, prior_logp = model.rssm.observe(model.embed(obs), act, first)
    assert prior_logp.shape == (B, T, 3, cfg.stoch, cfg.classes)
    start = model.rssm.initial((B,))
    state, prior = model.rssm.img_step(start, torch.zeros(B, ACT), member=torch.tensor([0, 1, 2]))
    assert prior.shape == (B, 3, cfg.stoch, cfg.classes)
    assert state.stoch.shape == (B, cfg.stoch, cfg.classes)
    batch = {
        "obs": obs,
        "prev_action": act,
        "reward": torch.zeros(B, T),
        "is_first": first,
        "is_terminal": torch.zeros(B, T, dtype=torch.bool),
    }
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    net = model.rssm.prior_net
    grad = net.out_weight.grad.transpose(1, 2) if heads == "mlp" else net[-1].weight.grad.unflatten(0, (3, -1))
    assert (grad.abs().sum((1, 2)) > 0).all()  # every member is trained


def test_ensemble_mlp_members_are_separate_networks() -> None:
    torch.manual_seed(0)
    net = EnsembleMLP(in_dim=5, hidden=8, layers=2, out_dim=3, members=4)
    x = torch.randn(2, 7, 5)
    out = net(x)
    assert out.shape == (2, 7, 4, 3)
    for k in range(4):  # member k alone, written out layer by layer, gives member k's slice
        h = x
        for weight, gain, shift in zip(net.hidden_weights, net.norm_weights, net.norm_biases, strict=True):
            h = torch.nn.functional.silu(torch.nn.functional.layer_norm(h @ weight[k], (8,)) * gain[k] + shift[k])
        torch.testing.assert_close(out[..., k, :], h @ net.out_weight[k] + net.out_bias[k])
    out[..., 1, :].sum().backward()  # member 1's output depends on member 1's parameters only
    for param in net.parameters():
        touched = param.grad.flatten(1).abs().sum(1) > 0
        assert touched.tolist() == [False, True, False, False]


@pytest.mark.parametrize("inference_unimix", [False, True])
def test_img_step_member_selects_prior_row(inference_unimix: bool) -> None:
    model = _model(ensemble=2, inference_unimix=inference_unimix)
    start = model.rssm.initial((2,))
    uniform = torch.rand((2, model.cfg.stoch), generator=torch.Generator().manual_seed(0))
    state, prior = model.rssm.img_step(start, torch.zeros(2, ACT), torch.tensor([1, 1]), uniform)
    chosen = prior[:, 1]  # the mixed categoricals training's KL sees, or the network's own under them
    if not inference_unimix:
        mix = model.cfg.unimix / model.cfg.classes
        chosen = ((chosen.exp() - mix) / (1 - model.cfg.unimix)).log()
    torch.testing.assert_close(state.stoch, RSSM.sample(chosen, uniform))


def _all_mass_on_class_zero(model: WorldModel) -> torch.Tensor:
    """Flat logits with which the network puts all of every latent's mass on class 0."""
    certain = torch.full((model.cfg.stoch, model.cfg.classes), -60.0)
    certain[:, 0] = 60.0
    return certain.flatten()


@pytest.mark.parametrize(("inference_unimix", "draws_the_improbable"), [(False, False), (True, True)])
def test_imagination_draws_a_class_the_network_rules_out_only_from_the_uniform_mix(
    monkeypatch: pytest.MonkeyPatch, inference_unimix: bool, draws_the_improbable: bool
) -> None:
    model = _model(inference_unimix=inference_unimix)
    certain = _all_mass_on_class_zero(model)
    monkeypatch.setattr(model.rssm, "_prior_logits", lambda deter: certain.expand(len(deter), 1, -1))
    uniform = torch.full((4, model.cfg.stoch), 0.999)  # the top of the inverse CDF: the mix's share of the last class
    state, prior = model.rssm.img_step(model.rssm.initial((4,)), torch.zeros(4, ACT), uniform=uniform)
    assert bool((state.stoch.argmax(-1) != 0).any()) == draws_the_improbable
    assert prior[..., 1:].exp().min() > 0  # the prior the KL and the disagreement read keeps its mix


@pytest.mark.parametrize(("inference_unimix", "draws_the_improbable"), [(False, False), (True, True)])
def test_filtering_draws_a_class_the_network_rules_out_only_from_the_uniform_mix_and_training_always_does(
    monkeypatch: pytest.MonkeyPatch, inference_unimix: bool, draws_the_improbable: bool
) -> None:
    model = _model(inference_unimix=inference_unimix)
    certain = _all_mass_on_class_zero(model)
    monkeypatch.setattr(model.rssm.post_net, "forward", lambda x: certain.expand(len(x), -1))
    obs, act, first = _inputs(steps=64)
    torch.manual_seed(0)  # 3 x 64 x 4 latents, each drawn from the mix's share of classes 1-3 with p = 0.0075
    posts = model.observe(obs, act, first)
    assert bool((posts.stoch.argmax(-1) != 0).any()) == draws_the_improbable
    torch.manual_seed(0)
    trained, _, _ = model.rssm.observe(model.embed(obs), act, first)  # the loss's filter keeps the mix
    assert bool((trained.stoch.argmax(-1) != 0).any())


def test_sample_with_uniform_is_reproducible_one_hot() -> None:
    logp = torch.log_softmax(torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0)), -1)
    uniform = torch.rand(4, 3, generator=torch.Generator().manual_seed(1))
    a, b = RSSM.sample(logp, uniform), RSSM.sample(logp, uniform)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.sum(-1), torch.ones(4, 3))
    torch.testing.assert_close(a.detach(), a.detach().round(), rtol=0, atol=1e-6)


def test_sample_draws_the_inverse_cdf_class() -> None:
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    uniform = torch.tensor([0.05, 0.25, 0.55, 0.95])  # below the cdf steps 0.1, 0.3, 0.6, 1.0
    drawn = RSSM.sample(probs.log().expand(4, 4), uniform)
    torch.testing.assert_close(drawn.detach(), torch.eye(4))


def test_the_loss_runs_under_vmap_of_grad(wm_sequences: SequenceData) -> None:
    """Independent ensemble members trained in one torch.func call (benchmarks/ensemble_choice.py) need it."""
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    class Loss(torch.nn.Module):
        def __init__(self, model: WorldModel):
            super().__init__()
            self.m = model

        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return self.m.loss(batch)[0]

    members = [Loss(_model()) for _ in range(2)]
    params, buffers = stack_module_state(members)
    batch = {k: torch.as_tensor(v) for k, v in SequenceSampler(wm_sequences, 8, seed=0).sample(2).items()}
    stacked = {k: torch.stack([v, v]) for k, v in batch.items()}
    step = vmap(grad_and_value(lambda p, b, x: functional_call(members[0], (p, b), (x,))), randomness="different")
    grads, losses = step(params, buffers, stacked)
    assert losses.shape == (2,) and torch.isfinite(losses).all()
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_loss_parts_and_gradients(wm_sequences: SequenceData) -> None:
    model = _model()
    batch = {k: torch.as_tensor(v) for k, v in SequenceSampler(wm_sequences, 16, seed=0).sample(4).items()}
    loss, metrics = model.loss(batch)
    assert loss.shape == ()
    assert set(metrics) >= {"loss/total", "loss/recon", "loss/reward", "loss/cont", "loss/kl_dyn", "loss/kl_rep"}
    assert all(not v.requires_grad for v in metrics.values())
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name


def test_loss_falls_on_real_data(wm_sequences: SequenceData) -> None:
    model = _model()
    batch = {k: torch.as_tensor(v) for k, v in SequenceSampler(wm_sequences, 16, seed=0).sample(8).items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(50):
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    initial, final = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert final < 0.5 * initial, (initial, final)
