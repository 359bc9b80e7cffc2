"""One exception hierarchy for the controller.

Each class also subclasses the builtin it behaves like, so callers may catch
either the project's class or the familiar builtin.
"""

from __future__ import annotations


class MobilityError(Exception):
    """Base of every error this project raises on purpose."""


class P4SchemaError(MobilityError, LookupError):
    """A name or id that the P4Info does not have, or a P4Info that is unusable."""


class P4EncodeError(MobilityError, ValueError):
    """A value that does not fit the P4Info: too wide, wrong kind, missing or extra."""


class P4BuildError(MobilityError, RuntimeError):
    """The P4 compiler is missing or failed."""
