"""The Write encoder in C (ctrl/fastpath/p4rt_encode.py, ext/fp_p4rt_enc.c): the updates it
cannot take go to the caller's own encoding in their place, a run of the others taken up
again after them; its output buffer grows when a guess was short; the C function refuses
input that does not hold together. Its bytes against protobuf's: tests/p4rt/test_wire.py."""

from __future__ import annotations

from array import array

import pytest

from ctrl.fastpath import native_available
from ctrl.fastpath import p4rt_encode as pe
from ctrl.fastpath.native import Backend, load
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry, Update, delete, insert, modify
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.wire import WriteEncoder

pytestmark = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")
SCHEMA = P4Schema.load(BuildPaths(project_root()).p4info)
HEADER = {"device_id": 1, "election_id": (0, 1)}


def bridging(i: int, vnet: int | None = None) -> TableEntry:
    return TableEntry.of_ints("bridging", {"vnet_id": 1 + i % 4000 if vnet is None else vnet,
                                           "eth_dst": 0x020000000000 + i},
                              "bridging.forward", {"port": 1 + i % 8})


def native() -> pe.UpdateEncoder:
    enc = WriteEncoder(SCHEMA, Backend.NATIVE)
    assert enc._native is not None
    return enc._native


def field(update: Update) -> bytes:
    """What the Python encoder makes of one update, as a WriteRequest.updates field."""
    return WriteEncoder(SCHEMA, Backend.REFERENCE)._field(update)


def test_the_rest_goes_to_the_callers_encoding_in_its_place() -> None:
    """A group, a default entry and a value too wide for its field (C's refusal) break the
    run; C takes up again after each; the order is the updates' own."""
    ups = [insert(bridging(0)), insert(MulticastGroupEntry.of_ports(3, [1, 2])),
           modify(bridging(1)), delete(bridging(2)), insert(bridging(3, vnet=5000)),
           insert(bridging(4)),
           modify(TableEntry("bridging", {}, "bridging.drop", {}, is_default=True)),
           insert(bridging(5))]
    slow = [u for u in ups if u not in (ups[0], ups[2], ups[3], ups[5], ups[7])]
    got = native().encode(ups, lambda u: b"<" + bytes([slow.index(u)]) + b">")
    want = b"".join(b"<" + bytes([slow.index(u)]) + b">" if u in slow else field(u)
                    for u in ups)
    assert got == want


def test_a_short_guess_of_the_output_is_made_good(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pe, "_GUESS", 1)
    monkeypatch.setattr(pe, "_PER_VALUE", 0)
    ups = [insert(bridging(i)) for i in range(50)]
    assert native().encode(ups, field) == b"".join(map(field, ups))


def _call(kinds: list[int], shapes: list[int], values: list[int], cap: int = 4096,
          nshapes: int = 1) -> tuple[int, int]:
    native_module = load()
    assert native_module is not None
    ffi, lib = native_module.ffi, native_module.lib
    shape = ffi.new("fp_p4rt_shape[]", 1)
    shape[0] = {"table_id": 7, "action_id": 9, "first": 0, "nfields": 1, "nparams": 1}
    slot_id, slot_bits = array("I", [1, 1]), array("I", [12, 9])
    length = ffi.new("size_t *")
    status = lib.fp_p4rt_encode(
        shape, nshapes, ffi.from_buffer("uint32_t[]", slot_id),
        ffi.from_buffer("uint32_t[]", slot_bits), 2,
        ffi.from_buffer("uint8_t[]", array("B", kinds)),
        ffi.from_buffer("uint32_t[]", array("I", shapes)), len(kinds),
        ffi.from_buffer("uint64_t[]", array("Q", values or [0])), len(values),
        ffi.new("uint8_t[]", max(cap, 1)), cap, length)
    return status, int(length[0])


def test_the_c_function_refuses_what_does_not_hold_together() -> None:
    lib = load().lib   # type: ignore[union-attr]
    assert _call([1, 2], [0, 0], [5, 3, 6, 4])[0] == lib.FP_ENC_OK
    assert _call([1, 4], [0, 0], [5, 3, 6, 4]) == (lib.FP_ENC_E_INPUT, 1)       # no type 4
    assert _call([0], [0], [5, 3]) == (lib.FP_ENC_E_INPUT, 0)
    assert _call([1], [1], [5, 3]) == (lib.FP_ENC_E_INPUT, 0)                   # no shape 1
    assert _call([1, 1], [0, 0], [5, 3, 6]) == (lib.FP_ENC_E_INPUT, 1)          # a value short
    assert _call([1, 1], [0, 0], [5, 3, 1 << 12, 4]) == (lib.FP_ENC_E_VALUE, 1)  # 13 bits
    assert _call([1], [0], [5, 1 << 9]) == (lib.FP_ENC_E_VALUE, 0)
    status, need = _call([1, 1], [0, 0], [5, 3, 6, 4], cap=10)
    assert status == lib.FP_ENC_E_CAPACITY and need > 10
    assert _call([1, 1], [0, 0], [5, 3, 6, 4], cap=need) == (lib.FP_ENC_OK, need)
    ffi = load().ffi   # type: ignore[union-attr]
    assert lib.fp_p4rt_encode(ffi.NULL, 0, ffi.NULL, ffi.NULL, 0, ffi.NULL, ffi.NULL, 0,
                              ffi.NULL, 0, ffi.NULL, 0, ffi.NULL) == lib.FP_ENC_E_NULL
