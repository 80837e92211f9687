# SPDX-License-Identifier: GPL-2.0
#
# Hugepage-backed guest_memfd series on Debian's linux-source-6.12.
#
#   make            the main job: build everything, boot the test kernel in
#                   QEMU, show the hugetlb pools, HVO and a guest_memfd run
#   make test       build everything and run every test (TAP + verdict)
#   make bench      conversion benchmarks (bench/) in a kernel without debug
#                   options, under QEMU -icount (instruction time)
#   make bench BENCH_IRQSOFF=1   the same in a kernel of its own with the
#                   irqsoff tracer, which adds the longest interrupts-off
#                   sections of huge page splits and merges (irqsoff_* rows)
#   make soak       the stress test alone for SOAK_MIN minutes (default 60)
#                   on the KASAN kernel
#   make check      checkpatch --strict over the series and every new file
#   make check-kvm-module   build-only check with CONFIG_KVM=m
#   make series     the series as mails in build/series (git format-patch)
#   make check-series   git am of those mails on the pristine base, a build
#                   after each, and the tree the tests boot at the end
#   make export     write commits made in build/linux back to the repo
#   make deb        Debian packages of the kernel for a host with hardware
#                   KVM (production config), and the tests to run there
#   make check-deb  install them in a Debian 12 VM and boot it (needs root)
#   make clean      remove build/ (ccache keeps compiled objects)
#
# Options: KASAN=1 (kernel with KASAN), ONLY=REGEX (tests whose name matches),
# DEB_CONFIG=FILE (make deb: this config, e.g. a distribution's, instead of
# x86_64_defconfig, under our fragments),
# REPEAT=N (run them N times), TEST_VMS=N (VMs that share the tests, default
# one per core and 9 GiB), BUILD=DIR (build directory, default ./build),
# JOBS=N.

REPO    := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD   ?= $(REPO)/build
H       := $(REPO)/tools/testing/gmem
SRC     := $(BUILD)/linux
TARBALL := /usr/src/linux-source-6.12.tar.xz
JOBS    ?= $(shell nproc)

# The soak runs on the KASAN kernel.
ifneq ($(filter soak,$(MAKECMDGOALS)),)
KASAN := 1
endif
SOAK_MIN ?= 60

ifeq ($(KASAN),1)
VARIANT := kasan
FRAGS   := kvm_gmem.config kvm_gmem_vm.config kvm_gmem_debug.config kvm_gmem_kasan.config
else
VARIANT := debug
FRAGS   := kvm_gmem.config kvm_gmem_vm.config kvm_gmem_debug.config
endif
KOBJ      := $(BUILD)/kernel-$(VARIANT)
BZIMAGE   := $(KOBJ)/arch/x86/boot/bzImage
HEADERS   := $(KOBJ)/usr/include
SELFTESTS := $(BUILD)/selftests
INITRAMFS := $(BUILD)/initramfs.cpio
GUESTFS   := $(BUILD)/guest-initramfs.cpio
LOGS      := $(BUILD)/logs
LISTS     := $(H)/tests.list $(H)/demo.list
BENCHBIN  := $(BUILD)/bench
# The irqsoff tracer's hooks cost the other figures 0-6%: a kernel apart.
BENCHKOBJ := $(BUILD)/kernel-bench$(if $(BENCH_IRQSOFF),-irqsoff)
BENCHCONF := kvm_gmem.config kvm_gmem_vm.config $(if $(BENCH_IRQSOFF),kvm_gmem_bench_irqsoff.config)
MODKOBJ   := $(BUILD)/kernel-kvm-module
# The QEMU of the TCG runs: Debian's, rebuilt with the fixes in $(H)/qemu.
export GMEM_TCG_QEMU := $(BUILD)/qemu/qemu-system-x86_64

# ccache: paths below $(BUILD) are hashed relative to it, so a fresh clone
# elsewhere still hits the cache.
export CCACHE_BASEDIR := $(BUILD)
export CCACHE_NOHASHDIR := true
# Reproducible version string, and so a cacheable init/version.o.
export KBUILD_BUILD_USER := gmem
export KBUILD_BUILD_HOST := build
export KBUILD_BUILD_TIMESTAMP := 2026-01-01
KMAKE := $(MAKE) -s -C $(SRC) CC="ccache gcc" -j$(JOBS)

