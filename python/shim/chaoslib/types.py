"""The type aliases of chaoslib.types, for annotations in extensions and controls.

In chaoslib they are (almost all) aliases of plain dicts and lists, and that is
what Faultline passes: an activity's configuration and secrets, a control's
context, state and experiment arrive as dicts.
"""

import enum
from typing import Any, Dict, List, Union

__all__ = [
    "Action",
    "Activity",
    "ConfigVars",
    "Configuration",
    "Control",
    "DiscoveredActivities",
    "DiscoveredSystemInfo",
    "Discovery",
    "EventPayload",
    "Experiment",
    "Extension",
    "Hypothesis",
    "Journal",
    "Layer",
    "MicroservicesStatus",
    "Probe",
    "Run",
    "Schedule",
    "SecretVars",
    "Secrets",
    "Settings",
    "Step",
    "Strategy",
    "TargetLayers",
    "Tolerance",
]

Action = Dict[str, Any]
Probe = Dict[str, Any]
Activity = Union[Probe, Action]
Experiment = Dict[str, Any]
Hypothesis = Dict[str, Any]
Journal = Dict[str, Any]
Run = Dict[str, Any]
Step = Dict[str, Any]
Control = Dict[str, Any]
Extension = Dict[str, Any]
Configuration = Dict[str, Any]
Secrets = Dict[str, Dict[str, str]]
Settings = Dict[str, Any]
EventPayload = Dict[str, Any]
Tolerance = Union[int, str, bool, list, Dict[str, Any]]
ConfigVars = Dict[str, Any]
SecretVars = Dict[str, Any]
Layer = Any
TargetLayers = Dict[str, List[Dict[str, Any]]]
MicroservicesStatus = Any
DiscoveredActivities = Dict[str, Any]
DiscoveredSystemInfo = Dict[str, Any]
Discovery = Dict[str, Any]


class Strategy(enum.Enum):
    """When the steady-state hypothesis runs (`chaos run --hypothesis-strategy`)."""

    DEFAULT = "default"
    BEFORE_METHOD = "before-method-only"
    AFTER_METHOD = "after-method-only"
    DURING_METHOD = "during-method-only"
    CONTINUOUS = "continuously"

    @staticmethod
    def from_string(value: str) -> "Strategy":
        for member in Strategy:
            if member.value == value:
                return member
        raise ValueError("Unknown strategy")


class Schedule:
    """How often the hypothesis runs when the strategy is continuous."""

    def __init__(
        self,
        continuous_hypothesis_frequency: float = 1.0,
        fail_fast: bool = False,
        fail_fast_ratio: float = 0,
    ):
        self.continuous_hypothesis_frequency = continuous_hypothesis_frequency
        self.fail_fast = fail_fast
        self.fail_fast_ratio = fail_fast_ratio
