#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What a reviewer does with the mails: take the pristine base, apply them
# one by one with git am, and build after each (the test config, KVM built
# in; and the KVM selftests against that step's uAPI headers), then build
# the last with KVM as modules; and the tree they give must be the one the
# tests boot.  Runs in SRC_DIR, which it leaves as it found
# it (the series checked out).
#
# usage: check-series.sh SRC_DIR MAILS_DIR OBJ_DIR CONFIG MODOBJ_DIR MODCONFIG KMAKE...
# With CHECK_FROM=N, the mails before the Nth are applied but not built
# (to go on after an interrupted run); with CHECK_TO=N, the run ends after
# the Nth (a run in parts: the last part, without CHECK_TO, compares the
# trees and builds KVM as modules).
set -uo pipefail
src=$(realpath "$1")
mails=$(realpath "$2")
obj=$(realpath -m "$3")
config=$(realpath "$4")
modobj=$(realpath -m "$5")
modconfig=$(realpath "$6")
shift 6

die() { echo "check-series: $*" >&2; exit 1; }
g() { git -C "$src" "$@"; }
export GIT_COMMITTER_NAME="check-series" GIT_COMMITTER_EMAIL="check-series@localhost"

[ -z "$(g status --porcelain --untracked-files=no)" ] || die "$src has edits that no commit holds"
series=$(g rev-parse gmem-series) || die "no series in $src: run make series"
applied=$(g rev-parse -q --verify refs/gmem/applied) || die "$src was not prepared"

restore() {
	g am --abort > /dev/null 2>&1
	g checkout -q --detach "$applied"
}
trap restore EXIT

# build OBJ CONFIG: the config as far as this tree knows its options (each
# step starts again from CONFIG, so that an option a later patch adds gets
# CONFIG's value there, not its default), then the kernel.
build() {
	mkdir -p "$1"
	[ "$2" -ef "$1/.config" ] || cp "$2" "$1/.config"
	"${kmake[@]}" O="$1" olddefconfig > /dev/null && "${kmake[@]}" O="$1" bzImage modules
}
kmake=("$@")

# The KVM selftests, all of them, as a reviewer builds them: against the
# uAPI headers of the same step (usr/include of OBJ), not installed ones.
selftests() {
	"${kmake[@]}" O="$1" headers > /dev/null &&
	make -s -C "$src/tools/testing/selftests/kvm" OUTPUT="$1/kselftest/kvm" \
		KHDR_INCLUDES="-isystem $1/usr/include" CC="ccache gcc" -j"$(nproc)" > /dev/null
}

g checkout -q --detach gmem-base || die "no gmem-base in $src"
n=0
for m in "$mails"/[0-9][0-9][0-9][0-9]-*.patch; do
	case $m in */0000-cover-letter.patch) continue ;; esac
	n=$((n + 1))
	g am -q "$m" > /dev/null || die "$(basename "$m") does not apply with git am"
	[ "$n" -ge "${CHECK_FROM:-1}" ] || continue
	echo "  BUILD   [$n] $(basename "$m")"
	build "$obj" "$config" || die "the kernel does not build after $(basename "$m")"
	selftests "$obj" || die "the KVM selftests do not build after $(basename "$m")"
	if [ -n "${CHECK_TO:-}" ] && [ "$n" -ge "$CHECK_TO" ]; then
		echo "  OK      mails ${CHECK_FROM:-1} to $n apply with git am and build (CHECK_TO=$CHECK_TO)"
		exit 0
	fi
done
[ "$n" -gt 0 ] || die "no mails in $mails: run make series"
g diff --quiet HEAD "$series" ||
	die "the mails give another tree than the series the tests boot: $(g diff --stat HEAD "$series" | tail -n 1)"
echo "  BUILD   CONFIG_KVM=m after the last"
build "$modobj" "$modconfig" || die "the kernel with KVM as modules does not build"
ls "$modobj/arch/x86/kvm/kvm.ko" > /dev/null || die "no kvm.ko"
echo "  OK      $n patches apply with git am and build one by one (kernel, KVM selftests); the tree is the tests' one"
