"""libvirt domain XML for the project's guest: the same kernel, initramfs and command line
as a QEMU started by ctrl.vm.qemu, under libvirt's QEMU driver (domain type 'qemu',
TCG, or 'kvm')."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ctrl.vm.errors import VmError
from ctrl.vm.image import GuestImage
from ctrl.vm.qemu import GuestSpec


def domain_xml(spec: GuestSpec, image: GuestImage, emulator: str, console: Path,
               domain_type: str = "qemu", user_nic: bool = False) -> str:
    """`virsh define`'s input for `spec`: 1 vCPU, q35, direct kernel boot, the serial
    console into a file, no disk; no NIC, or with `user_nic` a virtio NIC with the
    spec's MAC on QEMU's user-mode network (which an unprivileged libvirtd can give, and
    which names the domain's MAC to whoever reads its XML)."""
    if domain_type not in ("qemu", "kvm"):
        raise VmError(f"domain type {domain_type!r}: 'qemu' (TCG) or 'kvm'")
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = spec.name
    ET.SubElement(dom, "memory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(dom, "vcpu").text = "1"
    os_ = ET.SubElement(dom, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="q35").text = "hvm"
    ET.SubElement(os_, "kernel").text = str(image.kernel)
    ET.SubElement(os_, "initrd").text = str(image.initramfs)
    ET.SubElement(os_, "cmdline").text = spec.cmdline()
    ET.SubElement(dom, "on_reboot").text = "destroy"
    ET.SubElement(dom, "on_crash").text = "destroy"
    devices = ET.SubElement(dom, "devices")
    ET.SubElement(devices, "emulator").text = emulator
    if user_nic:
        nic = ET.SubElement(devices, "interface", type="user")
        ET.SubElement(nic, "mac", address=spec.mac.lower())
        ET.SubElement(nic, "model", type="virtio")
        ET.SubElement(nic, "rom", enabled="no")
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=str(console))
    return ET.tostring(dom, encoding="unicode")
