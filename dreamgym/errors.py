"""Exception classes raised by dreamgym, so callers can catch our errors apart from library ones."""

__all__ = [
    "CheckpointError",
    "DatasetError",
    "DreamGymError",
    "EmergencyStopError",
    "InvalidActionError",
    "InvalidGapError",
    "NoSimulatorError",
    "RobotError",
    "RobotNotConnectedError",
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


class InvalidGapError(DreamGymError, ValueError):
    """A reality-gap preset that does not exist, or a gap strength or parameter outside its valid range."""


class NoSimulatorError(DreamGymError, RuntimeError):
    """A real env was asked of a task defined by a recorded log alone, which has no simulator."""


class RobotError(DreamGymError):
    """A robot that cannot be reached, answers out of protocol, or was stopped by the safety layer."""


class RobotNotConnectedError(RobotError):
    """No robot answers at the given address."""


class EmergencyStopError(RobotError):
    """The safety layer stopped the robot; the robot must be reset before it moves again."""
