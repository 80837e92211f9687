// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_vmm: a small VMM that boots an x86-64 Linux bzImage and initramfs
 * with its RAM in one guest_memfd, and reports what that cost.
 *
 * Backings (-m):
 *   gmem-4k, gmem-2m, gmem-1g   a KVM_X86_SW_PROTECTED_VM whose RAM is one
 *                               guest_memfd (MMAP; HugeTLB 2M or 1G pages)
 *   gmem-thp                    the same on transparent huge pages (2M)
 *   gmem-*-shared               the same, the file created shared
 *                               (GUEST_MEMFD_FLAG_INIT_SHARED) and never
 *                               converted: as a non-confidential VM uses
 *                               guest_memfd
 *   anon, anon-2m, anon-1g      the classic baseline: a default VM whose RAM
 *                               is anonymous memory (MAP_HUGETLB 2M or 1G)
 *
 * guest_memfd RAM is private from the start (but on the -shared backings).
 * The loader converts the pages it must write (boot page tables,
 * boot_params, command line, ACPI tables, kernel, initramfs) to shared,
 * writes them through the file's mmap, and converts them back to private
 * (PRESERVE) before the first instruction: on HugeTLB pages that splits the
 * huge page and merges it again; on THP a 2M range converted whole stays
 * one 2M page, and one converted in part comes as 4K pages, which merge.
 *
 * The machine: one vCPU entered in 64-bit mode at the kernel's 64-bit entry
 * (Documentation/arch/x86/boot.rst), in-kernel irqchip and PIT, a 16550A on
 * COM1 (0x3f8, IRQ 4) echoed to stdout, and ACPI tables (RSDP, RSDT, FADT,
 * FACS, DSDT with \_S5, MADT) whose PM1a control register powers the machine
 * off.  One CPU; interrupts through KVM's IOAPIC.  The CPUID's KVM
 * leaves carry no features, so that the guest does not ask KVM to write its
 * memory (kvmclock, steal time): KVM cannot write private memory.  The TSC
 * frequency is given on the command line (tsc_early_khz): calibrating it
 * against the PIT fails under nested emulation.
 *
 * Report (stdout, after the guest's console): time from start to the
 * guest's first userspace line (the line that contains the -r marker), time
 * spent converting, the split/merge/HVO counters of hugetlb_gmem (or the
 * split/merge ones of thp_gmem), KVM's
 * pages_4k/2m/1g at the end, and the vmemmap the host spends on the guest's
 * RAM.  Times are CLOCK_MONOTONIC: under QEMU -icount they count
 * instructions.  A "csv,boot," line repeats the figures.  With -x, random
 * 4K pages go to shared and back while the guest runs, and "csv,running,"
 * lines give the medians of those that split a huge page and of the others
 * (backing,split|no_split,n,to_shared_ns,to_private_ns); when they are done
 * the guest's console receives a 'q', which ends the guest's
 * gmem_guest.verify workload.
 *
 * Exit status: 0 when the guest reached userspace and powered off, 1 on any
 * failure (with a message naming it), 2 for bad usage.  A guest still
 * running after -t seconds also gets its vCPU's registers, timer and
 * interrupt state printed, to tell a hang from a slow boot.
 *
 * The files, as kvmtool splits a VMM: main.c (options, and the order of it
 * all), ram.c (guest memory and its backings), boot.c (boot image, page
 * tables, ACPI), vcpu.c (the vCPU and its run loop), devices.c (the ports
 * the guest uses), convert.c (-x), report.c (counters, report, -c checks);
 * layout.h is the machine's memory and port map.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "gmem_vmm.h"
#include "layout.h"

const char *bench_prog = "gmem_vmm";

/* What the options ask for, and everything the one run they describe holds. */
struct gmem_vmm {
	const char *kernel, *initrd, *mode;
	char args[CMDLINE_MAX];
	unsigned int limit;
	bool check;
	struct vm vm;
	struct machine m;
	struct converter cv;
	struct samples s;
};

static void usage(void)
{
	size_t i;

	fprintf(stderr,
		"Usage: %s -k BZIMAGE -i INITRAMFS [-m BACKING] [-s MIB] [-a ARGS]\n"
		"          [-r MARKER] [-t SECONDS] [-x N] [-q] [-c]\n"
		"  -m BACKING  guest RAM (default gmem-1g):\n", bench_prog);
	for (i = 0; i < nr_backings; i++)
		fprintf(stderr, "                %-16s %s\n", backings[i].name,
			backings[i].what);
	fprintf(stderr,
		"  -s MIB      guest RAM in MiB (default 1024)\n"
		"  -a ARGS     appended to the guest's kernel command line (repeatable)\n"
		"  -r MARKER   the guest's first userspace line contains it\n"
		"              (default \"gmem-guest: userspace\")\n"
		"  -t SECONDS  time limit (default 600)\n"
		"  -x N        private guest_memfd, with -a gmem_guest.verify=MIB: once the\n"
		"              guest's check runs, convert N random 4K pages to shared\n"
		"              and back, report what that cost, then send 'q' to the\n"
		"              guest's console, which ends the check\n"
		"  -q          do not echo the guest's console\n"
		"  -c          check, for tests: on HugeTLB guest_memfd, loading split\n"
		"              and merged huge pages; on any huge backing, the guest\n"
		"              ran on huge stage-2 mappings of that size\n");
	exit(2);
}

static void parse_args(struct gmem_vmm *g, int argc, char *argv[])
{
	int opt;

	while ((opt = getopt(argc, argv, "k:i:m:s:a:r:t:x:qch")) != -1) {
		switch (opt) {
		case 'k':
			g->kernel = optarg;
			break;
		case 'i':
			g->initrd = optarg;
			break;
		case 'm':
			g->mode = optarg;
			break;
		case 's':
			g->vm.ram = strtoull(optarg, NULL, 0) * MIB;
			break;
		case 'a':
			/* Each -a adds to the command line. */
			if (strlen(g->args) + 1 + strlen(optarg) >= sizeof(g->args))
				die("-a: the guest's command line is too long");
			if (g->args[0])
				strcat(g->args, " ");
			strcat(g->args, optarg);
			break;
		case 'r':
			g->m.marker = optarg;
			break;
		case 't':
			g->limit = strtoul(optarg, NULL, 0);
			break;
		case 'x':
			g->cv.want = strtoul(optarg, NULL, 0);
			if (g->cv.want < 1 || g->cv.want > MAX_ROUND_TRIPS) {
				fprintf(stderr, "%s: -x takes 1 to %d round trips\n",
					bench_prog, MAX_ROUND_TRIPS);
				exit(2);
			}
			break;
		case 'q':
			g->m.quiet = true;
			break;
		case 'c':
			g->check = true;
			break;
		default:
			usage();
		}
	}
	if (!g->kernel || !g->initrd || optind != argc || !*g->m.marker)
		usage();
}

/* What needs the options together; exit status 2, as for bad usage. */
static void check_args(struct gmem_vmm *g)
{
	struct vm *vm = &g->vm;

	vm->b = find_backing(g->mode);
	if (!vm->b) {
		fprintf(stderr, "%s: unknown backing '%s'\n", bench_prog, g->mode);
		usage();
	}
	if (g->cv.want && (!vm->b->gmem || vm->b->shared)) {
		fprintf(stderr, "%s: -x converts guest_memfd RAM, not %s\n",
			bench_prog, vm->b->name);
		exit(2);
	}
	if (!vm->ram || vm->ram % (1ULL << vm->b->page_shift) || vm->ram < 64 * MIB ||
	    vm->ram > 3072 * MIB) {
		fprintf(stderr, "%s: -s must be 64 to 3072 MiB, a multiple of the %s page size\n",
			bench_prog, vm->b->name);
		exit(2);
	}
}

/* The VM, its in-kernel irqchip and PIT, and its RAM; returns the TSC's kHz. */
static int create_vm(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = 0 };
	int tsc_khz;

	vm->kvm = open("/dev/kvm", O_RDWR);
	if (vm->kvm < 0)
		die_errno("/dev/kvm");
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM,
		       vm->b->gmem ? KVM_X86_SW_PROTECTED_VM : KVM_X86_DEFAULT_VM);
	if (vm->fd < 0)
		die("KVM_CREATE_VM(%s): %s", vm->b->gmem ? "KVM_X86_SW_PROTECTED_VM" :
		    "KVM_X86_DEFAULT_VM", strerror(errno));
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL))
		die_errno("KVM_SET_TSS_ADDR");
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP))
		die_errno("KVM_CREATE_IRQCHIP");
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit))
		die_errno("KVM_CREATE_PIT2");
	create_ram(vm);
	tsc_khz = ioctl(vm->fd, KVM_GET_TSC_KHZ);
	if (tsc_khz <= 0)
		die_errno("KVM_GET_TSC_KHZ");
	return tsc_khz;
}

