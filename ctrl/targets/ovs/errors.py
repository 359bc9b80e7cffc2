"""Errors of the Open vSwitch target, in the project's one hierarchy."""

from __future__ import annotations

from ctrl.errors import MobilityError


class OvsError(MobilityError, RuntimeError):
    """An Open vSwitch daemon, database or bridge operation that failed."""


class OpenFlowError(OvsError):
    """The switch answered an OpenFlow request with OFPT_ERROR, or the connection broke."""

    def __init__(self, message: str, err_type: int = 0, err_code: int = 0) -> None:
        super().__init__(message)
        self.err_type = err_type
        self.err_code = err_code
