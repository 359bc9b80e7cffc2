"""Real guests: QEMU virtual machines booted from a kernel and an initramfs made from
Debian packages.

- image: the guest image (Debian cloud kernel, busybox initramfs with the probe's
  endpoint), built on first use and cached;
- initramfs: the pure parts of that (cpio archive, kernel module dependencies).
"""
