"""Peer baseline: the wall time of one SheepRL DreamerV3 training update on CPU.

Why: to compare the training speed of our own DreamerV3 with a published implementation, on the same machine, for the
same model size and batch. It times SheepRL's own code, not a re-implementation: the agent is built by SheepRL's
``build_agent`` from SheepRL's composed hydra config (``exp=dreamer_v3``, whose algo is ``dreamer_v3_S``: dense units
512, recurrent state 512, 32x32 stochastic state, 2 MLP layers), and each update is SheepRL's ``train`` (world-model
loss + backward + Adam step, then imagination of ``algo.horizon`` = 15 steps from all 16*64 posterior states, actor
loss + backward + step, critic loss + backward + step), preceded by the soft update of the target critic that SheepRL's
``main`` does before every ``train`` call.

The task is vector-only and Hopper-like: observation ``state`` of size 15, continuous actions of size 3. The batch is
synthetic (16 sequences x 64 steps): the speed of an update does not depend on the values. Metrics are off, as with
``metric.log_level=0`` (no entropy metrics, no aggregator).

The world-model part is timed by wrapping ``sheeprl.algos.dreamer_v3.dreamer_v3.world_model_learning`` (which ``train``
looks up in its module) with a timer; the actor-critic part is the rest of the update (target-critic update,
``behaviour_learning`` and the final ``zero_grad`` calls).

Run (it needs the separate environment with sheeprl, see the report of the benchmark)::

    .venv-sheeprl/bin/python benchmarks/sheeprl_dreamer_update.py --threads 2 --updates 5

It prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import hydra
import numpy as np
import sheeprl
import sheeprl.algos.dreamer_v3.dreamer_v3 as dv3
import torch
from hydra import compose, initialize_config_module
from lightning.fabric import Fabric
from omegaconf import OmegaConf
from sheeprl.algos.dreamer_v3.agent import build_agent
from sheeprl.algos.dreamer_v3.utils import Moments
from sheeprl.utils.metric import MetricAggregator
from sheeprl.utils.utils import dotdict

OBS_SIZE, ACTION_SIZE, BATCH, SEQ_LEN = 15, 3, 16, 64


def compose_cfg() -> dotdict:
    """SheepRL's DreamerV3 S config for a vector observation named ``state``, resolved as sheeprl's cli does."""
    with initialize_config_module(config_module="sheeprl.configs", version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[
                "exp=dreamer_v3",
                "env=dummy",
                "env.num_envs=1",
                "algo.cnn_keys.encoder=[]",
                "algo.cnn_keys.decoder=[]",
                "algo.mlp_keys.encoder=[state]",
                "algo.mlp_keys.decoder=[state]",
                f"algo.per_rank_batch_size={BATCH}",
                f"algo.per_rank_sequence_length={SEQ_LEN}",
                "metric.log_level=0",
            ],
        )
    return dotdict(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))


def synthetic_batch() -> dict[str, torch.Tensor]:
    """A batch as SheepRL's ``sample_batches`` gives it: float32 tensors of shape [T, B, ...]."""
    shape = (SEQ_LEN, BATCH)
    return {
        "state": torch.randn(*shape, OBS_SIZE),
        "actions": torch.rand(*shape, ACTION_SIZE) * 2 - 1,
        "rewards": torch.randn(*shape, 1),
        "terminated": (torch.rand(*shape, 1) < 0.01).float(),
        "truncated": torch.zeros(*shape, 1),
        "is_first": torch.zeros(*shape, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    cfg = compose_cfg()
    torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    MetricAggregator.disabled = True  # as sheeprl's cli does with metric.log_level=0
    fabric = Fabric(accelerator="cpu", devices=1, precision=cfg.fabric.precision)

    obs_space = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (OBS_SIZE,), np.float32)})
    actions_dim = (ACTION_SIZE,)
    world_model, actor, critic, target_critic, _player = build_agent(fabric, actions_dim, True, cfg, obs_space)

    def make_optimizer(opt_cfg: Any, module: torch.nn.Module) -> torch.optim.Optimizer:
        return hydra.utils.instantiate(opt_cfg, params=module.parameters(), _convert_="all")

    optimizers = fabric.setup_optimizers(
        make_optimizer(cfg.algo.world_model.optimizer, world_model),
        make_optimizer(cfg.algo.actor.optimizer, actor),
        make_optimizer(cfg.algo.critic.optimizer, critic),
    )
    m = cfg.algo.actor.moments
    moments = Moments(m.decay, m.max, m.percentile.low, m.percentile.high)

    # Time the world-model part inside `train` by wrapping the function it calls
    wm_time = [0.0]
    original_wm_learning: Callable[..., Any] = dv3.world_model_learning

    def timed_wm_learning(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        out = original_wm_learning(*a, **kw)
        wm_time[0] += time.perf_counter() - start
        return out

    dv3.world_model_learning = timed_wm_learning

    def one_update(step: int, data: dict[str, torch.Tensor]) -> None:
        # The soft update of the target critic that sheeprl's `main` does before every `train`
        if step % cfg.algo.critic.per_rank_target_network_update_freq == 0:
            tau = 1 if step == 0 else cfg.algo.critic.tau
            for cp, tcp in zip(critic.module.parameters(), target_critic.parameters(), strict=True):
                tcp.data.copy_(tau * cp.data + (1 - tau) * tcp.data)
        dv3.train(
            fabric,
            world_model,
            actor,
            critic,
            target_critic,
            *optimizers,
            data,
            None,
            cfg,
            True,
            actions_dim,
            moments,
        )

    for step in range(args.warmup):
        one_update(step, synthetic_batch())
    wm_time[0] = 0.0
    total = 0.0
    for step in range(args.warmup, args.warmup + args.updates):
        data = synthetic_batch()  # made outside the timed region
        start = time.perf_counter()
        one_update(step, data)
        total += time.perf_counter() - start
    n = args.updates
    result = {
        "sheeprl_version": sheeprl.__version__,
        "torch_version": torch.__version__,
        "threads": args.threads,
        "batch": [BATCH, SEQ_LEN],
        "horizon": int(cfg.algo.horizon),
        "full_update_s": round(total / n, 4),
        "world_model_s": round(wm_time[0] / n, 4),
        "actor_critic_s": round((total - wm_time[0]) / n, 4),
        "updates_timed": n,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
