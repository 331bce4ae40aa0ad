"""Which ensemble: K prior heads on one shared RSSM trunk, or K independent world models? Measured, not assumed.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/ensemble_choice.py --train /work/artifacts/datasets/Hopper/medium \\
        --held-out /work/artifacts/datasets/Hopper/random /work/artifacts/datasets/Hopper/expert

Every design trains on the same data for the same number of updates, batched: the shared trunk is the
project's ``WorldModel(ensemble=K)`` (one GRU, encoder and decoder), with K prior heads that are either output
layers of one MLP (``linear``) or MLPs of their own (``mlp``, see ``EnsembleMLP``); the independent ensemble is
K ``WorldModel(ensemble=1)`` stacked with ``torch.func.stack_module_state`` and trained in one ``vmap``-ed call,
each member on its own batches. ``--designs`` picks which to train. We report

- training updates/s of each (and of a single model),
- how well each design's disagreement ranks its actual prediction error on held-out transitions: Spearman
  rank correlation, over held-out windows, between disagreement and the error of the ensemble-mean
  prediction, one step and 10 steps open loop (error in symlog space, the space the model is trained in).

Disagreement is measured two ways: in observation space (variance across members of their decoded
predictions; the only measure that exists for independent models, whose latent spaces are not aligned), and
for the shared trunk also as the Jensen-Shannon divergence of the prior heads (what dreams use).
Writes ``benchmarks/results/<--results-name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"
CONTEXT, HORIZON = 8, 10
DESIGNS = ("linear heads", "mlp heads", "independent")


class _Loss(nn.Module):
    """A world model whose ``forward`` is its loss, so ``functional_call`` can drive it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.m = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.m.loss(batch)[0]


WARMUP_UPDATES = 2
"""Updates left out of every training rate, so a design timed over fewer updates is not charged more start-up."""


def _timed(updates: int) -> int:
    """How many of ``updates`` the rate counts (all of them when there are too few to leave a warm-up out)."""
    return updates - WARMUP_UPDATES if updates > WARMUP_UPDATES else updates


def train_shared(data: Any, cfg: Any, train_cfg: Any, updates: int, seed: int):
    from dreamgym.data import SequenceSampler
    from dreamgym.world_model import WorldModel

    torch.manual_seed(seed)
    model = WorldModel(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, eps=train_cfg.eps)
    sampler = SequenceSampler(data, train_cfg.seq_len, seed=seed)
    started = time.perf_counter()
    for update in range(updates):
        if update == WARMUP_UPDATES:  # the first updates pay one-off costs (allocation, vmap tracing): untimed
            started = time.perf_counter()
        batch = {k: torch.as_tensor(v) for k, v in sampler.sample(train_cfg.batch_size).items()}
        loss, _ = model.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
    return model.eval(), _timed(updates) / (time.perf_counter() - started)


def train_independent(data: Any, cfg: Any, train_cfg: Any, members: int, updates: int, seed: int):
    """K single-head models trained in one vmapped call; each member samples its own batches."""
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    from dreamgym.data import SequenceSampler
    from dreamgym.world_model import WorldModel

    torch.manual_seed(seed)
    wrapped = [_Loss(WorldModel(cfg)) for _ in range(members)]
    params, buffers = stack_module_state(wrapped)
    template = copy.deepcopy(wrapped[0]).to("meta")
    optimizer = torch.optim.Adam(params.values(), lr=train_cfg.lr, eps=train_cfg.eps)
    samplers = [SequenceSampler(data, train_cfg.seq_len, seed=seed + 1 + k) for k in range(members)]

    def loss_fn(p, b, batch):
        return functional_call(template, (p, b), (batch,))

    step = vmap(grad_and_value(loss_fn), randomness="different")
    started = time.perf_counter()
    for update in range(updates):
        if update == WARMUP_UPDATES:
            started = time.perf_counter()
        parts = [s.sample(train_cfg.batch_size) for s in samplers]
        batch = {k: torch.as_tensor(np.stack([p[k] for p in parts])) for k in parts[0]}
        grads, _ = step(params, buffers, batch)
        norms = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
        scale = (train_cfg.grad_clip / (norms + 1e-6)).clamp(max=1.0)  # per-member clipping, as each alone
        for name, value in params.items():
            value.grad = grads[name] * scale.view(-1, *[1] * (value.dim() - 1))
        optimizer.step()
    rate = _timed(updates) / (time.perf_counter() - started)
    models = []
    for k in range(members):
        model = WorldModel(cfg)
        model.load_state_dict({name[2:]: value[k].detach() for name, value in params.items()})
        models.append(model.eval())
    return models, rate


