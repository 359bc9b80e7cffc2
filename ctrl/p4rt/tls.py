"""TLS for P4Runtime's gRPC, both ends, with p4runtime-shell's flag names.

    --ssl --cacert CA.pem [--cert CERT.pem --private-key KEY.pem]

A controller (client) trusts the switches whose certificates CA.pem signed, and shows
its own certificate when given one (mutual TLS); a switch agent (server) needs its own
certificate and, given --cacert, accepts only controllers whose certificates CA.pem
signed. A missing or unreadable file, or half a pair, is a clear error before anything
connects.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import grpc

from ctrl.errors import MobilityError


class TlsError(MobilityError, ValueError):
    """TLS options that cannot be used: a file missing, half a key pair."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cacert: Path | None
    cert: Path | None = None
    key: Path | None = None

    def _read(self, path: Path | None, what: str) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TlsError(f"cannot read the {what} {path}: {exc.strerror}") from exc

    def client(self) -> grpc.ChannelCredentials:
        """The controller's side: trust CA (the system's roots without it), show its
        own certificate where given."""
        return grpc.ssl_channel_credentials(
            root_certificates=self._read(self.cacert, "CA certificate"),
            private_key=self._read(self.key, "private key"),
            certificate_chain=self._read(self.cert, "certificate"))

    def server(self) -> grpc.ServerCredentials:
        """The switch agent's side: its certificate; with a CA, client certificates are
        required and checked."""
        cert, key = self._read(self.cert, "certificate"), self._read(self.key, "private key")
        if cert is None or key is None:
            raise TlsError("a TLS server needs --cert and --private-key")
        roots = self._read(self.cacert, "CA certificate")
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=roots,
                                           require_client_auth=roots is not None)


def add_arguments(parser: argparse.ArgumentParser, side: str) -> None:
    """p4runtime-shell's TLS flags; `side` says whose certificate --cert is."""
    group = parser.add_argument_group("TLS (gRPC)")
    group.add_argument("--ssl", action="store_true", help="gRPC over TLS")
    group.add_argument("--cacert", type=Path, metavar="PEM",
                       help="the CA certificate that signed the other end's certificate")
    group.add_argument("--cert", type=Path, metavar="PEM", help=f"the {side}'s certificate")
    group.add_argument("--private-key", type=Path, metavar="PEM",
                       help=f"the {side}'s private key")


def from_arguments(args: argparse.Namespace) -> TlsFiles | None:
    """The TLS files the flags name, None without --ssl; half a pair is an error."""
    given = [n for n in ("cacert", "cert", "private_key") if getattr(args, n) is not None]
    if not args.ssl:
        if given:
            raise TlsError(f"--{given[0].replace('_', '-')} needs --ssl")
        return None
    if (args.cert is None) != (args.private_key is None):
        raise TlsError("give --cert and --private-key together")
    return TlsFiles(args.cacert, args.cert, args.private_key)
