#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What a user of `make deb` does, in a VM: a Debian 12 system (debootstrap)
# installs the linux-image and linux-headers packages with dpkg, as a host
# would, and boots the kernel it installed (with the initramfs that its
# postinst made) under QEMU, with both HugeTLB pools on the command line
# and HVO as the packaged kernel has it (on by default).  There a service
# runs the tests bundle as root would on a host: its boot checks (pools,
# HVO) and two selftests, with KVM in the VM (nested under TCG).
#
# usage: check-deb.sh DEB_DIR WORK_DIR
# Needs root (debootstrap, chroot); installs debootstrap when missing.
set -euo pipefail
debs=$(realpath "$1")
work=$(realpath -m "$2")
here=$(dirname "$(realpath "$0")")
qemu=${GMEM_TCG_QEMU:-qemu-system-x86_64}
die() { echo "check-deb: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root: debootstrap and chroot"
"$here/install-deps.sh" debootstrap
image=$(ls "$debs"/linux-image-*.deb | grep -v -- -dbg_)
headers=$(ls "$debs"/linux-headers-*.deb)
[ -f "$debs/gmem-tests.tar.gz" ] || die "no $debs/gmem-tests.tar.gz: run make deb"

# Debian 12 with systemd, as minimal as boots; kept between runs.
mkdir -p "$work"
pkgs=systemd-sysv,udev,kmod,initramfs-tools,libhugetlbfs-bin,procps,util-linux
base=$work/bookworm-base.tar
if [ ! -f "$base" ] || [ "$(cat "$base.pkgs" 2>/dev/null)" != "$pkgs" ]; then
	echo "  DEBOOTSTRAP bookworm ($pkgs)"
	rm -rf "$work/base"
	debootstrap --variant=minbase --include="$pkgs" bookworm "$work/base" \
		http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$work/debootstrap.log"; die "debootstrap failed"; }
	tar -C "$work/base" -cf "$base.tmp" .
	mv "$base.tmp" "$base"
	echo "$pkgs" > "$base.pkgs"
	rm -rf "$work/base"
fi

root=$work/root
mounted=()
cleanup() {
	local m
	for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
# A run killed before its cleanup leaves the host's /proc, /sys and /dev
# bound in the old root: unmount them before anything is removed.
for m in proc sys dev; do
	! mountpoint -q "$root/$m" || umount -l "$root/$m"
done
rm -rf --one-file-system "$root"
mkdir -p "$root"
tar -C "$root" -xf "$base"

# Installed as on a host: dpkg -i, whose postinst makes the initramfs.
cp "$image" "$headers" "$root/tmp/"
for m in proc sys dev; do
	mount --bind "/$m" "$root/$m"
	mounted=("$root/$m" "${mounted[@]}")
done
echo "  DPKG    -i $(basename "$image") $(basename "$headers")"
chroot "$root" dpkg -i "/tmp/$(basename "$image")" "/tmp/$(basename "$headers")" \
	> "$work/dpkg.log" 2>&1 || { tail -n 30 "$work/dpkg.log"; die "dpkg -i failed"; }
cleanup
mounted=()
rm -f "$root"/tmp/*.deb
release=$(ls "$root/lib/modules")
[ -f "$root/boot/vmlinuz-$release" ] && [ -f "$root/boot/initrd.img-$release" ] ||
	die "no /boot/vmlinuz-$release or initrd.img-$release after dpkg -i"
[ -f "$root/usr/src/linux-headers-$release/Makefile" ] ||
	die "linux-headers-$release installed no /usr/src/linux-headers-$release"

# The check: the tests bundle, run once at boot, then power off.
mkdir -p "$root/opt"
tar -C "$root/opt" -xzf "$debs/gmem-tests.tar.gz"
echo "/dev/vda / ext4 defaults 0 1" > "$root/etc/fstab"
echo gmem-deb-check > "$root/etc/hostname"
cat > "$root/usr/local/sbin/gmem-deb-check" <<'CHECK'
#!/bin/sh
echo "GMEM-DEB-CHECK: $(uname -r), cmdline: $(cat /proc/cmdline)"
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel
ls -l /dev/kvm
if /opt/gmem-tests/run gmem.only='^(guest_memfd_test|guest_memfd_hugetlb_test)$'; then
	echo "GMEM-DEB-CHECK: PASS"
else
	echo "GMEM-DEB-CHECK: FAIL"
fi
CHECK
chmod +x "$root/usr/local/sbin/gmem-deb-check"
cat > "$root/etc/systemd/system/gmem-deb-check.service" <<'UNIT'
[Unit]
Description=Check the packaged kernel: pools, HVO, KVM, two selftests
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/gmem-deb-check
ExecStopPost=/usr/bin/systemctl poweroff --no-block
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/gmem-deb-check.service \
	"$root/etc/systemd/system/multi-user.target.wants/gmem-deb-check.service"

disk=$work/disk.img
rm -f "$disk"
mkfs.ext4 -q -F -L root -d "$root" "$disk" 4G > /dev/null
log=$work/boot.log
echo "  BOOT    /boot/vmlinuz-$release in QEMU (TCG, -cpu EPYC), log: $log"
timeout --foreground -k 10 1800 "$qemu" -accel tcg,thread=single -cpu EPYC -machine q35 \
	-smp 2 -m 6G -nographic -vga none -nic none -no-reboot -monitor none -serial stdio \
	-kernel "$root/boot/vmlinuz-$release" -initrd "$root/boot/initrd.img-$release" \
	-drive file="$disk",format=raw,if=virtio \
	-append "root=/dev/vda rw console=ttyS0 hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=512" \
	< /dev/null > "$log" 2>&1 || true
# The service's lines, as the console shows them: "[time] unit[pid]: line".
sed -n 's/\r$//; s/^.*gmem-deb-check\[[0-9]*\]: //p' "$log" > "$work/check.log"
grep -a '^GMEM-DEB-CHECK\|^ok\|^not ok' "$work/check.log" || true
grep -aqx 'GMEM-DEB-CHECK: PASS' "$work/check.log" ||
	die "the packaged kernel did not pass its checks: $log"
echo "  OK      $(basename "$image") and $(basename "$headers") install with dpkg in Debian 12; the kernel boots with both pools and HVO, and its checks pass"
