"""A minimal stand-in for chaostoolkit-lib's ``chaoslib.discovery``.

Chaos Toolkit extensions build their ``discover()`` result with these
helpers. Faultline puts this shim LAST on ``sys.path``, so an installed
chaostoolkit-lib always wins; without it, an extension's ``discover()`` still
works and ``faultline discover PACKAGE`` can list its activities.
"""

from chaoslib.discovery.discover import (
    discover_actions,
    discover_activities,
    discover_probes,
    initialize_discovery_result,
    portable_type_name,
)

__all__ = [
    "discover_actions",
    "discover_activities",
    "discover_probes",
    "initialize_discovery_result",
    "portable_type_name",
]
