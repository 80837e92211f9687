#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, statically, the KVM and mm selftests that the test lists name, from
# the patched tree, against the patched tree's exported uAPI headers.
#
# usage: build-selftests.sh SRC_DIR HEADERS_DIR OUT_DIR LIST...
set -euo pipefail
src=$(realpath "$1")
hdr=$(realpath "$2")
out=$(realpath -m "$3")
shift 3
st=$src/tools/testing/selftests
here=$(dirname "$(realpath "$0")")
bench=$here/../../../bench

kvm_targets=()
mm_targets=()
for name in $(awk '!/^#/ && NF >= 3 {print $3}' "$@" | sort -u); do
	if [ -f "$st/kvm/$name.c" ]; then
		kvm_targets+=("$out/kvm/$name")
	elif [ -f "$st/kvm/x86_64/$name.c" ]; then
		kvm_targets+=("$out/kvm/x86_64/$name")
	elif [ -f "$st/mm/$name.c" ]; then
		mm_targets+=("$out/mm/$name")
	elif [ -f "$bench/$name.c" ] || [ -f "$here/$name/main.c" ]; then
		continue	# built by the Makefile's bench-programs
	else
		echo "build-selftests: no selftest source for '$name'" >&2
		exit 1
	fi
done

common=(KHDR_INCLUDES="-isystem $hdr" EXTRA_CFLAGS=-static CC="${CC:-gcc}" -j"$(nproc)")
echo "  SELFTESTS kvm: ${#kvm_targets[@]}, mm: ${#mm_targets[@]}"
mkdir -p "$out/kvm" "$out/mm"
if [ ${#kvm_targets[@]} -gt 0 ]; then
	make -s -C "$st/kvm" OUTPUT="$out/kvm" "${common[@]}" "${kvm_targets[@]}"
fi
if [ ${#mm_targets[@]} -gt 0 ]; then
	make -s -C "$st/mm" OUTPUT="$out/mm" "${common[@]}" "${mm_targets[@]}"
fi
