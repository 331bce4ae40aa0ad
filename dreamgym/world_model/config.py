"""Size presets and training settings for the world model, in one place (like dreamerv3's configs.yaml)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["ENSEMBLE_HEADS", "PRESETS", "TrainConfig", "WorldModelConfig", "make_config"]

ENSEMBLE_HEADS = ("linear", "mlp")


@dataclass(frozen=True)
class WorldModelConfig:
    """Architecture of the RSSM world model for vector observations.

    Attributes:
        obs_dim: size of the flat observation vector.
        action_dim: size of the continuous action vector.
        deter: width of the deterministic GRU state h.
        hidden: width of every hidden MLP layer.
        stoch: number of categorical latent variables in z.
        classes: classes per categorical latent.
        mlp_layers: hidden layers of the encoder, decoder and heads.
        unimix: share of the uniform distribution mixed into every categorical, so no class gets
            probability zero and the KL never explodes.
        reward_bins: bins of the two-hot reward head, spaced evenly in symlog space.
        reward_limit: the bins span [-reward_limit, reward_limit] in symlog space.
        free_bits: KL below this many nats is not penalised, so the posterior keeps information.
        dyn_scale: weight of KL(sg(posterior) || prior), which trains the dynamics.
        rep_scale: weight of KL(posterior || sg(prior)), which keeps representations predictable.
        ensemble: number of dynamics (prior) heads; more than one gives a disagreement signal.
        ensemble_heads: ``"mlp"``: each head is an MLP of its own, so heads share only the GRU state they
            read; ``"linear"``: the heads are output layers of one prior MLP and share its hidden layer (the
            design of checkpoints whose config predates this setting, which load as linear). MLP heads are the
            default because their disagreement ranks model error better off the data
            (``benchmarks/results/ensemble_heads.md``), and with them the MOPO penalty helped offline
            (``offline_mlp.md``) and the demo reached its target in fewer rounds (``demo_runs/README.md``).
    """

    obs_dim: int
    action_dim: int
    deter: int = 512
    hidden: int = 512
    stoch: int = 32
    classes: int = 32
    mlp_layers: int = 2
    unimix: float = 0.01
    reward_bins: int = 255
    reward_limit: float = 20.0
    free_bits: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    ensemble: int = 1
    ensemble_heads: str = "mlp"

    def __post_init__(self) -> None:
        if self.ensemble_heads not in ENSEMBLE_HEADS:
            raise ValueError(f"Unknown ensemble_heads {self.ensemble_heads!r}; expected one of {list(ENSEMBLE_HEADS)}.")

    @property
    def stoch_flat(self) -> int:
        return self.stoch * self.classes

    @property
    def feature_dim(self) -> int:
        return self.deter + self.stoch_flat

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """How the world model is trained.

    Attributes:
        batch_size: sequences per update.
        seq_len: steps per sequence; the RSSM is unrolled over this many steps.
        steps: total gradient updates.
        lr: Adam learning rate.
        eps: Adam epsilon.
        grad_clip: global gradient norm limit.
        log_every: updates between TensorBoard scalars.
        checkpoint_every: updates between checkpoints (a killed run resumes from the last one).
        seed: seeds parameter init and batch sampling.
    """

    batch_size: int = 16
    seq_len: int = 64
    steps: int = 5000
    lr: float = 3e-4
    eps: float = 1e-8
    grad_clip: float = 100.0
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "steps", "log_every", "checkpoint_every"):
            if not getattr(self, name) >= 1:  # 0 updates would "train" and save an untrained model
                raise ValueError(f"Expected a positive `{name}` for world-model training, got {getattr(self, name)}.")
        for name in ("lr", "eps", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Expected a positive `{name}` for world-model training, got {getattr(self, name)}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Preset:
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)


# `debug` exists for tests and smoke runs; `small` trains in minutes on 2 CPU cores; `default` is the
# DreamerV3 paper's S size (deter 512, 32x32 latents).
PRESETS: dict[str, _Preset] = {
    "debug": _Preset(
        model=dict(deter=32, hidden=32, stoch=4, classes=4, mlp_layers=1),
        train=dict(batch_size=4, seq_len=16, steps=50, log_every=10, checkpoint_every=25),
    ),
    "small": _Preset(
        model=dict(deter=128, hidden=128, stoch=16, classes=16, mlp_layers=2),
        train=dict(batch_size=32, seq_len=32, steps=3000, lr=1e-3),
    ),
    "default": _Preset(
        model=dict(deter=512, hidden=512, stoch=32, classes=32, mlp_layers=2),
        train=dict(batch_size=16, seq_len=64, steps=20000, lr=3e-4),
    ),
}


def make_config(preset: str, obs_dim: int, action_dim: int, **overrides) -> tuple[WorldModelConfig, TrainConfig]:
    """Builds model and training configs from a named preset, with field-level overrides.

    Overrides are routed to whichever config has the field, so callers can pass ``steps=100`` or
    ``deter=64`` alike.
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown world-model preset {preset!r}; expected one of {sorted(PRESETS)}.")
    model_fields = {f.name for f in dataclasses.fields(WorldModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(overrides) - model_fields - train_fields
    if unknown:
        raise ValueError(
            f"Unknown config fields {sorted(unknown)}; expected fields of WorldModelConfig or TrainConfig."
        )
    model_kwargs = {**PRESETS[preset].model, **{k: v for k, v in overrides.items() if k in model_fields}}
    train_kwargs = {**PRESETS[preset].train, **{k: v for k, v in overrides.items() if k in train_fields}}
    model_kwargs.update(obs_dim=obs_dim, action_dim=action_dim)
    return WorldModelConfig(**model_kwargs), TrainConfig(**train_kwargs)
