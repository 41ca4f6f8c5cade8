"""The exception classes of chaoslib.exceptions, with the same names and hierarchy.

The worker flags a call whose exception is (a subclass of) a class named
InterruptExecution, so raising this one, or the real chaoslib's, interrupts
the run in Faultline as in Chaos Toolkit.
"""

__all__ = [
    "ChaosException",
    "ActivityFailed",
    "DiscoveryFailed",
    "InvalidActivity",
    "InvalidExperiment",
    "InvalidSource",
    "InvalidControl",
    "InterruptExecution",
    "ControlPythonFunctionLoadingError",
]


class ChaosException(Exception):
    pass


class InvalidActivity(ChaosException):
    pass


class ActivityFailed(ChaosException):
    pass


class DiscoveryFailed(ChaosException):
    pass


class InvalidSource(ChaosException):
    pass


class InvalidExperiment(ChaosException):
    pass


class InvalidControl(ChaosException):
    pass


class InterruptExecution(ChaosException):
    pass


class ControlPythonFunctionLoadingError(Exception):
    pass