def held_out_windows(data: Any, count: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """``count`` windows of CONTEXT + HORIZON rows inside one episode, with no terminal step before the end."""
    length = CONTEXT + HORIZON
    starts = np.arange(len(data) - length + 1)
    same_episode = data.episode_index[starts] == data.episode_index[starts + length - 1]
    # is_first may only be set on the window's first row; a terminal row may only be the last one
    cum_first = np.concatenate([[0], np.cumsum(data.is_first)])
    cum_term = np.concatenate([[0], np.cumsum(data.is_terminal)])
    clean = (cum_first[starts + length] - cum_first[starts + 1] == 0) & (
        cum_term[starts + length - 1] - cum_term[starts] == 0
    )
    starts = starts[same_episode & clean]
    starts = rng.choice(starts, size=min(count, len(starts)), replace=False)
    rows = starts[:, None] + np.arange(length)[None]
    is_first = np.zeros(rows.shape, bool)
    is_first[:, 0] = True
    return {
        "obs": torch.as_tensor(data.obs[rows]),
        "prev_action": torch.as_tensor(data.prev_action[rows]),
        "is_first": torch.as_tensor(is_first),
    }


@torch.inference_mode()
def rollouts(models: list[Any], windows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Filters the context and rolls every member open loop over the recorded actions.

    ``models`` is either one shared-trunk model (member k = rollout driven by prior head k) or K independent
    models. Returns decoded predictions (K, W, H, D), and for a shared trunk the JS disagreement along the
    rollout of head 0 (W, H).
    """
    from dreamgym.world_model.functional import symlog
    from dreamgym.world_model.uncertainty import ensemble_disagreement

    obs, act, first = windows["obs"], windows["prev_action"], windows["is_first"]
    preds, js = [], None
    shared = len(models) == 1
    members = models[0].cfg.ensemble if shared else len(models)
    for k in range(members):
        model = models[0] if shared else models[k]
        torch.manual_seed(k)
        posts = model.observe(obs[:, :CONTEXT], act[:, :CONTEXT], first[:, :CONTEXT])
        state = posts.index((slice(None), -1))
        member = torch.full((len(obs),), k) if shared else None
        steps, js_k = [], []
        for t in range(HORIZON):
            state, prior = model.rssm.img_step(state, act[:, CONTEXT + t], member)
            steps.append(symlog(model.decode(state).obs))
            if shared:
                js_k.append(ensemble_disagreement(prior))
        preds.append(torch.stack(steps, 1))
        if shared and k == 0:
            js = torch.stack(js_k, 1)
    out = {"pred": torch.stack(preds), "target": symlog(obs[:, CONTEXT:])}
    if js is not None:
        out["js"] = js
    return out


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (continuous values, so ties are negligible)."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def score(out: dict[str, torch.Tensor]) -> dict[str, Any]:
    pred, target = out["pred"].numpy(), out["target"].numpy()
    error = ((pred.mean(0) - target) ** 2).mean(-1)  # (W, H)
    var = pred.var(0).mean(-1)  # (W, H)
    e1, eh = error[:, 0], error.mean(1)
    result = {
        "error_1step_mean": float(e1.mean()),
        "error_10step_mean": float(eh.mean()),
        "spearman_obs_variance_1step": spearman(var[:, 0], e1),
        "spearman_obs_variance_10step": spearman(var.mean(1), eh),
    }
    if "js" in out:
        js = out["js"].numpy()
        result["spearman_js_1step"] = spearman(js[:, 0], e1)
        result["spearman_js_10step"] = spearman(js.mean(1), eh)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="training data set (path or Minari id)")
    parser.add_argument("--held-out", nargs="+", default=[], help="further data sets to test on (other tiers)")
    parser.add_argument("--train-steps", type=int, default=20_000, help="training rows taken from --train")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--windows", type=int, default=300, help="held-out windows per data set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument("--results-name", default="ensemble_choice")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from dreamgym.data import load_episodes
    from dreamgym.world_model import make_config

    full = load_episodes(args.train)
    cut = int(np.searchsorted(np.flatnonzero(full.is_first), args.train_steps))  # whole episodes only
    first_rows = np.flatnonzero(full.is_first)
    split = first_rows[min(cut, len(first_rows) - 1)]
    train = _rows(full, slice(0, split))
    tests = {"train-tier held-out episodes": _rows(full, slice(split, len(full)))}
    tests.update({Path(p).name: load_episodes(p) for p in args.held_out})
    obs_dim, action_dim = train.obs_shape[0], train.action_dim

    def config(**overrides: Any):
        return make_config("small", obs_dim, action_dim, batch_size=args.batch_size, seed=args.seed, **overrides)

    single_cfg, train_cfg = config(ensemble=1)
    print(f"training {args.designs} for {args.updates} updates on {len(train)} rows", flush=True)
    _, single_rate = train_shared(train, single_cfg, train_cfg, max(args.updates // 10, 10), args.seed)
    trained: dict[str, tuple[list[Any], float]] = {}
    for design in args.designs:
        if design == "independent":
            trained[design] = train_independent(train, single_cfg, train_cfg, args.members, args.updates, args.seed)
        else:
            heads_cfg, _ = config(ensemble=args.members, ensemble_heads=design.split()[0])
            model, rate = train_shared(train, heads_cfg, train_cfg, args.updates, args.seed)
            trained[design] = [model], rate
    rng = np.random.default_rng(args.seed)
    windows = {name: held_out_windows(data, args.windows, rng) for name, data in tests.items()}
    pooled = {k: torch.cat([w[k] for w in windows.values()]) for k in next(iter(windows.values()))}
    results: dict[str, Any] = {
        "config": vars(args),
        "updates_per_second": {"single model": single_rate} | {d: rate for d, (_, rate) in trained.items()},
        "parameters": {d: sum(p.numel() for m in models for p in m.parameters()) for d, (models, _) in trained.items()},
        "held_out": {},
    }
    for name, (models, _) in trained.items():
        results["held_out"][name] = {"pooled": score(rollouts(models, pooled))}
        for test, w in windows.items():
            results["held_out"][name][test] = score(rollouts(models, w))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.results_name}.json").write_text(json.dumps(results, indent=2))
    _write_markdown(RESULTS / f"{args.results_name}.md", results)
    print((RESULTS / f"{args.results_name}.md").read_text())


def _write_markdown(path: Path, results: dict[str, Any]) -> None:
    cfg = results["config"]
    lines = [
        "# Ensemble design: prior heads on a shared trunk (linear or MLP heads) vs independent world models",
        "",
        f"`small` preset, {cfg['members']} members, {cfg['updates']} updates of batch {cfg['batch_size']} each, "
        f"trained on {cfg['train']} (first ~{cfg['train_steps']} steps); seed {cfg['seed']}; 1 CPU thread.",
        "",
        "| design | updates/s |",
        "|---|---|",
        *[f"| {name} | {rate:.2f} |" for name, rate in results["updates_per_second"].items()],
        "",
        "Parameters: " + ", ".join(f"{design} {count:,}" for design, count in results["parameters"].items()) + ".",
        "",
        f"Spearman rank correlation between disagreement and the ensemble-mean prediction error ({cfg['windows']} "
        f"held-out windows per data set; {CONTEXT} context steps, error over {HORIZON} open-loop steps):",
        "",
        "| design | test windows | error 1-step | error 10-step | rho obs-var 1 | rho obs-var 10 | rho JS 1 "
        "| rho JS 10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for design, tests in results["held_out"].items():
        for test, r in tests.items():
            js = [f"{r[k]:.2f}" if k in r else "—" for k in ("spearman_js_1step", "spearman_js_10step")]
            lines.append(
                f"| {design} | {test} | {r['error_1step_mean']:.3f} | {r['error_10step_mean']:.3f} | "
                f"{r['spearman_obs_variance_1step']:.2f} | {r['spearman_obs_variance_10step']:.2f} | "
                f"{js[0]} | {js[1]} |"
            )
    notes = path.with_suffix(".notes.md")  # the hand-written reading of the results, kept across reruns
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    path.write_text("\n".join(lines) + "\n")


def _rows(data: Any, rows: slice) -> Any:
    """A contiguous block of whole episodes as its own SequenceData."""
    from dreamgym.data import SequenceData

    fields = ("obs", "prev_action", "action", "reward", "is_first", "is_terminal", "episode_index")
    return SequenceData(**{f: getattr(data, f)[rows] for f in fields}, metadata=data.metadata)


if __name__ == "__main__":
    main()
