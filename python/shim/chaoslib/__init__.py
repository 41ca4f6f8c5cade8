"""Faultline's stand-in for chaostoolkit-lib (the `chaoslib` package).

Faultline's Python worker appends the directory holding this package to the
END of sys.path, so it is imported only when chaostoolkit-lib is not
installed: extensions and controls written for Chaos Toolkit can then do
`from chaoslib.exceptions import ActivityFailed` or
`from chaoslib.types import Configuration, Secrets` without it. Only those
names are provided; anything else of chaoslib needs the real package.
"""

__version__ = "0.0.0+faultline.shim"