# How many VMs `make test` boots at once, each running every N-th test: one
# per core (TCG runs a VM in one thread), as many as 9 GiB each of free
# memory allow, at most 4; one when ONLY picks tests.
TEST_VMS ?= $(if $(ONLY),1,$(shell awk -v c=$$(nproc) '/MemAvailable/ \
	{ n = int($$2 / 9437184); n = n < c ? n : c; n = n < 4 ? n : 4; print n < 1 ? 1 : n }' /proc/meminfo))

# The VM's time limit: every test's own limit, plus boot and boot checks,
# but never more than 45 minutes, well inside CI's 90.  (A test stuck in
# the kernel ends the run by itself: tools/testing/gmem/init.)
vm_limit = $(shell awk '!/^\#/ && NF >= 3 {t += $$2} END {t += 300; print t < 2700 ? t : 2700}' $(H)/$(1))

.NOTPARALLEL:
.PHONY: demo test soak deps qemu source config kernel guest-kernel headers selftests initramfs \
	check config-kvm-module check-kvm-module series check-series export clean deb check-deb \
	bench bench-kernel bench-programs bench-initramfs

# Under -icount, as the boot tests: its last step boots a guest.
demo: deps qemu kernel initramfs
	@mkdir -p $(LOGS)
	@rc=0; GMEM_ICOUNT=1 $(H)/run-vm.sh $(BZIMAGE) $(INITRAMFS) $(LOGS)/demo.log demo $(call vm_limit,demo.list) || rc=$$?; \
	 $(H)/verdict.sh $(LOGS)/demo.log $$rc

# KVM as a module is a build check (check-kvm-module, and check-series
# after the last patch), not part of every run: on a new machine it cost CI
# 3.5 minutes.
test: deps qemu kernel initramfs
	@$(H)/verdict-selftest.sh > $(LOGS)/verdict-selftest.log 2>&1 || \
		{ cat $(LOGS)/verdict-selftest.log; exit 1; }
	@$(H)/series-selftest.sh > $(LOGS)/series-selftest.log 2>&1 || \
		{ cat $(LOGS)/series-selftest.log; exit 1; }
	@$(H)/run-tests.sh "$(TEST_VMS)" $(BZIMAGE) $(INITRAMFS) $(LOGS)/test.log $(call vm_limit,tests.list) \
		"$(if $(ONLY),gmem.only=$(ONLY)) $(if $(REPEAT),gmem.repeat=$(REPEAT))"

# The VM's limit: the soak, and ten minutes for boot, boot checks and the end.
soak: deps qemu kernel initramfs
	@mkdir -p $(LOGS)
	@rc=0; $(H)/run-vm.sh $(BZIMAGE) $(INITRAMFS) $(LOGS)/soak.log soak \
		$$(( $(SOAK_MIN) * 60 + 600 )) "gmem.soak_min=$(SOAK_MIN)" || rc=$$?; \
	 $(H)/verdict.sh $(LOGS)/soak.log $$rc

deps:
	@$(H)/install-deps.sh

qemu: deps
	@$(H)/qemu/build-qemu.sh $(BUILD)/qemu

source: deps
	@$(H)/prepare-source.sh $(REPO) $(SRC) $(TARBALL)

config: source
	@$(H)/configure-kernel.sh $(SRC) $(KOBJ) $(FRAGS)

kernel: config
	@echo "  KERNEL  $(BZIMAGE)"
	@$(KMAKE) O=$(KOBJ) bzImage

headers: config
	@$(KMAKE) O=$(KOBJ) headers

selftests: headers
	@CC="ccache gcc" $(H)/build-selftests.sh $(SRC) $(HEADERS) $(SELFTESTS) $(LISTS)

