"""The guest image, built from Debian packages on first use and cached.

- the kernel: Debian's cloud kernel (`apt-get download linux-image-cloud-amd64`, then
  the versioned package it depends on), unpacked with `dpkg-deb -x`, nothing installed;
  its vmlinuz and the modules the virtio NIC needs (with their dependencies, read from
  each module's .modinfo) are kept under the cache;
- the initramfs: busybox (Debian's busybox-static), the project's /init
  (ctrl/vm/guest/init: MAC, address and route from the kernel command line) and the
  probe's endpoint (ctrl/vm/guest/endpoint.c, compiled with `gcc -static`).

The cache (default /var/cache/vm-mobility/guest) holds kernel-VERSION/ and
initramfs-HASH.cpio.gz, HASH covering every input, so a changed /init or endpoint
makes a new one. A lock file keeps two builders from meeting.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import logging
import lzma
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ctrl.vm.errors import MissingTool, VmError
from ctrl.vm.initramfs import (
    Entry,
    elf_is_static,
    load_order,
    modinfo_depends,
    module_name,
    newc_archive,
    package_depends,
)

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path("/var/cache/vm-mobility/guest")
KERNEL_PACKAGE = "linux-image-cloud-amd64"
NIC_MODULES = ("virtio_pci", "virtio_net")   # the PCI transport, then the NIC
BUSYBOX = Path("/bin/busybox")
GUEST_DIR = Path(__file__).parent / "guest"
RELEASE = "release"  # in kernel-VERSION/: written last, so a present one is whole


@dataclass(frozen=True, slots=True)
class GuestImage:
    """What QEMU boots: `-kernel kernel -initrd initramfs`."""

    kernel: Path
    initramfs: Path
    kernel_version: str   # e.g. 6.1.0-57-cloud-amd64


def require(program: str, package: str, purpose: str) -> str:
    """The path of `program`, or a MissingTool saying which Debian package has it."""
    path = shutil.which(program)
    if path is None:
        raise MissingTool(f"{program} is not installed; it is needed {purpose}: "
                          f"apt-get install {package} (or `./run setup`)")
    return path


def _run(argv: Sequence[str], what: str, cwd: Path | None = None, hint: str = "") -> str:
    try:
        done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise VmError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise VmError(f"{what}: `{' '.join(argv)}` failed: {' / '.join(detail)}"
                      + (f"; {hint}" if hint else ""))
    return done.stdout


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        lock = (cache / ".lock").open("w")
    except OSError as exc:
        raise VmError(f"cannot use {cache} as the guest image cache: {exc.strerror} "
                      "(pass another directory, or run as root)") from exc
    with lock as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_image(cache: Path = DEFAULT_CACHE, kernel_package: str = KERNEL_PACKAGE,
                 busybox: Path = BUSYBOX) -> GuestImage:
    """The guest image, made now if the cache does not hold it yet (which needs apt's
    package lists, busybox-static and gcc with libc6-dev); MissingTool names what
    to install when something is missing, before anything is downloaded."""
    busybox_data = _busybox(busybox)
    with _locked(cache):
        kernel_dir = _cached_kernel(cache) or _fetch_kernel(cache, kernel_package)
        version = (kernel_dir / RELEASE).read_text().strip()
        initramfs = _ensure_initramfs(cache, kernel_dir, version, busybox_data)
        return GuestImage(kernel_dir / "vmlinuz", initramfs, version)


def _cached_kernel(cache: Path) -> Path | None:
    found = sorted(p.parent for p in cache.glob(f"kernel-*/{RELEASE}"))
    return found[-1] if found else None


def _download(package: str, into: Path) -> Path:
    apt_get = require("apt-get", "apt", "to download the guest kernel")
    _run([apt_get, "download", "-q", "-o", "APT::Sandbox::User=root", package],
         f"downloading Debian package {package}", cwd=into,
         hint="the guest kernel is Debian's package of that name: does `apt-cache policy "
              f"{package}` know it (`apt-get update` first)?")
    debs = sorted(into.glob(f"{package}_*.deb"))
    if not debs:
        raise VmError(f"apt-get download {package} left no {package}_*.deb in {into}")
    return debs[-1]


def _fetch_kernel(cache: Path, package: str) -> Path:
    dpkg_deb = require("dpkg-deb", "dpkg", "to unpack the guest kernel")
    with tempfile.TemporaryDirectory(dir=cache, prefix="fetch-") as tmp:
        work = Path(tmp)
        root = work / "root"
        for _ in range(3):   # the metapackage, then the kernel it depends on
            deb = _download(package, work)
            log.info("unpacking %s", deb.name)
            _run([dpkg_deb, "-x", str(deb), str(root)], f"unpacking {deb.name}")
            vmlinuz = sorted((root / "boot").glob("vmlinuz-*"))
            if vmlinuz:
                break
            deps = [d for d in package_depends(
                _run([dpkg_deb, "-f", str(deb), "Depends"], f"reading {deb.name}"))
                if d.startswith("linux-image-")]
            if not deps:
                raise VmError(f"{deb.name} has no kernel and depends on no linux-image-*")
            package = deps[0]
        else:
            raise VmError(f"no kernel found behind {package}")
        version = vmlinuz[-1].name.removeprefix("vmlinuz-")
        out = cache / f"kernel-{version}"
        shutil.rmtree(out, ignore_errors=True)
        (out / "modules").mkdir(parents=True)
        shutil.copyfile(vmlinuz[-1], out / "vmlinuz")
        modules = _nic_modules(root / "lib" / "modules" / version)
        for name, data in modules:
            (out / "modules" / f"{name}.ko").write_bytes(data)
        (out / "modules" / "order").write_text("".join(f"{n}\n" for n, _ in modules))
        (out / RELEASE).write_text(version + "\n")
        log.info("guest kernel %s cached in %s", version, out)
        return out


def _nic_modules(moddir: Path) -> list[tuple[str, bytes]]:
    """(name, uncompressed .ko) of the modules the NIC needs, in load order."""
    files = {module_name(p.name): p for p in moddir.glob("kernel/**/*.ko*")}
    builtin_file = moddir / "modules.builtin"
    builtin = builtin_file.read_text().split() if builtin_file.exists() else []
    builtin_names = {module_name(b) for b in builtin}
    data: dict[str, bytes] = {}
    depends: dict[str, list[str]] = {}
    todo = list(NIC_MODULES)
    while todo:
        name = todo.pop()
        if name in depends or name in builtin_names or name not in files:
            continue   # load_order says what is missing
        data[name] = _read_module(files[name])
        depends[name] = modinfo_depends(data[name])
        todo += depends[name]
    return [(name, data[name]) for name in load_order(NIC_MODULES, depends, builtin)]


def _read_module(path: Path) -> bytes:
    """A module as busybox's insmod takes it: uncompressed."""
    if path.name.endswith(".ko"):
        return path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(path.read_bytes())
    raise VmError(f"{path.name}: compressed in a way this image builder does not unpack")


