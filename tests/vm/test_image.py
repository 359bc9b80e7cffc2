"""ctrl.vm.image: what a missing tool or package says; the image itself where it can be
built (apt's lists, busybox-static, gcc)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from ctrl.vm.errors import MissingTool, VmError
from ctrl.vm.image import BUSYBOX, ensure_image, require
from ctrl.vm.initramfs import elf_is_static
from tests.vm.cpio import read_newc


def test_a_missing_program_names_its_package() -> None:
    with pytest.raises(MissingTool, match=r"apt-get install qemu-system-x86"):
        require("no-such-qemu-here", "qemu-system-x86", "to run guests")
    assert require("sh", "dash", "to test") == shutil.which("sh")


def test_a_missing_busybox_is_said_before_anything_is_downloaded(tmp_path: Path) -> None:
    with pytest.raises(MissingTool, match="apt-get install busybox-static"):
        ensure_image(tmp_path / "cache", busybox=tmp_path / "no-busybox")
    assert not (tmp_path / "cache").exists()


def test_a_dynamic_busybox_is_refused(tmp_path: Path) -> None:
    dynamic = Path("/bin/ls")   # any dynamically linked executable
    if not dynamic.exists() or elf_is_static(dynamic.read_bytes()):
        pytest.skip("no dynamically linked /bin/ls here")
    with pytest.raises(MissingTool, match="linked dynamically"):
        ensure_image(tmp_path / "cache", busybox=dynamic)


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="no apt-get (not Debian)")
@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static is not installed")
def test_a_kernel_package_apt_does_not_know_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VmError, match=r"linux-image-no-such-kernel.*apt-cache policy"):
        ensure_image(tmp_path / "cache", kernel_package="linux-image-no-such-kernel")


def test_the_cached_image_holds_init_busybox_endpoint_and_the_nic_modules() -> None:
    try:
        image = ensure_image()
    except VmError as exc:
        pytest.skip(f"no guest image here: {exc}")
    assert image.kernel.stat().st_size > 1_000_000
    names = {m[0]: m for m in read_newc(gzip.decompress(image.initramfs.read_bytes()))}
    assert {"init", "bin/busybox", "bin/endpoint", "dev/console",
            "lib/modules/order"} <= set(names)
    assert elf_is_static(names["bin/endpoint"][2]) and elf_is_static(names["bin/busybox"][2])
    order = names["lib/modules/order"][2].decode().split()
    assert order[-1] == "virtio_net" or "virtio_net" not in order
    assert all(f"lib/modules/{m}.ko" in names for m in order)
    assert ensure_image() == image   # cached: the same files again
