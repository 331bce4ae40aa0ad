"""Model-free offline baseline: IQL (Kostrikov et al. 2021) with TorchRL's ``IQLLoss``, on a dreamgym data set.

Why TorchRL and not d3rlpy: d3rlpy 2.8.1 pins ``gymnasium==1.0.0`` and would downgrade the project's
gymnasium 1.4; ``torchrl==0.14.1`` (with ``tensordict==0.14.3``) installs beside gymnasium 1.4 and torch 2.13
without changing either (checked with ``pip freeze`` before and after). It is an optional extra,
``pip install -e '.[offline]'``, used only by the benchmark. Only the loss comes from TorchRL; the data are
our own :class:`~dreamgym.data.SequenceData` rows, so the baseline sees exactly what the world model sees.

Hyperparameters are IQL's D4RL locomotion settings (expectile 0.7, temperature 3, 256x256 MLPs, Adam 3e-4,
target tau 0.005, rewards scaled by 1000 / (max episode return - min episode return)), with fewer updates
to fit our CPU budget; the count is recorded with every result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["IQLConfig", "train_iql"]


@dataclass(frozen=True)
class IQLConfig:
    """IQL settings.

    Attributes:
        updates: gradient updates (IQL's paper uses 1M; we use what the budget allows).
        batch_size: transitions per update.
        hidden: width of the two hidden layers of actor, critics and value net.
        lr: Adam learning rate of all three networks.
        expectile: tau of the value net's expectile regression; 0.5 is SARSA, near 1 is max-Q.
        temperature: beta of advantage-weighted regression; larger trusts Q more, smaller clones more.
        tau: Polyak rate of the target critics.
        gamma: discount.
        seed: seeds network init and batch sampling.
    """

    updates: int = 20_000
    batch_size: int = 256
    hidden: int = 256
    lr: float = 3e-4
    expectile: float = 0.7
    temperature: float = 3.0
    tau: float = 0.005
    gamma: float = 0.99
    seed: int = 0


def _transitions(data: Any) -> dict[str, torch.Tensor]:
    """The data set's transitions as tensors, rewards scaled as IQL does for locomotion."""
    steps = data.transitions()
    returns = np.add.reduceat(data.reward, np.flatnonzero(data.is_first))
    scale = 1000.0 / max(float(returns.max() - returns.min()), 1e-6)
    return {
        "observation": torch.as_tensor(steps["observation"]),
        "action": torch.as_tensor(steps["action"]).clamp(-1 + 1e-4, 1 - 1e-4),  # TanhNormal's support
        "reward": torch.as_tensor(steps["reward"] * scale).unsqueeze(-1),
        "next_observation": torch.as_tensor(steps["next_observation"]),
        "terminated": torch.as_tensor(steps["terminated"]).unsqueeze(-1),
    }


def _mlp(inputs: int, outputs: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


class _QNet(nn.Module):
    """Q(s, a) as an MLP on the concatenation; TorchRL's ValueOperator passes the two inputs separately."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int):
        super().__init__()
        self.net = _mlp(obs_dim + act_dim, 1, hidden)

    def forward(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([observation, action], -1))


def train_iql(
    data: Any,
    cfg: IQLConfig,
    logdir: str | Path | None = None,
    progress: bool = True,
    score: Callable[[Callable[[np.ndarray], np.ndarray]], float] | None = None,
    score_every: int = 0,
):
    """Trains IQL on ``data`` and returns ``(policy, info)``: a batched deterministic policy (the tanh of the
    actor's mean, as IQL evaluates) and training facts (updates/s, final losses, config).

    With ``score`` and ``score_every``, the policy is scored every ``score_every`` updates (scoring time is not
    counted in updates/s) and ``info["curve"]`` lists ``(updates, score)``: the learning curve that says
    whether the budget was enough.
    """
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torch.utils.tensorboard import SummaryWriter
    from torchrl.data import Bounded
    from torchrl.envs.utils import ExplorationType, set_exploration_type
    from torchrl.modules import ProbabilisticActor, TanhNormal, ValueOperator
    from torchrl.modules.distributions import NormalParamExtractor
    from torchrl.objectives import IQLLoss, SoftUpdate

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    batch = _transitions(data)
    obs_dim, act_dim = batch["observation"].shape[1], batch["action"].shape[1]
    actor_net = nn.Sequential(_mlp(obs_dim, 2 * act_dim, cfg.hidden), NormalParamExtractor())
    actor = ProbabilisticActor(
        TensorDictModule(actor_net, in_keys=["observation"], out_keys=["loc", "scale"]),
        in_keys=["loc", "scale"],
        spec=Bounded(-torch.ones(act_dim), torch.ones(act_dim), (act_dim,)),
        distribution_class=TanhNormal,
        return_log_prob=False,
    )
    qvalue = ValueOperator(_QNet(obs_dim, act_dim, cfg.hidden), in_keys=["observation", "action"])
    value = ValueOperator(_mlp(obs_dim, 1, cfg.hidden), in_keys=["observation"])
    loss_module = IQLLoss(
        actor,
        qvalue,
        value,
        num_qvalue_nets=2,
        loss_function="l2",
        temperature=cfg.temperature,
        expectile=cfg.expectile,
    )
    loss_module.make_value_estimator(gamma=cfg.gamma)
    target_updater = SoftUpdate(loss_module, tau=cfg.tau)
    optimizer = torch.optim.Adam(loss_module.parameters(), lr=cfg.lr)
    writer = SummaryWriter(str(logdir)) if logdir else None
    n = len(batch["observation"])
    losses: dict[str, float] = {}

    def policy(obs: np.ndarray) -> np.ndarray:
        # The deterministic action of the TanhNormal (its mode), as IQL is evaluated.
        obs_t = torch.as_tensor(np.asarray(obs, np.float32))
        with torch.inference_mode(), set_exploration_type(ExplorationType.DETERMINISTIC):
            td = actor(TensorDict({"observation": obs_t}, batch_size=[len(obs_t)]))
        return td["action"].numpy()

    curve: list[tuple[int, float]] = []
    scoring = 0.0
    started = time.perf_counter()
    for step in tqdm(range(cfg.updates), desc="IQL", unit="upd", disable=not progress):
        idx = torch.as_tensor(rng.integers(0, n, cfg.batch_size))
        td = TensorDict(
            {
                "observation": batch["observation"][idx],
                "action": batch["action"][idx],
                "next": {
                    "observation": batch["next_observation"][idx],
                    "reward": batch["reward"][idx],
                    "terminated": batch["terminated"][idx],
                    "done": batch["terminated"][idx],
                },
            },
            batch_size=[cfg.batch_size],
        )
        out = loss_module(td)
        loss = out["loss_actor"] + out["loss_qvalue"] + out["loss_value"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        target_updater.step()
        if (step + 1) % 500 == 0 or step + 1 == cfg.updates:
            losses = {k: float(out[k].detach()) for k in ("loss_actor", "loss_qvalue", "loss_value")}
            if writer:
                for key, val in losses.items():
                    writer.add_scalar(f"iql/{key}", val, step + 1)
        if score is not None and score_every and (step + 1) % score_every == 0:
            before = time.perf_counter()
            curve.append((step + 1, float(score(policy))))
            scoring += time.perf_counter() - before
            if writer:
                writer.add_scalar("iql/score", curve[-1][1], step + 1)
    seconds = time.perf_counter() - started - scoring
    if writer:
        writer.close()
    info = {"config": asdict(cfg), "seconds": seconds, "updates_per_second": cfg.updates / seconds, "losses": losses}
    if curve:
        info["curve"] = curve
    return policy, info
