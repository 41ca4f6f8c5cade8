"""The helpers of chaoslib.discovery.discover, with chaoslib's output shape.

Written from the behaviour of chaostoolkit-lib (not its code): an activity is
``{"type", "name", "mod", "doc", "arguments": [{"name", "default"?, "type"?}],
"return_type"?}``, listed from the module's ``__all__``.
"""

import importlib
import inspect
import platform
import uuid
from datetime import datetime

try:
    from chaoslib import __version__
except ImportError:
    # chaoslib/__init__.py of the shim may not declare one.
    __version__ = None

try:
    from chaoslib.exceptions import DiscoveryFailed
except ImportError:

    class DiscoveryFailed(Exception):
        """Raised when an extension module cannot be discovered."""


__all__ = [
    "discover_actions",
    "discover_activities",
    "discover_probes",
    "initialize_discovery_result",
    "portable_type_name",
]


def initialize_discovery_result(extension_name, extension_version, discovery_type):
    """The skeleton of a discovery result, to be filled with activities."""
    plt = platform.uname()
    return {
        "chaoslib_version": __version__,
        "id": str(uuid.uuid4()),
        "target": discovery_type,
        "date": "%sZ" % datetime.utcnow().isoformat(),
        "platform": {
            "system": plt.system,
            "node": plt.node,
            "release": plt.release,
            "version": plt.version,
            "machine": plt.machine,
            "proc": plt.processor,
            "python": platform.python_version(),
        },
        "extension": {"name": extension_name, "version": extension_version},
        "activities": [],
        "system": None,
    }


def discover_actions(extension_mod_name):
    """The actions a module exports (its ``__all__``)."""
    return discover_activities(extension_mod_name, "action")


def discover_probes(extension_mod_name):
    """The probes a module exports (its ``__all__``)."""
    return discover_activities(extension_mod_name, "probe")


def discover_activities(extension_mod_name, activity_type):
    """The functions a module exports, each with its arguments and their types."""
    try:
        mod = importlib.import_module(extension_mod_name)
    except ImportError:
        raise DiscoveryFailed("could not import extension module '%s'" % extension_mod_name)

    # As chaoslib: without __all__ nothing is known to be an activity.
    exported = getattr(mod, "__all__", None)
    if exported is None:
        return []

    activities = []
    for name, func in inspect.getmembers(mod, inspect.isfunction):
        if exported and name not in exported:
            continue
        sig = inspect.signature(func)
        activity = {
            "type": activity_type,
            "name": name,
            "mod": mod.__name__,
            "doc": inspect.getdoc(func),
            "arguments": [],
        }
        if sig.return_annotation is not inspect.Signature.empty:
            activity["return_type"] = portable_type_name(sig.return_annotation)
        for param in sig.parameters.values():
            if param.kind in (param.KEYWORD_ONLY, param.VAR_KEYWORD):
                continue
            arg = {"name": param.name}
            if param.default is not inspect.Parameter.empty:
                arg["default"] = param.default
            if param.annotation is not inspect.Parameter.empty:
                arg["type"] = portable_type_name(param.annotation)
            activity["arguments"].append(arg)
        activities.append(activity)
    return activities


_PORTABLE = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    bytes: "byte",
    set: "set",
    tuple: "tuple",
    list: "list",
    dict: "mapping",
}


def portable_type_name(python_type):
    """A readable, language-neutral name for a Python type ("object" when unsure)."""
    if python_type is None:
        return "null"
    for known, name in _PORTABLE.items():
        if python_type is known:  # identity: an annotation need not be hashable
            return name
    text = str(python_type)
    for prefix, name in (("typing.Dict", "mapping"), ("typing.List", "list"), ("typing.Set", "set")):
        if text.startswith(prefix):
            return name
    return "object"
