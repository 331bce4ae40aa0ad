"""HER-SAC for goal-conditioned tasks, the agent the manipulation benchmark and the zoo's Panda policies use."""

from __future__ import annotations

from typing import Any

__all__ = ["her_sac"]


def her_sac(env: Any, seed: int) -> Any:
    """SB3 SAC with a HER replay buffer on ``env``'s ``Dict`` observations, with rl-zoo3's panda-gym settings
    (future-goal relabelling, 4 sampled goals): the standard agent of those tasks, so results compare."""
    from stable_baselines3 import SAC, HerReplayBuffer

    return SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
        learning_starts=1000,
        seed=seed,
        device="cpu",
        verbose=0,
    )
