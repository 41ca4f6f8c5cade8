"""Helpers Faultline's runner calls through the worker's ordinary `call`.

Not part of chaoslib: it lives beside the chaoslib stand-in because that
directory is the one Faultline puts on sys.path (last, so nothing of the
user's is shadowed).
"""

import importlib

# Chaos Toolkit's control hook functions, looked up on a control module by name.
HOOKS = (
    "configure_control",
    "cleanup_control",
    "before_loading_experiment_control",
    "after_loading_experiment_control",
    "before_experiment_control",
    "after_experiment_control",
    "before_hypothesis_control",
    "after_hypothesis_control",
    "before_method_control",
    "after_method_control",
    "before_rollback_control",
    "after_rollback_control",
    "before_activity_control",
    "after_activity_control",
)


def hooks_of(module):
    """The hook functions a control module defines: importing it runs its top-level code, as in Chaos Toolkit."""
    mod = importlib.import_module(module)
    return [name for name in HOOKS if callable(getattr(mod, name, None))]
