"""The fast path's exceptions: a branch of the project's one hierarchy (ctrl/errors.py),
each class also the builtin it refines."""

from __future__ import annotations

from ctrl.errors import MobilityError


class FastPathError(MobilityError, ValueError):
    """Arguments the fast path cannot take; nothing was computed or changed."""


class FrameError(FastPathError):
    """Frames or packet-in metadata the parser cannot take (not a frame it rejects)."""


class GraphError(FastPathError):
    """A graph, node, link or destination the path engine cannot take."""


class LinkStateError(GraphError):
    """A link taken down that is down already, or up that is up."""


class NativeError(FastPathError, RuntimeError):
    """The C module answered with a code its wrapper did not expect (a bug)."""


class NotBuiltError(FastPathError, ImportError):
    """The C module was asked for by name but is not built here."""


class WriteDecodeError(FastPathError):
    """A WriteRequest the fast decoder does not take as a whole (nothing was decoded)."""


class MalformedWriteError(WriteDecodeError):
    """Bytes that are not a p4.v1.WriteRequest: protobuf's parser refuses them too."""


class UnsupportedWriteError(WriteDecodeError):
    """A WriteRequest only protobuf's parser can tell about (a group outside the updates)."""
