"""Loading and validating data sets, and the SequenceData container itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dreamgym.data import SequenceData, dataset_metadata, load_episodes
from dreamgym.errors import DatasetError
from dreamgym.tasks.registry import get_task


def test_rows_of_a_hand_made_episode_are_laid_out_exactly(
    write_minari: Callable[..., str], make_episode: Callable[..., dict]
) -> None:
    dataset_id = write_minari([make_episode(3), make_episode(2, terminated=False)])
    data = load_episodes(dataset_id)
    assert data.obs[:, 0].tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert data.prev_action[:, 0].tolist() == pytest.approx([0, 0, 0.1, 0.2, 0, 0, 0.1])
    assert data.action[:, 0].tolist() == pytest.approx([0, 0.1, 0.2, 0, 0, 0.1, 0])
    assert data.reward.tolist() == [0, 0, 1, 2, 0, 0, 1]
    assert data.is_first.tolist() == [True, False, False, False, True, False, False]
    assert data.is_terminal.tolist() == [False, False, False, True, False, False, False]  # truncation is not
    assert data.episode_index.tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_metadata_names_the_task_without_loading_episodes(pendulum_dataset: Path) -> None:
    metadata = dataset_metadata(pendulum_dataset)
    assert metadata["task"] == "InvertedPendulum"
    assert metadata == load_episodes(pendulum_dataset).metadata
    with pytest.raises(DatasetError, match="No data set at path"):
        dataset_metadata(pendulum_dataset.parent / "absent")


def test_a_missing_path_says_how_to_create_a_data_set(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"No data set at path '.*nowhere'.*dreamgym collect --task"):
        load_episodes(tmp_path / "nowhere")


def test_a_missing_id_says_how_to_create_a_data_set(write_minari: Callable[..., str]) -> None:
    with pytest.raises(DatasetError, match=r"no local Minari data set with that id.*dreamgym collect"):
        load_episodes("dreamgym/test/absent-v0")


def test_a_directory_that_is_not_a_data_set_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"is not a Minari data set: expected .*metadata.json"):
        load_episodes(tmp_path)


def test_an_empty_data_set_is_rejected(write_minari: Callable[..., str]) -> None:
    with pytest.raises(DatasetError, match=r"has no episodes; expected at least 1"):
        load_episodes(write_minari([]))


def test_shapes_must_match_the_task(write_minari: Callable[..., str], make_episode: Callable[..., dict]) -> None:
    dataset_id = write_minari([make_episode(3)])
    with pytest.raises(
        DatasetError, match=r"observation shape \(5,\).*task 'Hopper': expected observation shape \(15,\)"
    ):
        load_episodes(dataset_id, task=get_task("Hopper"))


def test_action_shape_must_match_the_task(write_minari: Callable[..., str], make_episode: Callable[..., dict]) -> None:
    dataset_id = write_minari([make_episode(3, action_dim=2)], action_dim=2)
    with pytest.raises(DatasetError, match=r"expected action shape \(1,\)"):
        load_episodes(dataset_id, task=get_task("InvertedPendulum"))


@pytest.mark.parametrize(
    ("field", "bad_value"),
    [("observations", np.nan), ("actions", np.nan), ("rewards", np.nan), ("rewards", np.inf), ("actions", -np.inf)],
)
def test_non_finite_values_name_the_episode_and_field(
    write_minari: Callable[..., str], make_episode: Callable[..., dict], field: str, bad_value: float
) -> None:
    bad = make_episode(4)
    value = bad[field][2]
    bad[field][2] = np.full_like(value, bad_value) if isinstance(value, np.ndarray) else bad_value
    dataset_id = write_minari([make_episode(2), bad])
    with pytest.raises(DatasetError, match=rf"Episode 1 has non-finite values .* in `{field}`, first at step 2"):
        load_episodes(dataset_id)


def test_concatenate_renumbers_episodes_and_keeps_every_row() -> None:
    a = SequenceData.from_episode(np.zeros((3, 2)), np.ones((2, 1)), np.ones(2), np.array([False, True]))
    b = SequenceData.concatenate([a, a])
    merged = SequenceData.concatenate([b, a])
    assert len(merged) == 9 and merged.num_episodes == 3
    assert merged.episode_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert merged.metadata == {"sources": [b.metadata, a.metadata]}
    assert merged.fingerprint() != a.fingerprint() and len(merged.fingerprint()) == 16


def test_concatenate_rejects_mismatched_shapes() -> None:
    a = SequenceData.from_episode(np.zeros((3, 2)), np.ones((2, 1)), np.ones(2), np.zeros(2, bool))
    b = SequenceData.from_episode(np.zeros((3, 4)), np.ones((2, 1)), np.ones(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match=r"Expected `obs` rows of shape \(2,\) in part 1 .*got \(4,\)"):
        SequenceData.concatenate([a, b])
    with pytest.raises(ValueError, match="at least one"):
        SequenceData.concatenate([])


def test_arrays_are_read_only() -> None:
    data = SequenceData.from_episode(np.zeros((3, 2)), np.ones((2, 1)), np.ones(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match="read-only"):
        data.reward[0] = 1.0


def test_a_truncated_file_names_the_episode(
    write_minari: Callable[..., str], make_episode: Callable[..., dict], tmp_path: Path
) -> None:
    dataset_id = write_minari([make_episode(50), make_episode(50)])
    (hdf5,) = (tmp_path / "minari").rglob("main_data.hdf5")
    hdf5.write_bytes(hdf5.read_bytes()[: hdf5.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"Cannot read episode 0 .* damaged or truncated"):
        load_episodes(dataset_id)


def test_field_lengths_must_agree(write_minari: Callable[..., str], make_episode: Callable[..., dict]) -> None:
    bad = make_episode(4)
    bad["actions"] = bad["actions"][:-1]
    with pytest.raises(DatasetError, match=r"Episode 1 has 3 actions for 4 rewards; expected 4"):
        load_episodes(write_minari([make_episode(2), bad]))
