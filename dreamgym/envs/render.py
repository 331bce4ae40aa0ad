"""Frames of a dreamed vector state: one bar per observation dimension, drawn with OpenCV because it is fast."""

from __future__ import annotations

import numpy as np

__all__ = ["render_vector_state"]


def render_vector_state(
    obs: np.ndarray, *, title: str, step: int, reward: float, size: tuple[int, int] = (320, 480)
) -> np.ndarray:
    """Draws ``obs`` as signed bars (symlog-scaled so large and small dimensions stay readable).

    Returns an (H, W, 3) uint8 RGB frame.
    """
    import cv2

    height, width = size
    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    top, bottom = 40, height - 20
    mid = (top + bottom) // 2
    cv2.line(frame, (10, mid), (width - 10, mid), (160, 160, 160), 1)
    scaled = np.sign(obs) * np.log1p(np.abs(obs))
    extent = max(1.0, float(np.abs(scaled).max()))
    bar_width = max(2, (width - 20) // max(1, len(obs)))
    for i, value in enumerate(scaled):
        x0 = 10 + i * bar_width
        y = int(mid - value / extent * (mid - top))
        color = (40, 110, 200) if value >= 0 else (200, 90, 40)
        cv2.rectangle(frame, (x0 + 1, min(y, mid)), (x0 + bar_width - 2, max(y, mid)), color, -1)
    text = f"{title}  t={step}  r={reward:+.2f}"
    cv2.putText(frame, text, (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
    return frame