/*
 * Everything up to the first instruction, timed from the start: the VM,
 * the guest loaded and its RAM private again, its vCPU.  Returns the vCPU.
 */
static int setup(struct gmem_vmm *g, struct kvm_run **run)
{
	char cmdline[CMDLINE_MAX];
	struct boot boot;
	int tsc_khz;

	check_pool(g->vm.b, g->vm.ram);
	read_counters(&g->s.c0);
	g->m.vm = &g->vm;
	g->m.start_ns = now_ns();

	tsc_khz = create_vm(&g->vm);
	if (snprintf(cmdline, sizeof(cmdline),
		     "console=ttyS0 panic=-1 pci=off reboot=k tsc_early_khz=%d %s",
		     tsc_khz, g->args) >= (int)sizeof(cmdline))
		die("-a: the guest's command line is too long");

	load_linux(&g->vm, g->kernel, g->initrd, cmdline, &boot);
	read_counters(&g->s.c1);
	seal_ranges(&g->vm);
	read_counters(&g->s.c2);
	g->s.t_loaded = now_ns();

	return create_vcpu(&g->vm, &boot, run);
}

/* Runs the guest to its power off, with -x's conversions beside it. */
static void run_guest(struct gmem_vmm *g, int vcpu, struct kvm_run *run_state)
{
	converter_start(&g->cv);
	run(&g->m, vcpu, run_state, g->limit);
	converter_stop(&g->cv);
	read_vm_stats(g->vm.fd, g->s.pages);
	read_counters(&g->s.c3);
	if (!g->m.userspace_ns)
		die("the guest powered off without printing \"%s\"", g->m.marker);
}

int main(int argc, char *argv[])
{
	struct gmem_vmm g = {
		.mode = "gmem-1g",
		.limit = 600,
		.vm = { .ram = 1024 * MIB },
		.m = { .marker = "gmem-guest: userspace" },
	};
	struct kvm_run *run_state;
	int vcpu;

	g.cv.vm = &g.vm;
	g.cv.m = &g.m;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	parse_args(&g, argc, argv);
	check_args(&g);
	vcpu = setup(&g, &run_state);
	run_guest(&g, vcpu, run_state);
	print_report(&g.vm, &g.m, &g.cv, &g.s);
	return g.check ? check_run(&g.vm, &g.m, &g.cv, &g.s) : 0;
}
