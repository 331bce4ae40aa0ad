"""Exception classes raised by dreamgym, so callers can catch our errors apart from library ones."""

__all__ = [
    "CheckpointError",
    "DatasetError",
    "DreamGymError",
    "InvalidActionError",
    "UnknownTaskError",
]


class DreamGymError(Exception):
    """Base class of every error dreamgym raises on purpose."""


class UnknownTaskError(DreamGymError, KeyError):
    """A task name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


class CheckpointError(DreamGymError):
    """A checkpoint that is missing, corrupt, tampered with, or does not match the env it is loaded for."""


class DatasetError(DreamGymError):
    """A data set that is missing, empty, malformed, or does not match the task."""


class InvalidActionError(DreamGymError, ValueError):
    """An action of the wrong shape or dtype, or with non-finite values."""
