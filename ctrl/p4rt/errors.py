"""gRPC errors of P4Runtime calls, wrapped once, keeping a batch write's per-update errors."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from ctrl.errors import MobilityError
from ctrl.p4rt.proto import p4r, rpc_code, rpc_status

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class UpdateError:
    """The outcome of one update of a failed batch (P4Runtime spec 12.3)."""

    index: int
    code: int  # google.rpc.Code
    message: str

    @property
    def code_name(self) -> str:
        return str(rpc_code.Code.Name(self.code))

    @property
    def ok(self) -> bool:
        return bool(self.code == rpc_code.OK)


class P4RuntimeError(MobilityError):
    """A P4Runtime RPC that failed; `updates` holds one entry per update of a failed Write."""

    def __init__(self, rpc: str, code: grpc.StatusCode, message: str,
                 updates: tuple[UpdateError, ...] = ()) -> None:
        self.rpc = rpc
        self.code = code
        self.message = message
        self.updates = updates
        failed = [u for u in updates if not u.ok]
        text = f"{rpc}: {code.name}: {message}"
        for u in failed[:10]:
            text += f"\n  update #{u.index}: {u.code_name}: {u.message}"
        if len(failed) > 10:
            text += f"\n  ... and {len(failed) - 10} more failed updates"
        super().__init__(text)

    @property
    def failed(self) -> tuple[UpdateError, ...]:
        return tuple(u for u in self.updates if not u.ok)

    def is_only(self, *codes: int) -> bool:
        """True when every failed update failed with one of `codes` (e.g. only NOT_FOUND)."""
        failed = self.failed
        return bool(failed) and all(u.code in codes for u in failed)

    @classmethod
    def wrap(cls, rpc: str, exc: grpc.aio.AioRpcError | grpc.RpcError) -> P4RuntimeError:
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        message = exc.details() if hasattr(exc, "details") else str(exc)
        metadata = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
        return cls(rpc, code, message or "", _update_errors(metadata))


def _update_errors(metadata: object) -> tuple[UpdateError, ...]:
    if not metadata:
        return ()
    for key, value in metadata:  # type: ignore[attr-defined]
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = rpc_status.Status()
            status.ParseFromString(value)
            out = []
            for i, detail in enumerate(status.details):
                err = p4r.Error()
                if detail.Unpack(err):
                    out.append(UpdateError(i, err.canonical_code, err.message))
            return tuple(out)
    return ()
