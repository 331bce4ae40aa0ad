"""Pixel data sets store their frames exact and compressed, and Minari reads them back bit for bit."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from dreamgym.data import collect, load_episodes
from dreamgym.data.frames import FRAME_COMPRESSION, compress_frames
from dreamgym.tasks import get_task

STEPS = 120


def real_frames(task: str, steps: int, action: np.ndarray) -> np.ndarray:
    """The frames collection sees: reset with seed 0, later episodes reset unseeded, in the data-set row order."""
    env = get_task(task).make_env()
    obs, _ = env.reset(seed=0)
    frames = [obs["image"]]
    for step in range(steps):
        obs, _, terminated, truncated, _ = env.step(action)
        frames.append(obs["image"])
        if (terminated or truncated) and step < steps - 1:
            obs, _ = env.reset()
            frames.append(obs["image"])
    env.close()
    return np.stack(frames)


def test_compressed_frames_read_back_bit_for_bit_and_are_smaller(tmp_path: Path) -> None:
    action = np.full(3, 0.3, np.float32)
    path = collect("HopperPixels", STEPS, tmp_path / "data", policy=lambda obs: action, seed=0, progress=False)
    data = load_episodes(path, get_task("HopperPixels"))  # through minari.MinariDataset, Minari's own reader
    expected = real_frames("HopperPixels", STEPS, action)
    assert data.image.shape == expected.shape and data.image.dtype == np.uint8
    np.testing.assert_array_equal(data.image, expected)  # exact: no JPEG artefacts
    hdf5 = path / "data" / "main_data.hdf5"
    with h5py.File(hdf5, "r") as file:
        frames = file["episode_0/observations/image"]
        assert frames.compression == FRAME_COMPRESSION["compression"] and frames.dtype == np.uint8
        assert file["episode_0/observations/proprio"].compression is None  # only frames are rewritten
        assert file["episode_0"].attrs["total_steps"] == len(file["episode_0/rewards"])
    assert hdf5.stat().st_size < expected.nbytes / 4


def test_compressing_twice_changes_nothing_a_reader_sees(tmp_path: Path) -> None:
    hdf5 = tmp_path / "f.hdf5"
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (1, 8, 8, 3), dtype=np.uint8), 5, axis=0)
    with h5py.File(hdf5, "w") as file:
        file.attrs["a"] = 1
        group = file.create_group("episode_0")
        group.attrs["id"] = 0
        group.create_dataset("image", data=frames)
        group.create_dataset("rewards", data=np.arange(4.0))
    size = compress_frames(hdf5)
    assert size == hdf5.stat().st_size and compress_frames(hdf5) == size
    with h5py.File(hdf5, "r") as file:
        assert file.attrs["a"] == 1 and file["episode_0"].attrs["id"] == 0
        np.testing.assert_array_equal(file["episode_0/image"][()], frames)
        np.testing.assert_array_equal(file["episode_0/rewards"][()], np.arange(4.0))
        assert file["episode_0/image"].maxshape == (None, 8, 8, 3)
    assert not list(tmp_path.glob(".*"))  # no staging file left behind


def test_episode_collection_compresses_frames_too(tmp_path: Path) -> None:
    from dreamgym.data.parallel_collect import collect_episodes

    path = collect_episodes("HopperPixels", 60, tmp_path / "episodes", seed=0, progress=False)
    with h5py.File(path / "data" / "main_data.hdf5", "r") as file:
        assert file["episode_0/observations/image"].compression == FRAME_COMPRESSION["compression"]
    data = load_episodes(path, get_task("HopperPixels"))
    assert data.image.shape == (len(data), 64, 64, 3) and len(np.unique(data.image[:, 32, 32], axis=0)) > 1
