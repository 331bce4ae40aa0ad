"""Size presets and training settings for the world model, in one place (like dreamerv3's configs.yaml)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from dreamgym.tasks.layout import ObsLayout

__all__ = ["DECODERS", "ENSEMBLE_HEADS", "PRESETS", "DecoderLayout", "TrainConfig", "WorldModelConfig", "make_config"]

ENSEMBLE_HEADS = ("linear", "mlp")
DECODERS = ("structured", "plain")


@dataclass(frozen=True)
class DecoderLayout:
    """Which decoder outputs are not free real numbers, so the decoded observation is a state the robot can be in.

    The world model stays task-agnostic: this is all it knows of a task's :class:`~dreamgym.tasks.layout.ObsLayout`.

    Attributes:
        angle_pairs: (cos_dim, sin_dim) pairs, decoded onto the unit circle.
        binary: dimensions decoded as Bernoulli variables (contacts), trained with a log-likelihood loss.
        low, high: per-dimension bounds the decoded value is projected into (``None``: unbounded), or ``None``
            when no dimension is bounded.
        floor: the kinematic chain of a planar walker (:func:`dreamgym.tasks.kinematics.planar_chain`); a decoded
            torso is raised until no part of the robot is below the floor. ``None``: no floor projection.
        integrals: (position_dim, velocity_dim, dt) of positions the simulator advances by exactly ``dt`` times the
            new velocity (:class:`~dreamgym.tasks.layout.Integral`); a dream steps them that way from the
            previous observation instead of decoding them afresh, so they move no faster than their velocity.
        planar: ``{"roll": dim, "heading": [cos_dim, sin_dim], "lateral": [dims], "pitch": dim}`` of a robot held in
            a plane (:class:`~dreamgym.tasks.layout.Planar`): the decoded roll is snapped to 0 or +-pi, the heading
            to 0 or pi with it and the sideways speed to 0; with a ``pitch`` the roll and pitch are decoded as one
            angle (:mod:`dreamgym.world_model.decoder`). ``None``: not a planar robot, or a checkpoint from before.
        table: a tabletop task's scene (:meth:`dreamgym.tasks.scene.TableScene.decoder_table`): the decoded gripper
            and block are kept out of the table, a block nothing can lift on it, and the achieved goal on the
            position it repeats (:mod:`dreamgym.world_model.tabletop`). ``None``: no table, or a checkpoint from
            before.
    """

    angle_pairs: tuple[tuple[int, int], ...] = ()
    binary: tuple[int, ...] = ()
    low: tuple[float | None, ...] | None = None
    high: tuple[float | None, ...] | None = None
    floor: dict[str, Any] | None = None
    integrals: tuple[tuple[int, int, float], ...] = ()
    planar: dict[str, Any] | None = None
    table: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # JSON gives lists back; tuples keep a loaded config equal to the one that was saved.
        object.__setattr__(self, "angle_pairs", tuple(tuple(int(d) for d in pair) for pair in self.angle_pairs))
        object.__setattr__(self, "binary", tuple(int(d) for d in self.binary))
        object.__setattr__(self, "integrals", tuple((int(p), int(v), float(dt)) for p, v, dt in self.integrals))
        if self.planar is not None:
            planar = self.planar
            object.__setattr__(
                self,
                "planar",
                {
                    "roll": int(planar["roll"]),
                    "heading": tuple(planar["heading"]),
                    "lateral": tuple(planar["lateral"]),
                    "pitch": None if planar.get("pitch") is None else int(planar["pitch"]),
                },
            )
        for name in ("low", "high"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(None if v is None else float(v) for v in value))
        if (self.low is None) != (self.high is None) or (self.low is not None and len(self.low) != len(self.high)):
            raise ValueError("Expected both `low` and `high` bounds of one length, or neither.")
        paired = [d for pair in self.angle_pairs for d in pair]
        if len(set(paired)) != len(paired) or set(paired) & set(self.binary):
            raise ValueError(f"A dimension is in more than one angle pair or also binary: {self}.")

    @classmethod
    def from_task(
        cls,
        layout: ObsLayout,
        obs: np.ndarray | None = None,
        floor: dict[str, Any] | None = None,
        table: dict[str, Any] | None = None,
    ) -> DecoderLayout:
        """The decoder layout of a task's observation layout; real observations ``obs`` widen joint limits to
        what the simulator reaches (see :meth:`ObsLayout.bounds`); ``floor`` is the task's kinematic chain and
        ``table`` its tabletop scene."""
        low, high = layout.bounds(obs)
        bounded = [math.isfinite(lo) or math.isfinite(hi) for lo, hi in zip(low, high, strict=True)]
        return cls(
            angle_pairs=layout.angle_pairs,
            binary=layout.contact_dims,
            low=_finite_or_none(low) if any(bounded) else None,
            high=_finite_or_none(high) if any(bounded) else None,
            floor=floor,
            integrals=tuple((i.position, i.velocity, i.dt) for i in layout.integrals),
            planar=None if layout.planar is None else dataclasses.asdict(layout.planar),
            table=table,
        )

    def check(self, obs_dim: int) -> None:
        dims = [d for pair in self.angle_pairs for d in pair] + list(self.binary)
        dims += [d for position, velocity, _ in self.integrals for d in (position, velocity)]
        if self.planar is not None:
            dims += [self.planar["roll"], *self.planar["heading"], *self.planar["lateral"]]
            dims += [] if self.planar["pitch"] is None else [self.planar["pitch"]]
        if self.table is not None:
            dims += [d for key, value in self.table.items() if key.endswith("_dims") for d in value or ()]
        if any(not 0 <= d < obs_dim for d in dims) or (self.low is not None and len(self.low) != obs_dim):
            raise ValueError(f"Decoder layout {self} does not fit observations of {obs_dim} dimensions.")


def _finite_or_none(values) -> tuple[float | None, ...]:
    """JSON has no infinity: an absent bound is ``None``."""
    return tuple(float(v) if math.isfinite(v) else None for v in values)


@dataclass(frozen=True)
class WorldModelConfig:
    """Architecture of the RSSM world model for vector observations, with camera images beside them.

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
        inference_unimix: whether the latents drawn at inference (filtering real observations through
            :meth:`WorldModel.observe`, as a dream's start or a latent policy does, and imagination) come from those
            mixed categoricals, as training's do (checkpoints whose config predates this setting), or from the
            network's own (the default). The mix exists for the KL; drawn from at inference it puts, in some latent,
            a class the network gives almost no probability on about one step in seven (16 latents of 16 classes),
            and a dream started from such a state jumps: filtering without it cut HalfCheetah's dreamed jumps from
            1.12 % to 0.77 % of steps (``benchmarks/results/physics.notes.md``).
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
        decoder: ``"structured"``: training fills ``obs_layout`` from the task's observation layout
            (:func:`~dreamgym.world_model.trainer.train_world_model`); ``"plain"``: every dimension is a free real
            number, as in checkpoints whose config predates this setting. Structured decoding is the default
            because its dreams break no audited fact (``benchmarks/results/physics.md``).
        obs_layout: how the decoder respects the kinds of observation dimensions (angle pairs on the unit circle,
            bounded joints, binary contacts); ``None`` decodes every dimension as a free real number.
        image_shape: (height, width, channels) of the camera image observed beside the vector, encoded by
            DreamerV3's CNN and reconstructed by its transposed CNN (:mod:`~dreamgym.world_model.image_nets`);
            ``None``: no image (every checkpoint whose config predates this setting).
        cnn_depth: channels of the CNN's first stage (doubling at every stage).
        image_foreground_weight: extra weight of the image loss on pixels that differ from the scene's static
            background (the per-pixel median of the training frames, kept with the weights), so a small object
            (PandaPush's block covers 6-14 of 4,096 pixels) weighs more than its area against the table and the
            sky; 0 weighs every pixel alike, as DreamerV3 does. Without ``image_shape`` it has nothing to weigh.
    """

    obs_dim: int
    action_dim: int
    deter: int = 512
    hidden: int = 512
    stoch: int = 32
    classes: int = 32
    mlp_layers: int = 2
    unimix: float = 0.01
    inference_unimix: bool = False
    reward_bins: int = 255
    reward_limit: float = 20.0
    free_bits: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    ensemble: int = 1
    ensemble_heads: str = "mlp"
    decoder: str = "structured"
    obs_layout: DecoderLayout | None = None
    image_shape: tuple[int, int, int] | None = None
    cnn_depth: int = 32
    image_foreground_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.image_shape is not None:  # JSON gives a list back
            object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
            if len(self.image_shape) != 3:
                raise ValueError(f"Expected `image_shape` (height, width, channels), got {self.image_shape}.")
        if self.image_foreground_weight < 0:
            raise ValueError(f"Expected a non-negative `image_foreground_weight`, got {self.image_foreground_weight}.")
        if self.ensemble_heads not in ENSEMBLE_HEADS:
            raise ValueError(f"Unknown ensemble_heads {self.ensemble_heads!r}; expected one of {list(ENSEMBLE_HEADS)}.")
        if self.decoder not in DECODERS:
            raise ValueError(f"Unknown decoder {self.decoder!r}; expected one of {list(DECODERS)}.")
        if isinstance(self.obs_layout, dict):  # read back from config.json
            object.__setattr__(self, "obs_layout", DecoderLayout(**self.obs_layout))
        if self.obs_layout is not None:
            if self.decoder == "plain":
                raise ValueError("A plain decoder has no observation layout; pass decoder='structured' or no layout.")
            self.obs_layout.check(self.obs_dim)

    def with_task_layout(
        self,
        layout: ObsLayout | None,
        obs: np.ndarray | None = None,
        floor: dict[str, Any] | None = None,
        table: dict[str, Any] | None = None,
    ) -> WorldModelConfig:
        """This config with a structured decoder's layout filled in from a task's observation layout, real
        observations (which bound the joints), the task's kinematic chain and its tabletop scene (see
        :meth:`DecoderLayout.from_task`). A plain decoder, a layout already set, or a task without a layout leave
        the config as it is."""
        if self.decoder == "plain" or self.obs_layout is not None or layout is None:
            return self
        return dataclasses.replace(self, obs_layout=DecoderLayout.from_task(layout, obs, floor, table))

    @property
    def stoch_flat(self) -> int:
        return self.stoch * self.classes

    @property
    def feature_dim(self) -> int:
        return self.deter + self.stoch_flat

    def to_dict(self) -> dict[str, Any]:
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
        model=dict(deter=32, hidden=32, stoch=4, classes=4, mlp_layers=1, cnn_depth=4),
        train=dict(batch_size=4, seq_len=16, steps=50, log_every=10, checkpoint_every=25),
    ),
    "small": _Preset(
        model=dict(deter=128, hidden=128, stoch=16, classes=16, mlp_layers=2, cnn_depth=16),
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