def _ensure_initramfs(cache: Path, kernel_dir: Path, version: str, busybox: bytes) -> Path:
    init = (GUEST_DIR / "init").read_bytes()
    source = (GUEST_DIR / "endpoint.c").read_bytes()
    load = (kernel_dir / "modules" / "order").read_text().split()
    modules = [(kernel_dir / "modules" / f"{name}.ko").read_bytes() for name in load]
    digest = hashlib.sha256()
    for part in (busybox, init, source, version.encode(), " ".join(load).encode(), *modules):
        digest.update(hashlib.sha256(part).digest())
    out = cache / f"initramfs-{digest.hexdigest()[:16]}.cpio.gz"
    if out.exists():
        return out
    endpoint = _compile_endpoint(cache)
    entries = [Entry.dir(d) for d in ("bin", "dev", "proc", "sys", "tmp", "lib",
                                      "lib/modules")]
    entries += [
        Entry.chardev("dev/console", 5, 1),   # init's stdio, before devtmpfs is mounted
        Entry.file("bin/busybox", busybox, executable=True),
        Entry.symlink("bin/sh", "busybox"),
        Entry.file("bin/endpoint", endpoint, executable=True),
        Entry.file("init", init, executable=True),
        *(Entry.file(f"lib/modules/{name}.ko", ko) for name, ko in zip(load, modules,
                                                                       strict=True)),
        Entry.file("lib/modules/order", "".join(f"{n}\n" for n in load).encode()),
    ]
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(newc_archive(entries), compresslevel=6, mtime=0))
    os.replace(tmp, out)
    log.info("guest initramfs %s (%d bytes)", out, out.stat().st_size)
    return out


def _busybox(path: Path) -> bytes:
    if not path.exists():
        raise MissingTool(f"{path} is not installed; the guest's initramfs needs it: "
                          "apt-get install busybox-static (or `./run setup`)")
    data = path.read_bytes()
    if not elf_is_static(data):
        raise MissingTool(f"{path} is linked dynamically and cannot run in the guest: "
                          "apt-get install busybox-static (it replaces busybox)")
    return data


def _compile_endpoint(cache: Path) -> bytes:
    gcc = require("gcc", "gcc", "to build the guest's endpoint")
    with tempfile.TemporaryDirectory(dir=cache, prefix="cc-") as tmp:
        out = Path(tmp) / "endpoint"
        _run([gcc, "-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o", str(out),
              str(GUEST_DIR / "endpoint.c")], "compiling the guest's endpoint",
             hint="a static build needs libc.a: apt-get install libc6-dev")
        return out.read_bytes()
