"""The Gymnasium spaces a user's task may have, checked and described as JSON for checkpoints.

dreamgym's world models work on one flat float vector per observation and continuous actions in [-1, 1]. A user's
env or log may observe a ``Box`` (a flat vector) or a ``Dict`` of ``Box`` sub-spaces, flattened in the ``Dict``'s
own key order (``gymnasium.spaces.flatten``'s order, the one :class:`~dreamgym.tasks.goals.DictCodec` uses), and
act in a ``Box`` with finite bounds, rescaled to [-1, 1]. Everything else is refused here, by name, with the reason.

A checkpoint stores :func:`describe_space` of the env's own spaces, so it can rebuild the task without the env or
the data set, and refuse a task whose spaces are not the ones it was trained on. Infinite bounds are written as
``null`` (JSON has no infinity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_action_space", "check_observation_space", "describe_space", "space_from_description"]


def check_observation_space(space: Any, source: str) -> None:
    """Refuses an observation space dreamgym cannot model, naming it and saying why.

    Args:
        space: the env's or the log's observation space.
        source: what it belongs to (an env id, a data set), for the message.

    Raises:
        ValueError: not a flat float ``Box`` nor a ``Dict`` of float ``Box`` sub-spaces.
    """
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        for key, sub in space.spaces.items():
            if not isinstance(sub, spaces.Box) or not np.issubdtype(sub.dtype, np.floating):
                raise ValueError(
                    f"{source} observes {space}; its entry {key!r} is {sub}, and dreamgym's tasks take a Dict of "
                    "float Box entries only (nested Dicts, discrete entries and camera images are not supported "
                    "yet: the world model's encoder reads one flat vector, or the pixel tasks' 64x64 frames)."
                )
        return
    if not isinstance(space, spaces.Box) or len(space.shape) != 1 or not np.issubdtype(space.dtype, np.floating):
        raise ValueError(
            f"{source} observes {space}; dreamgym's tasks take a flat float Box observation or a Dict of float Box "
            "entries (images are the pixel tasks', not yet a user's; discrete observations are not supported: the "
            "world model decodes real values)."
        )


def check_action_space(space: Any, source: str) -> None:
    """Refuses an action space dreamgym cannot model, naming it and saying why.

    Raises:
        ValueError: not a flat ``Box``, or a ``Box`` with an infinite bound.
    """
    from gymnasium import spaces

    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ValueError(
            f"{source} acts in {space}; dreamgym's world models take continuous actions, a flat Box "
            "(discrete actions are not supported: the dream's dynamics are conditioned on real-valued actions)."
        )
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise ValueError(f"{source} has unbounded actions {space}; expected finite bounds to rescale to [-1, 1].")


def _bounds(values: np.ndarray) -> Any:
    """Per-element bounds as JSON, one number where all are equal (a camera frame's 0 and 255)."""
    values = [float(v) if np.isfinite(v) else None for v in np.asarray(values, np.float64).ravel()]
    return values[0] if values and all(v == values[0] for v in values) else values


def describe_space(space: Any) -> dict[str, Any]:
    """A JSON description of a ``Box`` or a ``Dict`` of ``Box`` sub-spaces: shapes, dtypes, bounds, key order.

    Example:
        >>> from gymnasium import spaces
        >>> describe_space(spaces.Box(-2.0, 2.0, shape=(1,)))
        {'type': 'Box', 'shape': [1], 'dtype': 'float32', 'low': -2.0, 'high': 2.0}
    """
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        # A list, not an object: the key order is the flattening order and must survive any JSON reader.
        return {"type": "Dict", "spaces": [[key, describe_space(sub)] for key, sub in space.spaces.items()]}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": np.dtype(space.dtype).name,
            "low": _bounds(space.low),
            "high": _bounds(space.high),
        }
    raise TypeError(f"Expected a Box or a Dict of Box spaces to describe, got {space}.")


def space_from_description(description: dict[str, Any]) -> Any:
    """The space :func:`describe_space` described (a ``Dict`` keeps the described key order)."""
    from gymnasium import spaces

    kind = description.get("type")
    if kind == "Dict":
        return spaces.Dict([(key, space_from_description(sub)) for key, sub in description["spaces"]])  # order kept
    if kind == "Box":
        shape = tuple(description["shape"])

        def bound(values: Any, missing: float) -> np.ndarray:
            if not isinstance(values, list):  # one bound for every element
                return np.full(shape, missing if values is None else values, np.float64)
            return np.array([missing if v is None else v for v in values], np.float64).reshape(shape)

        dtype = np.dtype(description["dtype"])
        low, high = bound(description["low"], -np.inf), bound(description["high"], np.inf)
        return spaces.Box(low.astype(dtype), high.astype(dtype), dtype=dtype)  # the recorded bounds are dtype's
    raise ValueError(f"Expected a space description of type 'Box' or 'Dict', got {kind!r}.")
