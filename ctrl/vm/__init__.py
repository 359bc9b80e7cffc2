"""Real guests: QEMU virtual machines booted from a kernel and an initramfs made from
Debian packages, live-migrated over QMP, and libvirt's lifecycle events.

- image: the guest image (Debian cloud kernel, busybox initramfs with the probe's
  endpoint), built on first use and cached;
- initramfs: the pure parts of that (cpio archive, kernel module dependencies);
- tap: tap devices in network namespaces;
- qmp: a small blocking QMP client;
- qemu: one guest, a QEMU process in a namespace behind a bridge;
- migration: live migration between two guests over a unix socket;
- libvirt_events: libvirt's domain lifecycle events as typed migration events;
- libvirtd: a private libvirtd (session mode) per hypervisor, for tests and the lab;
- domain: libvirt domain XML for the project's guest.
"""
