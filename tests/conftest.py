"""Session fixtures shared by every test: one small real data set and one tiny trained world model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from dreamgym.data import SequenceData, collect, load_episodes
from dreamgym.tasks import TaskSpec, get_task

WM_DATA_STEPS = 600  # random InvertedPendulum steps: about 20 episodes, enough for every window the tests cut
WM_TRAIN_STEPS = 30

# The test models are tiny: one thread is faster than two, and keeps the suite fast on a shared 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pendulum_task() -> TaskSpec:
    return get_task("InvertedPendulum")


@pytest.fixture(scope="session")
def wm_dataset_path(tmp_path_factory: pytest.TempPathFactory, pendulum_task: TaskSpec) -> Path:
    """A Minari data set of 600 random InvertedPendulum steps (about half a second to collect)."""
    out = tmp_path_factory.mktemp("wm_data") / "pendulum"
    return collect(pendulum_task, WM_DATA_STEPS, out, seed=0, progress=False)


@pytest.fixture(scope="session")
def wm_sequences(wm_dataset_path: Path, pendulum_task: TaskSpec) -> SequenceData:
    """The data set as Dreamer-style rows."""
    return load_episodes(wm_dataset_path, pendulum_task)


@pytest.fixture(scope="session")
def trained_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, wm_sequences: SequenceData, pendulum_task: TaskSpec
) -> Path:
    """A checkpoint of the ``debug`` world model after 30 updates. Read-only: copy it before changing it."""
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    root = tmp_path_factory.mktemp("wm_ckpt")
    model_cfg, train_cfg = make_config("debug", 5, 1, steps=WM_TRAIN_STEPS)
    result = train_world_model(
        wm_sequences, root / "ckpt", pendulum_task, model_cfg, train_cfg, logdir=root / "tb", progress=False
    )
    return result.path


@pytest.fixture(scope="session")
def trained_ensemble_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, wm_sequences: SequenceData, pendulum_task: TaskSpec
) -> Path:
    """The ``debug`` model with three prior heads after 30 updates, calibrated on ``wm_sequences``. Read-only."""
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    root = tmp_path_factory.mktemp("wm_ensemble")
    model_cfg, train_cfg = make_config("debug", 5, 1, steps=WM_TRAIN_STEPS, ensemble=3)
    result = train_world_model(
        wm_sequences, root / "ckpt", pendulum_task, model_cfg, train_cfg, logdir=root / "tb", progress=False
    )
    return result.path


@pytest.fixture(scope="session")
def push_pixels_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``debug`` camera world model of PandaPushPixels after 3 updates on 100 scripted steps. Read-only."""
    from dreamgym.data import collect, load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task("PandaPushPixels")
    root = tmp_path_factory.mktemp("push_pixels")
    data = load_episodes(collect(spec, 100, root / "data", policy="scripted", seed=0, progress=False), spec)
    model_cfg, train_cfg = make_config("debug", spec.obs_shape[0], spec.action_dim, steps=3)
    return train_world_model(data, root / "ckpt", spec, model_cfg, train_cfg, progress=False).path


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for every test that fans out over workers: Ray takes seconds to start, so it starts
    once, on the first test that asks for it (2 CPUs, no dashboard, a small object store; episodes are tiny)."""
    import ray
    from ray import cloudpickle

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    # Test modules are not importable from Ray's workers: their functions travel by value, not by name.
    for name, module in list(sys.modules.items()):
        if name.startswith(("tests.", "test_")) or "/tests/" in str(getattr(module, "__file__", "")):
            cloudpickle.register_pickle_by_value(module)
    yield ray
    ray.shutdown()