# The guest that gmem_vmm boots inside the test VM: our kernel again, with a
# busybox initramfs.  The debug kernel, under KASAN too: KASAN checks the
# host's code, and a KASAN guest, nested under TCG, takes minutes to boot.
# The soak boots no such guest: it carries its own kernel, unbuilt twice.
ifneq ($(filter soak,$(MAKECMDGOALS)),)
GUEST_BZIMAGE := $(BZIMAGE)
else
GUEST_BZIMAGE := $(BUILD)/kernel-debug/arch/x86/boot/bzImage
endif
initramfs: kernel guest-kernel selftests bench-programs
	@mkdir -p $(LOGS)
	@$(H)/mkguest-initramfs.sh $(GUESTFS)
	@$(H)/mkinitramfs.sh $(INITRAMFS) $(SELFTESTS)/kvm $(SELFTESTS)/mm $(BENCHBIN) \
		$(GUEST_BZIMAGE) $(GUESTFS)

guest-kernel: source
ifneq ($(GUEST_BZIMAGE),$(BZIMAGE))
	@$(MAKE) --no-print-directory -f $(REPO)/Makefile KASAN= kernel
endif

# Benchmarks: static programs against the series' uAPI headers, one a
# bench/*.c; and beside them gmem_vmm, which the tests run too, from all
# the files of its folder.  It is rebuilt when any of them is newer, or
# the folder itself (a file added or removed); one gcc call, as ccache
# does not cache a compile of several sources.
VMMDIR := $(H)/gmem_vmm
# The wait functions that the selftests count, which the benchmark counts too.
RCUWAITS_H := $(SRC)/tools/testing/selftests/kvm/include/rcu_waits.h
bench-programs: headers
	@mkdir -p $(BENCHBIN)
	@for f in $(REPO)/bench/*.c; do \
		b=$(BENCHBIN)/$$(basename $$f .c); \
		[ $$b -nt $$f ] && [ $$b -nt $(REPO)/bench/bench_util.h ] && \
			[ $$b -nt $(HEADERS)/linux/kvm.h ] && [ $$b -nt $(RCUWAITS_H) ] && continue; \
		echo "  CC      $$b"; \
		ccache gcc -static -O2 -Wall -Werror -pthread -I$(HEADERS) \
			-I$(dir $(RCUWAITS_H)) -o $$b $$f || exit 1; \
	done
	@b=$(BENCHBIN)/gmem_vmm; \
	for f in $(VMMDIR) $(VMMDIR)/*.[ch] $(REPO)/bench/bench_util.h $(HEADERS)/linux/kvm.h; do \
		[ $$b -nt $$f ] && continue; \
		echo "  CC      $$b"; \
		gcc -static -O2 -Wall -Werror -pthread -I$(HEADERS) -I$(REPO)/bench \
			-o $$b $(VMMDIR)/*.c || exit 1; \
		break; \
	done

# The benchmarks' kernel: the test kernel's options without the debug ones.
bench-kernel: source
	@$(H)/configure-kernel.sh $(SRC) $(BENCHKOBJ) $(BENCHCONF)
	@echo "  KERNEL  $(BENCHKOBJ)/arch/x86/boot/bzImage"
	@$(KMAKE) O=$(BENCHKOBJ) bzImage

# The benchmarks' guest runs the benchmarks' kernel, and fio.
BENCHINITRAMFS := $(BUILD)/initramfs-bench.cpio
BENCHGUESTFS   := $(BUILD)/guest-initramfs-fio.cpio
bench-initramfs: bench-kernel selftests bench-programs
	@mkdir -p $(LOGS)
	@$(H)/mkguest-initramfs.sh --fio $(BENCHGUESTFS)
	@$(H)/mkinitramfs.sh $(BENCHINITRAMFS) $(SELFTESTS)/kvm $(SELFTESTS)/mm $(BENCHBIN) \
		$(BENCHKOBJ)/arch/x86/boot/bzImage $(BENCHGUESTFS)

bench: deps qemu bench-kernel bench-initramfs
	@rc=0; GMEM_ICOUNT=1 $(H)/run-vm.sh $(BENCHKOBJ)/arch/x86/boot/bzImage $(BENCHINITRAMFS) \
		$(LOGS)/bench.log bench $(call vm_limit,bench.list) || rc=$$?; \
	 $(H)/verdict.sh $(LOGS)/bench.log $$rc; \
	 sed -n 's/\r$$//; s/^# csv,/csv,/p' $(LOGS)/bench.log > $(BENCHBIN)/results.csv; \
	 echo "  CSV     $(BENCHBIN)/results.csv"; \
	 $(REPO)/bench/plot.sh $(BENCHBIN)/results.csv $(BENCHBIN)/results.png || rc=1; \
	 $(REPO)/bench/report.sh $(BENCHBIN)/results.csv "$$(cat $(BENCHKOBJ)/include/config/kernel.release)" \
		"$$(grep -c '^[^#[:space:]]' $(REPO)/patches/series)" \
		"$$(cat $(LOGS)/bench.log.machine)" \
		"$$(git -C $(REPO) describe --always --dirty 2>/dev/null || echo unknown)" \
		> $(BENCHBIN)/README.md || rc=1; \
	 echo "  TABLES  $(BENCHBIN)/README.md"; \
	 $(REPO)/bench/compare.sh $(REPO)/bench/results/results.csv $(BENCHBIN)/results.csv; \
	 exit $$rc

check: series
	@$(H)/checkpatch.sh $(REPO) $(SRC) $(SERIES)

# Same options as the test kernel but KVM as modules, so that ccache serves
# nearly every object the test kernel already compiled.
MODFRAGS := kvm_gmem.config kvm_gmem_vm.config kvm_gmem_debug.config kvm_gmem_kvm_module.config
config-kvm-module: source
	@$(H)/configure-kernel.sh $(SRC) $(MODKOBJ) $(MODFRAGS)

# The series as mails, and what a reviewer does with them: git am on the
# pristine base and a build after each (KVM built in, as the tests have
# it), then KVM as modules (kvm.ko's exports).
SERIES := $(BUILD)/series
series: source
	@$(H)/series.sh mails $(REPO) $(SRC) $(SERIES)
	@echo "  MAILS   $(SERIES): $$(ls $(SERIES) | wc -l) files"

check-series: series config config-kvm-module
	@$(H)/check-series.sh $(SRC) $(SERIES) $(BUILD)/kernel-check-series $(KOBJ)/.config \
		$(MODKOBJ) $(MODKOBJ)/.config $(KMAKE)

# Commits made in build/linux (git rebase -i, commit --amend) back to
# patches/ and the new files: see the README's "Working on the series".
export:
	@$(H)/series.sh export $(REPO) $(SRC)
	@git -C $(REPO) status --short -- patches $(shell cd $(REPO) && ls -d mm include virt tools/testing/selftests 2>/dev/null)

# Packages for a host (build/deb): the kernel with the series' options on
# x86_64_defconfig (or DEB_CONFIG) and no debug options, KVM as modules;
# and gmem-tests.tar.gz, the test initramfs's files as a folder whose
# `run` runs the tests on that host (see the README).
DEBKOBJ := $(BUILD)/deb-kernel/linux
DEBOUT  := $(BUILD)/deb
deb: deps initramfs
	@GMEM_BASE_CONFIG=$(DEB_CONFIG) $(H)/configure-kernel.sh $(SRC) $(DEBKOBJ) \
		kvm_gmem.config kvm_gmem_deb.config
	@$(H)/build-deb.sh $(REPO) $(SRC) $(DEBKOBJ) $(DEBOUT) $(KMAKE)
	@$(H)/mkinitramfs.sh --tree $(DEBOUT)/gmem-tests $(SELFTESTS)/kvm $(SELFTESTS)/mm \
		$(BENCHBIN) $(GUEST_BZIMAGE) $(GUESTFS)
	@tar -C $(DEBOUT) -czf $(DEBOUT)/gmem-tests.tar.gz gmem-tests
	@echo "  TAR     $(DEBOUT)/gmem-tests.tar.gz"

check-deb: deb qemu
	@$(H)/check-deb.sh $(DEBOUT) $(BUILD)/deb-check

check-kvm-module: config-kvm-module
	@echo "  KERNEL  $(MODKOBJ) (CONFIG_KVM=m, build only)"
	@$(KMAKE) O=$(MODKOBJ) bzImage modules
	@ls $(MODKOBJ)/arch/x86/kvm/kvm.ko $(MODKOBJ)/arch/x86/kvm/kvm-amd.ko >/dev/null
	@echo "  OK      kvm.ko and kvm-amd.ko built"

clean:
	rm -rf $(BUILD)
