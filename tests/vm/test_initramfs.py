"""ctrl.vm.initramfs: the newc archive the kernel unpacks, module load order, ELF checks."""

from __future__ import annotations

import stat
import struct

import pytest

from ctrl.vm.errors import VmError
from ctrl.vm.initramfs import (
    Entry,
    elf_is_static,
    load_order,
    modinfo_depends,
    module_name,
    newc_archive,
    package_depends,
)
from tests.vm.cpio import read_newc


def test_newc_archive_holds_each_entry_as_written() -> None:
    entries = [Entry.dir("bin"), Entry.dir("dev"), Entry.chardev("dev/console", 5, 1),
               Entry.file("bin/busybox", b"\x7fELF...", executable=True),
               Entry.symlink("bin/sh", "busybox"), Entry.file("init", b"#!/bin/sh\n")]
    got = read_newc(newc_archive(entries))
    assert [g[0] for g in got] == ["bin", "dev", "dev/console", "bin/busybox", "bin/sh",
                                   "init"]
    modes = {g[0]: g[1] for g in got}
    assert stat.S_ISDIR(modes["bin"]) and stat.S_ISCHR(modes["dev/console"])
    assert stat.S_ISLNK(modes["bin/sh"]) and modes["bin/busybox"] & 0o111
    assert not modes["init"] & 0o111
    assert got[2][3] == (5, 1)
    assert got[4][2] == b"busybox" and got[3][2] == b"\x7fELF..."


def test_newc_archive_is_reproducible_and_refuses_bad_trees() -> None:
    entries = [Entry.dir("a"), Entry.file("a/b", b"x")]
    assert newc_archive(entries) == newc_archive(entries)
    with pytest.raises(VmError, match="before its directory"):
        newc_archive([Entry.file("a/b", b"x")])
    with pytest.raises(VmError, match="repeated"):
        newc_archive([Entry.dir("a"), Entry.dir("a")])


def test_module_names_and_dependencies_from_modinfo() -> None:
    assert module_name("drivers/char/hw_random/virtio-rng.ko") == "virtio_rng"
    assert module_name("virtio_net.ko.xz") == "virtio_net"
    ko = b"\x7fELF\0...\0license=GPL\0depends=virtio_ring,virtio,net_failover\0intree=Y\0"
    assert modinfo_depends(ko) == ["virtio_ring", "virtio", "net_failover"]
    assert modinfo_depends(b"\0depends=\0vermagic=6.1") == []
    assert modinfo_depends(b"no modinfo") == []


def test_load_order_puts_dependencies_first_and_skips_builtins() -> None:
    deps = {"virtio_net": ["virtio_ring", "virtio", "net_failover"], "virtio": ["virtio_ring"],
            "virtio_ring": [], "net_failover": ["failover"], "failover": [],
            "virtio_pci": ["virtio_ring", "virtio"]}
    order = load_order(["virtio_pci", "virtio_net"], deps)
    assert order == ["virtio_ring", "virtio", "virtio_pci", "failover", "net_failover",
                     "virtio_net"]
    assert load_order(["virtio_net"], {"virtio_net": ["failover"]},
                      builtin=["kernel/net/core/failover.ko"]) == ["virtio_net"]
    assert load_order(["virtio_net"], {}, builtin=["virtio_net.ko"]) == []


def test_load_order_says_what_is_missing_or_circular() -> None:
    with pytest.raises(VmError, match=r"no module failover \(needed by net_failover"):
        load_order(["net_failover"], {"net_failover": ["failover"]})
    with pytest.raises(VmError, match="cycle: a -> b -> a"):
        load_order(["a"], {"a": ["b"], "b": ["a"]})


def test_package_depends_takes_the_first_of_alternatives() -> None:
    field = "linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3), a | b, c:amd64 (>= 1)"
    assert package_depends(field) == ["linux-image-6.1.0-57-cloud-amd64", "a", "c"]
    assert package_depends("") == []


def elf(interp: bool) -> bytes:
    """A minimal ELF64 header with one program header (PT_INTERP or PT_LOAD)."""
    head = bytearray(64)
    head[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", head, 0x20, 64)          # e_phoff
    struct.pack_into("<HH", head, 0x36, 56, 1)      # e_phentsize, e_phnum
    ph = bytearray(56)
    struct.pack_into("<I", ph, 0, 3 if interp else 1)
    return bytes(head + ph)


def test_static_executables_are_told_from_dynamic_ones() -> None:
    assert elf_is_static(elf(interp=False))
    assert not elf_is_static(elf(interp=True))
    with pytest.raises(VmError, match="not a 64-bit"):
        elf_is_static(b"#!/bin/sh\n" + bytes(64))
    with pytest.raises(VmError, match="past the end"):
        elf_is_static(elf(interp=False)[:66])
