"""The errors of ctrl.vm, under the project's one hierarchy."""

from __future__ import annotations

from ctrl.errors import MobilityError


class VmError(MobilityError, RuntimeError):
    """A guest that cannot be built, started, driven or migrated."""


class MissingTool(VmError, FileNotFoundError):
    """A program or package a guest needs is not installed; the message says what to
    install."""


class QmpError(VmError):
    """QMP failed: no connection, a closed socket, or an error reply (its class and
    description)."""

    def __init__(self, message: str, error_class: str = "") -> None:
        super().__init__(message)
        self.error_class = error_class


class MigrationError(VmError):
    """A live migration that did not complete; the guest runs on at its source."""
