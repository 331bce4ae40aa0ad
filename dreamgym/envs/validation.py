"""Checks on actions that arrive from users, run before any dream state changes."""

from __future__ import annotations

import numpy as np

from dreamgym.errors import InvalidActionError

__all__ = ["validate_action", "validate_action_batch"]


def _check_numeric(actions: np.ndarray, name: str) -> None:
    if not (np.issubdtype(actions.dtype, np.floating) or np.issubdtype(actions.dtype, np.integer)):
        raise InvalidActionError(f"Expected `{name}` with a float dtype, got dtype {actions.dtype}.")


def validate_action(action: np.ndarray, action_dim: int) -> np.ndarray:
    """Returns one action as a (1, action_dim) float32 batch, or raises naming what is wrong."""
    action = np.asarray(action)
    if action.shape != (action_dim,):
        raise InvalidActionError(f"Expected `action` of shape {(action_dim,)}, got {action.shape}.")
    _check_numeric(action, "action")
    if not np.isfinite(action).all():
        raise InvalidActionError(f"Expected a finite `action` in [-1, 1], got {action.tolist()}.")
    return action.astype(np.float32)[None]


def validate_action_batch(actions: np.ndarray, num_envs: int, action_dim: int, active: np.ndarray | None = None):
    """Returns a (num_envs, action_dim) float32 batch, or raises naming the envs whose actions are bad.

    Args:
        actions: the batch given by the caller.
        num_envs: expected batch size.
        action_dim: expected action size.
        active: envs whose actions are used this step (others are being reset and their actions ignored).
    """
    actions = np.asarray(actions)
    expected = (num_envs, action_dim)
    if actions.shape != expected:
        raise InvalidActionError(f"Expected `actions` of shape {expected}, got {actions.shape}.")
    _check_numeric(actions, "actions")
    bad = ~np.isfinite(actions).all(axis=1)
    if active is not None:
        bad &= active
    if bad.any():
        raise InvalidActionError(
            f"`actions` contain NaN or inf for env indices {np.flatnonzero(bad).tolist()}; expected finite "
            "values in [-1, 1]. No env was stepped."
        )
    return actions.astype(np.float32, copy=False)
