"""The pure parts of the guest image: a cpio archive ("newc", what the kernel unpacks
as its initramfs) and the load order of kernel modules from their own .modinfo.

No file is read or written here: image.py gathers the bytes and stores the result.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ctrl.vm.errors import VmError

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass(frozen=True, slots=True)
class Entry:
    """One member of the archive: a directory, a regular file, a symlink (its target as
    data) or a character device (rdev = (major, minor))."""

    path: str          # without a leading '/', e.g. "bin/busybox"
    mode: int          # type and permission bits, e.g. stat.S_IFREG | 0o755
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    @classmethod
    def dir(cls, path: str) -> Entry:
        return cls(path, stat.S_IFDIR | 0o755)

    @classmethod
    def file(cls, path: str, data: bytes, executable: bool = False) -> Entry:
        return cls(path, stat.S_IFREG | (0o755 if executable else 0o644), data)

    @classmethod
    def symlink(cls, path: str, target: str) -> Entry:
        return cls(path, stat.S_IFLNK | 0o777, target.encode())

    @classmethod
    def chardev(cls, path: str, major: int, minor: int) -> Entry:
        return cls(path, stat.S_IFCHR | 0o600, b"", (major, minor))


def _pad4(n: int) -> bytes:
    return bytes(-n % 4)


def _header(ino: int, e: Entry, name: bytes) -> bytes:
    fields = (ino, e.mode, 0, 0, 2 if stat.S_ISDIR(e.mode) else 1, 0, len(e.data), 0, 0,
              e.rdev[0], e.rdev[1], len(name) + 1, 0)
    return NEWC_MAGIC + b"".join(b"%08x" % f for f in fields)


def newc_archive(entries: Iterable[Entry]) -> bytes:
    """The entries as a newc cpio archive, owned by root, mtime 0 (so the same entries
    always give the same bytes); parents must come before their children."""
    out = bytearray()
    seen: set[str] = set()
    for ino, e in enumerate(entries, start=1):
        path = e.path.strip("/")
        if not path or path in seen:
            raise VmError(f"initramfs: bad or repeated path {e.path!r}")
        parent = path.rpartition("/")[0]
        if parent and parent not in seen:
            raise VmError(f"initramfs: {path!r} comes before its directory {parent!r}")
        seen.add(path)
        name = path.encode()
        out += _header(ino, e, name) + name + b"\0"
        out += _pad4(110 + len(name) + 1)
        out += e.data + _pad4(len(e.data))
    end = Entry(TRAILER, 0)
    name = TRAILER.encode()
    out += _header(0, end, name) + name + b"\0" + _pad4(110 + len(name) + 1)
    return bytes(out)


def module_name(filename: str) -> str:
    """A module's name from its file name: 'virtio-rng.ko' -> 'virtio_rng'."""
    base = filename.rsplit("/", 1)[-1]
    for suffix in (".ko", ".ko.xz", ".ko.zst", ".ko.gz"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def modinfo_depends(ko: bytes) -> list[str]:
    """The modules a module needs, from the 'depends=' string of its .modinfo section
    (what `modinfo -F depends` prints), without parsing the ELF file around it."""
    key = b"\0depends="
    at = ko.find(key)
    if at < 0:
        return []
    start = at + len(key)
    end = ko.find(b"\0", start)
    value = ko[start:end if end >= 0 else len(ko)].decode("ascii", errors="replace")
    return [module_name(d) for d in value.split(",") if d]


def load_order(wanted: Iterable[str], depends: Mapping[str, list[str]],
               builtin: Iterable[str] = ()) -> list[str]:
    """The modules to insmod, dependencies first, for `wanted` ones: `depends` maps each
    module file at hand to what it needs; built-in modules need no loading."""
    inside = {module_name(b) for b in builtin}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in inside or name in order:
            return
        if name in visiting:
            raise VmError(f"kernel modules depend on each other in a cycle: "
                          f"{' -> '.join((*chain, name))}")
        if name not in depends:
            via = f" (needed by {chain[-1]})" if chain else ""
            raise VmError(f"the kernel has no module {name}{via} and does not build it in")
        visiting.add(name)
        for dep in depends[name]:
            visit(dep, (*chain, name))
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(module_name(name), ())
    return order


def package_depends(field: str) -> list[str]:
    """Package names from a Debian 'Depends:' field: 'a (= 1), b | c' -> ['a', 'b']
    (the first of alternatives)."""
    names = []
    for part in field.split(","):
        first = part.split("|")[0].strip()
        if first:
            names.append(first.split()[0].split(":")[0])
    return names


PT_INTERP = 3


def elf_is_static(data: bytes) -> bool:
    """Whether a 64-bit little-endian ELF executable runs without a dynamic loader (has
    no PT_INTERP program header): only such a program runs in an initramfs with no libc."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise VmError("not a 64-bit little-endian ELF file")
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + 4 > len(data):
            raise VmError("ELF program headers run past the end of the file")
        if int.from_bytes(data[at:at + 4], "little") == PT_INTERP:
            return False
    return True
