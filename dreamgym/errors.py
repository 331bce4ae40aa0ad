"""Exception classes raised by dreamgym, so callers can catch our errors apart from library ones."""

__all__ = [
    "CheckpointError",
    "DatasetError",
    "DreamGymError",
    "EmergencyStopError",
    "InvalidActionError",
    "InvalidGapError",
    "NoSimulatorError",
    "RobotAuthenticationError",
    "RobotError",
    "RobotNotConnectedError",
    "RobotProtocolError",
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


class RobotProtocolError(RobotError):
    """A message that breaks the robot protocol: over the size bound, badly framed, failing its MAC, replayed, or
    not the message the protocol expects at that point."""


class RobotAuthenticationError(RobotProtocolError):
    """A peer that cannot prove it holds the shared robot token, or no usable token to prove it with."""


class EmergencyStopError(RobotError):
    """The robot is emergency-stopped: it holds its safe stop until the stop is cleared explicitly."""
