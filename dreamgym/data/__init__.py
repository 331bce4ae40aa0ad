"""Data sets of real experience: collection into Minari, loading as Dreamer-style rows, window sampling."""

from dreamgym.data.collect import collect, dataset_id_for, write_episodes
from dreamgym.data.log_task import log_task_name, task_from_dataset
from dreamgym.data.minari_io import dataset_metadata, load_episodes
from dreamgym.data.policies import load_policy, load_sb3_policy, policy_digest, reset_policy
from dreamgym.data.sequence_data import SequenceData
from dreamgym.data.sequences import SequenceSampler

__all__ = [
    "SequenceData",
    "SequenceSampler",
    "collect",
    "dataset_id_for",
    "dataset_metadata",
    "load_episodes",
    "load_policy",
    "load_sb3_policy",
    "log_task_name",
    "policy_digest",
    "reset_policy",
    "task_from_dataset",
    "write_episodes",
]
