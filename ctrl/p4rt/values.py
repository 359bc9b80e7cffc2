"""Values on the P4Runtime wire: canonical byte strings of a known bit width.

The controller holds every field as an int; these functions turn user input
(ints, "aa:bb:cc:dd:ee:ff", "10.0.0.1", bytes) into ints, and ints into the
canonical byte strings of the P4Runtime specification (section 8.4: the
shortest big-endian string, at least one byte).
"""

from __future__ import annotations

import ipaddress

from ctrl.errors import P4EncodeError

Value = int | str | bytes


def to_int(value: Value, what: str = "value") -> int:
    """An int from an int, a MAC or IPv4 string, a decimal/hex string, or big-endian bytes."""
    if isinstance(value, bool):
        raise P4EncodeError(f"{what}: a bool is not a field value")
    if isinstance(value, int):
        if value < 0:
            raise P4EncodeError(f"{what}: {value} is negative")
        return value
    if isinstance(value, bytes):
        return int.from_bytes(value, "big")
    if isinstance(value, str):
        text = value.strip()
        if text.count(":") == 5:
            return mac_to_int(text, what)
        if text.count(".") == 3:
            try:
                return int(ipaddress.IPv4Address(text))
            except ValueError as exc:
                raise P4EncodeError(f"{what}: {value!r} is not an IPv4 address") from exc
        try:
            return to_int(int(text, 0), what)
        except ValueError as exc:
            raise P4EncodeError(f"{what}: cannot read {value!r} as a number") from exc
    raise P4EncodeError(f"{what}: {type(value).__name__} is not a field value")


def mac_to_int(text: str, what: str = "value") -> int:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) for p in parts):
        raise P4EncodeError(f"{what}: {text!r} is not a MAC address")
    try:
        return int("".join(p.zfill(2) for p in parts), 16)
    except ValueError as exc:
        raise P4EncodeError(f"{what}: {text!r} is not a MAC address") from exc


def int_to_mac(value: int) -> str:
    raw = value.to_bytes(6, "big")
    return ":".join(f"{b:02x}" for b in raw)


def int_to_ipv4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def check_width(value: int, bitwidth: int, what: str) -> int:
    if value < 0 or value.bit_length() > bitwidth:
        raise P4EncodeError(
            f"{what}: {value} does not fit in {bitwidth} bits (largest is {(1 << bitwidth) - 1})"
        )
    return value


def encode_value(value: int, bitwidth: int, what: str) -> bytes:
    """The canonical byte string of `value` in a field of `bitwidth` bits."""
    check_width(value, bitwidth, what)
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def decode_value(data: bytes, bitwidth: int, what: str) -> int:
    """An int from a (canonical or padded) byte string; wider than the field is an error."""
    if not data:
        raise P4EncodeError(f"{what}: empty byte string")
    return check_width(int.from_bytes(data, "big"), bitwidth, what)
