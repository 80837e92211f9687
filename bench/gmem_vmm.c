// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_vmm: a small VMM that boots an x86-64 Linux bzImage and initramfs
 * with its RAM in one guest_memfd, and reports what that cost.
 *
 * Backings (-m):
 *   gmem-4k, gmem-2m, gmem-1g   a KVM_X86_SW_PROTECTED_VM whose RAM is one
 *                               guest_memfd (MMAP; HugeTLB 2M or 1G pages)
 *   gmem-thp                    the same on transparent huge pages (2M)
 *   anon, anon-2m, anon-1g      the classic baseline: a default VM whose RAM
 *                               is anonymous memory (MAP_HUGETLB 2M or 1G)
 *
 * guest_memfd RAM is private from the start.  The loader converts the pages
 * it must write (boot page tables, boot_params, command line, ACPI tables,
 * kernel, initramfs) to shared, writes them through the file's mmap, and
 * converts them back to private (PRESERVE) before the first instruction: on
 * HugeTLB pages that splits the huge page and merges it again; on THP the
 * host's first write gets a 2M page as 4K pages, which then merge.
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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/kvm.h>

#include "bench_util.h"

const char *bench_prog = "gmem_vmm";

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << MAP_HUGE_SHIFT)
#define MAP_HUGE_1GB	(30 << MAP_HUGE_SHIFT)
#endif

#define PAGE		4096ULL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIB		0x100000ULL

/* Guest physical layout (below 1 MiB, then the kernel at 1 MiB). */
#define GDT_GPA		0x1000ULL
#define PML4_GPA	0x2000ULL
#define PDPT_GPA	0x3000ULL
#define PD_GPA		0x4000ULL	/* 4 pages: the first 4 GiB in 2M pages */
#define ZEROPAGE_GPA	0x10000ULL
#define CMDLINE_GPA	0x20000ULL
#define CMDLINE_MAX	0x1000ULL
#define EBDA_GPA	0x9fc00ULL
#define ACPI_GPA	0xe0000ULL
#define KERNEL_GPA	0x100000ULL

/* Ports the VMM emulates. */
#define COM1		0x3f8
#define COM1_IRQ	4
#define PM1A_EVT	0x600	/* 4 bytes: status, enable */
#define PM1A_CNT	0x604	/* 2 bytes */
#define PM_TMR		0x608	/* 4 bytes, 3.579545 MHz */
#define SCI_IRQ		9
#define I8042_CMD	0x64
#define RTC_INDEX	0x70
#define RTC_DATA	0x71

/* The setup header inside the bzImage, and where boot_params keeps it. */
#define HDR_OFFSET	0x1f1
#define BP_ACPI_RSDP	0x070
#define BP_E820_ENTRIES	0x1e8
#define BP_E820_TABLE	0x2d0
#define E820_RAM	1
#define E820_RESERVED	2

static void *read_file(const char *path, size_t *size)
{
	struct stat st;
	void *buf;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || read(fd, buf, st.st_size) != st.st_size)
		die("%s: cannot read it", path);
	close(fd);
	*size = st.st_size;
	return buf;
}

/* --- backings ------------------------------------------------------------ */

struct backing {
	const char *name;
	bool gmem;
	unsigned int page_shift;	/* 12, 21 or 30 */
	const char *what;
	bool thp;			/* THP, not HugeTLB, pages */
};

static const struct backing backings[] = {
	{ "gmem-4k", true,  12, "guest_memfd, 4K pages" },
	{ "gmem-2m", true,  21, "guest_memfd, HugeTLB 2M pages" },
	{ "gmem-1g", true,  30, "guest_memfd, HugeTLB 1G pages" },
	{ "gmem-thp", true, 21, "guest_memfd, transparent huge pages (2M)", true },
	{ "anon",    false, 12, "anonymous memory, 4K pages" },
	{ "anon-2m", false, 21, "anonymous memory, HugeTLB 2M pages" },
	{ "anon-1g", false, 30, "anonymous memory, HugeTLB 1G pages" },
};

struct vm {
	const struct backing *b;
	uint64_t ram;
	int kvm, fd, gmem;
	char *mem;
	/* Loaded ranges, converted to shared and back on guest_memfd. */
	struct { uint64_t gpa, size; } ranges[8];
	int nr_ranges;
	uint64_t convert_ns, conversions;
};

/* Free pages of the pool with pages of 1 << @shift, or -1 if none. */
static long pool_free(unsigned int shift)
{
	char path[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
		 (1ULL << shift) >> 10);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static void check_pool(const struct backing *b, uint64_t ram)
{
	long need = ram >> b->page_shift, have;

	if (b->page_shift == 12 || b->thp)
		return;
	have = pool_free(b->page_shift);
	if (have < 0)
		die("backing %s: the host has no %lluM HugeTLB pool (boot with hugepagesz=%s hugepages=N, or hugeadm --pool-pages-min)",
		    b->name, (1ULL << b->page_shift) / MIB,
		    b->page_shift == 30 ? "1G" : "2M");
	if (have < need)
		die("backing %s: the %lluM HugeTLB pool has %ld free pages, the guest's %llu MiB need %ld (hugeadm --pool-pages-min %s:+%ld)",
		    b->name, (1ULL << b->page_shift) / MIB, have,
		    (unsigned long long)(ram / MIB), need,
		    b->page_shift == 30 ? "1G" : "2M", need - have);
}

/*
 * Convert in place, keeping the contents; returns the time it took.  EAGAIN
 * (a page held for a moment, as by a vCPU's fault on it) is retried for up
 * to 10 s.
 */
static uint64_t set_private(struct vm *vm, uint64_t gpa, uint64_t size, bool private)
{
	struct kvm_memory_attributes2 attr = {
		.offset = gpa,
		.size = size,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};
	uint64_t t = now_ns();

	while (ioctl(vm->gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr)) {
		if (errno == EAGAIN && now_ns() - t < 10000000000ULL) {
			usleep(100);
			continue;
		}
		die("KVM_SET_MEMORY_ATTRIBUTES2 [%#llx, +%#llx) to %s: %s (error_offset %#llx)",
		    (unsigned long long)gpa, (unsigned long long)size,
		    private ? "private" : "shared", strerror(errno),
		    (unsigned long long)attr.error_offset);
	}
	return now_ns() - t;
}

/* The loader's conversions, counted for the report. */
static void convert(struct vm *vm, uint64_t gpa, uint64_t size, bool private)
{
	vm->convert_ns += set_private(vm, gpa, size, private);
	vm->conversions++;
}

/*
 * An address for the RAM aligned to its page size: KVM maps a huge page
 * only where guest and host addresses are aligned alike.
 */
static void *aligned_hole(uint64_t size, unsigned int shift)
{
	uint64_t align = 1ULL << shift;
	char *p = mmap(NULL, size + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t start;

	if (p == MAP_FAILED)
		die_errno("mmap of an address range for guest RAM");
	start = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (start > (uintptr_t)p)
		munmap(p, start - (uintptr_t)p);
	munmap((void *)(start + size), (uintptr_t)p + align - start);
	return (void *)start;
}

static void create_ram(struct vm *vm)
{
	const struct backing *b = vm->b;
	struct kvm_userspace_memory_region2 region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->ram,
	};

	if (b->gmem) {
		struct kvm_create_guest_memfd gmem = {
			.size = vm->ram,
			.flags = GUEST_MEMFD_FLAG_MMAP,
		};

		if (b->page_shift != 12) {
			if (!b->thp)
				gmem.flags |= GUEST_MEMFD_FLAG_HUGETLB;
			gmem.huge_page_size_log2 = b->page_shift;
		}
		vm->gmem = ioctl(vm->fd, KVM_CREATE_GUEST_MEMFD, &gmem);
		if (vm->gmem < 0)
			die_errno("KVM_CREATE_GUEST_MEMFD");
		vm->mem = mmap(aligned_hole(vm->ram, b->page_shift), vm->ram,
			       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       vm->gmem, 0);
		region.flags = KVM_MEM_GUEST_MEMFD;
		region.guest_memfd = vm->gmem;
	} else {
		int flags = MAP_PRIVATE | MAP_ANONYMOUS;

		if (b->page_shift == 21)
			flags |= MAP_HUGETLB | MAP_HUGE_2MB;
		else if (b->page_shift == 30)
			flags |= MAP_HUGETLB | MAP_HUGE_1GB;
		vm->gmem = -1;
		vm->mem = mmap(aligned_hole(vm->ram, b->page_shift), vm->ram,
			       PROT_READ | PROT_WRITE, flags | MAP_FIXED, -1, 0);
	}
	if (vm->mem == MAP_FAILED)
		die_errno("mmap of guest RAM");
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION2, &region))
		die_errno("KVM_SET_USER_MEMORY_REGION2");
}

/* Make [gpa, gpa + size) writable by the loader: shared, on guest_memfd. */
static void *load_range(struct vm *vm, uint64_t gpa, uint64_t size)
{
	uint64_t start = gpa & ~(PAGE - 1);
	uint64_t end = (gpa + size + PAGE - 1) & ~(PAGE - 1);

	if (end > vm->ram)
		die("the image does not fit: [%#llx, %#llx) is past the guest's %llu MiB of RAM (-s)",
		    (unsigned long long)gpa, (unsigned long long)(gpa + size),
		    (unsigned long long)(vm->ram / MIB));
	if (vm->nr_ranges == (int)ARRAY_SIZE(vm->ranges))
		die("too many load ranges");
	vm->ranges[vm->nr_ranges].gpa = start;
	vm->ranges[vm->nr_ranges].size = end - start;
	vm->nr_ranges++;
	if (vm->b->gmem)
		convert(vm, start, end - start, false);
	return vm->mem + gpa;
}

/* --- hugetlb_gmem, thp_gmem and vmstat counters ------------------------- */

struct counters {
	long long splits, merges, restores, optimizes, memmap_pages;
};

/* Splits and merges of both kinds of huge page: a VM uses one. */
static void read_counters(struct counters *c)
{
	static const char * const stats[] = {
		"/sys/kernel/debug/hugetlb_gmem/stats",
		"/sys/kernel/debug/thp_gmem/stats",
	};
	char name[64];
	long long v;
	size_t i;
	FILE *f;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < ARRAY_SIZE(stats); i++) {
		f = fopen(stats[i], "r");
		if (!f)
			continue;
		while (fscanf(f, "%63s %lld", name, &v) == 2) {
			if (!strcmp(name, "splits"))
				c->splits += v;
			else if (!strcmp(name, "merges"))
				c->merges += v;
			else if (!strcmp(name, "vmemmap_restores"))
				c->restores = v;
			else if (!strcmp(name, "vmemmap_optimizes"))
				c->optimizes = v;
		}
		fclose(f);
	}
	f = fopen("/proc/vmstat", "r");
	if (f) {
		while (fscanf(f, "%63s %lld", name, &v) == 2)
			if (!strcmp(name, "nr_memmap_pages") ||
			    !strcmp(name, "nr_memmap_boot_pages"))
				c->memmap_pages += v;
		fclose(f);
	}
}

/* KVM's binary statistics of the VM: pages_4k, pages_2m, pages_1g. */
static void read_vm_stats(int vm_fd, uint64_t pages[3])
{
	static const char * const names[3] = { "pages_4k", "pages_2m", "pages_1g" };
	struct kvm_stats_header hdr;
	struct kvm_stats_desc *desc;
	size_t desc_size;
	uint32_t i;
	int fd, j;

	memset(pages, 0, 3 * sizeof(pages[0]));
	fd = ioctl(vm_fd, KVM_GET_STATS_FD, NULL);
	if (fd < 0)
		die_errno("KVM_GET_STATS_FD");
	if (pread(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
		die_errno("reading the VM's stats header");
	desc_size = sizeof(*desc) + hdr.name_size;
	desc = malloc(desc_size * hdr.num_desc);
	if (!desc || pread(fd, desc, desc_size * hdr.num_desc, hdr.desc_offset) !=
		     (ssize_t)(desc_size * hdr.num_desc))
		die_errno("reading the VM's stats descriptors");
	for (i = 0; i < hdr.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)((char *)desc + i * desc_size);

		for (j = 0; j < 3; j++)
			if (!strcmp(d->name, names[j]) &&
			    pread(fd, &pages[j], sizeof(pages[j]),
				  hdr.data_offset + d->offset) != sizeof(pages[j]))
				die_errno("reading the VM's stats");
	}
	free(desc);
	close(fd);
}

/* --- boot image ----------------------------------------------------------- */

static void put_e820(uint8_t *bp, int i, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *e = bp + BP_E820_TABLE + i * 20;

	memcpy(e, &addr, 8);
	memcpy(e + 8, &size, 8);
	memcpy(e + 16, &type, 4);
	bp[BP_E820_ENTRIES] = i + 1;
}

static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum += *b++;
	return -sum;
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	memcpy(t + 4, &len, 4);
	t[8] = rev;
	memcpy(t + 10, "GMEMVM", 6);
	memcpy(t + 16, "GMEMVMM ", 8);
	t[24] = 1;			/* OEM revision */
	memcpy(t + 28, "GMEM", 4);	/* creator */
	t[32] = 1;
	t[9] = checksum(t, len);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/*
 * RSDP -> RSDT -> FADT (ACPI 1.0 layout) -> FACS, DSDT; and MADT.  The DSDT
 * holds only Name(_S5, Package() {0, 0, 0, 0}), which is what the guest
 * needs to power off through PM1a_CNT.
 */
static void build_acpi(uint8_t *base)
{
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04,
				      0x00, 0x00, 0x00, 0x00 };
	uint8_t *rsdp = base, *rsdt = base + 0x40, *fadt = base + 0x80;
	uint8_t *facs = base + 0x140, *dsdt = base + 0x180, *madt = base + 0x200;

	memset(base, 0, 0x300);

	/* One local APIC, and KVM's IOAPIC with GSI n on pin n. */
	put32(madt + 36, 0xfee00000);
	put32(madt + 40, 1);			/* PCAT_COMPAT: there are 8259s */
	madt[44] = 0;				/* processor local APIC */
	madt[45] = 8;
	put32(madt + 48, 1);			/* enabled */
	madt[52] = 1;				/* I/O APIC */
	madt[53] = 12;
	put32(madt + 56, 0xfec00000);
	acpi_header(madt, "APIC", 64, 3);
	memcpy(facs, "FACS", 4);
	put32(facs + 4, 64);

	memcpy(dsdt + 36, s5, sizeof(s5));
	acpi_header(dsdt, "DSDT", 36 + sizeof(s5), 2);

	put32(fadt + 36, ACPI_GPA + 0x140);	/* FACS */
	put32(fadt + 40, ACPI_GPA + 0x180);	/* DSDT */
	put16(fadt + 46, SCI_IRQ);
	put32(fadt + 56, PM1A_EVT);
	put32(fadt + 64, PM1A_CNT);
	put32(fadt + 76, PM_TMR);
	fadt[88] = 4;				/* PM1_EVT_LEN */
	fadt[89] = 2;				/* PM1_CNT_LEN */
	fadt[91] = 4;				/* PM_TMR_LEN */
	put32(fadt + 112, 0x31);		/* WBINVD; no power, sleep buttons */
	acpi_header(fadt, "FACP", 116, 1);

	put32(rsdt + 36, ACPI_GPA + 0x80);
	put32(rsdt + 40, ACPI_GPA + 0x200);
	acpi_header(rsdt, "RSDT", 44, 1);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "GMEMVM", 6);
	put32(rsdp + 16, ACPI_GPA + 0x40);
	rsdp[8] = checksum(rsdp, 20);
}

struct boot {
	uint64_t entry, zeropage;
};

static void load_linux(struct vm *vm, const char *kernel_path,
		       const char *initrd_path, const char *cmdline,
		       struct boot *boot)
{
	size_t ksize, isize, setup_size, hdr_end;
	uint8_t *kernel, *bp, *initrd;
	uint64_t *pml4, *pdpt, *pd, *gdt;
	uint64_t initrd_gpa, initrd_max;
	uint32_t init_size;
	uint8_t *low;
	int i;

	kernel = read_file(kernel_path, &ksize);
	if (ksize < 0x1000 || memcmp(kernel + 0x202, "HdrS", 4))
		die("%s: not a bzImage (no \"HdrS\" setup header)", kernel_path);
	if (*(uint16_t *)(kernel + 0x206) < 0x20c ||
	    !(*(uint16_t *)(kernel + 0x236) & 1))
		die("%s: the kernel has no 64-bit entry point (boot protocol 2.12+, XLF_KERNEL_64)",
		    kernel_path);
	setup_size = ((kernel[HDR_OFFSET] ? kernel[HDR_OFFSET] : 4) + 1) * 512;
	if (setup_size >= ksize)
		die("%s: truncated bzImage", kernel_path);
	init_size = *(uint32_t *)(kernel + 0x260);
	initrd = read_file(initrd_path, &isize);
	if (strlen(cmdline) >= CMDLINE_MAX)
		die("kernel command line too long");

	/* Low memory: GDT, page tables, boot_params, command line, ACPI. */
	low = load_range(vm, 0, KERNEL_GPA);
	memset(low, 0, KERNEL_GPA);

	gdt = (uint64_t *)(low + GDT_GPA);
	gdt[2] = 0x00af9a000000ffffULL;		/* 0x10: 64-bit code */
	gdt[3] = 0x00cf92000000ffffULL;		/* 0x18: data */

	pml4 = (uint64_t *)(low + PML4_GPA);
	pdpt = (uint64_t *)(low + PDPT_GPA);
	pd = (uint64_t *)(low + PD_GPA);
	pml4[0] = PDPT_GPA | 3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (PD_GPA + i * PAGE) | 3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;	/* present, writable, 2M */

	build_acpi(low + ACPI_GPA);

	bp = low + ZEROPAGE_GPA;
	hdr_end = 0x202 + kernel[0x201];
	memcpy(bp + HDR_OFFSET, kernel + HDR_OFFSET, hdr_end - HDR_OFFSET);
	bp[0x210] = 0xff;				/* type_of_loader: other */
	bp[0x211] |= 0x01 | 0x80;			/* LOADED_HIGH, CAN_USE_HEAP */
	put16(bp + 0x224, 0xfe00);			/* heap_end_ptr */
	put32(bp + 0x228, CMDLINE_GPA);
	memcpy(bp + BP_ACPI_RSDP, &(uint64_t){ ACPI_GPA }, 8);
	memcpy(low + CMDLINE_GPA, cmdline, strlen(cmdline) + 1);

	put_e820(bp, 0, 0, EBDA_GPA, E820_RAM);
	put_e820(bp, 1, EBDA_GPA, KERNEL_GPA - EBDA_GPA, E820_RESERVED);
	put_e820(bp, 2, KERNEL_GPA, vm->ram - KERNEL_GPA, E820_RAM);

	/* The protected-mode kernel at 1 MiB, with room to decompress. */
	if (KERNEL_GPA + (init_size > ksize ? init_size : ksize) > vm->ram)
		die("%s needs %u bytes at 1 MiB: give the guest more RAM (-s)",
		    kernel_path, init_size);
	memcpy(load_range(vm, KERNEL_GPA, ksize - setup_size),
	       kernel + setup_size, ksize - setup_size);

	/* The initramfs as high as the kernel accepts it. */
	initrd_max = *(uint32_t *)(kernel + 0x22c);
	if (initrd_max > vm->ram - 1)
		initrd_max = vm->ram - 1;
	initrd_gpa = (initrd_max + 1 - isize) & ~(2 * MIB - 1);
	if (initrd_gpa < KERNEL_GPA + init_size)
		die("%s (%zu bytes) does not fit beside the kernel: give the guest more RAM (-s)",
		    initrd_path, isize);
	memcpy(load_range(vm, initrd_gpa, isize), initrd, isize);
	put32(bp + 0x218, initrd_gpa);
	put32(bp + 0x21c, isize);

	free(kernel);
	free(initrd);
	boot->entry = KERNEL_GPA + 0x200;
	boot->zeropage = ZEROPAGE_GPA;
}

/* Back to private, PRESERVE: on HugeTLB pages the last one merges. */
static void seal_ranges(struct vm *vm)
{
	int i;

	if (!vm->b->gmem)
		return;
	for (i = 0; i < vm->nr_ranges; i++)
		convert(vm, vm->ranges[i].gpa, vm->ranges[i].size, true);
}

/* --- vCPU ----------------------------------------------------------------- */

static void set_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int n = 256, i;

	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	if (!cpuid)
		die("out of memory");
	cpuid->nent = n;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid))
		die_errno("KVM_GET_SUPPORTED_CPUID");
	for (i = 0; i < (int)cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		/* KVM signature without PV features: no kvmclock etc. */
		if (e->function == 0x40000001)
			memset(&e->eax, 0, 4 * sizeof(e->eax));
		/* No nested SVM for the guest. */
		if (e->function == 0x80000001)
			e->ecx &= ~(1U << 2);
		/*
		 * The APIC ID is the vCPU's (0), not that of the host CPU
		 * that answered KVM_GET_SUPPORTED_CPUID.
		 */
		if (e->function == 1)
			e->ebx &= 0x00ffffff;
		if (e->function == 0xb || e->function == 0x1f)
			e->edx = 0;
	}
	if (ioctl(vcpu, KVM_SET_CPUID2, cpuid))
		die_errno("KVM_SET_CPUID2");
	free(cpuid);
}

static void setup_vcpu(struct vm *vm, int vcpu, const struct boot *boot)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
		.present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x18, .type = 0x3,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = boot->entry, .rsi = boot->zeropage, .rflags = 2,
	};

	set_cpuid(vm->kvm, vcpu);

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		die_errno("KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = data;
	sregs.es = data;
	sregs.fs = data;
	sregs.gs = data;
	sregs.ss = data;
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1 << 5;				/* PAE */
	sregs.cr0 = (1U << 31) | (1 << 4) | 1;		/* PG, ET, PE */
	sregs.efer = (1 << 10) | (1 << 8);		/* LMA, LME */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs))
		die_errno("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		die_errno("KVM_SET_REGS");
}

/* --- devices -------------------------------------------------------------- */

struct uart {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_empty_irq, irq_level;
	bool rx_ready;		/* one byte to receive, in rx */
	uint8_t rx;
};

struct machine {
	struct vm *vm;
	struct uart com1;
	uint64_t start_ns, userspace_ns;
	const char *marker;
	size_t marker_seen;
	uint8_t rtc_index;
	bool quiet, powered_off, reset;
	/* -x: once *done_converting, the guest receives 'q' on COM1, once. */
	const bool *done_converting;
	bool sent_q;
	bool verify_started;	/* the guest printed VERIFY_STARTED */
	uint64_t nr_exits, last_exit_ns;	/* for dump_vcpu() */
	char line[160];
	size_t line_len;
	/* The guest's "gmem-guest: result ..." lines, for the report. */
	char results[8][160];
	int nr_results;
};

static void irq_line(struct machine *m, int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(m->vm->fd, KVM_IRQ_LINE, &l))
		die_errno("KVM_IRQ_LINE");
}

static void uart_update_irq(struct machine *m)
{
	struct uart *u = &m->com1;
	bool level = ((u->ier & 0x01) && u->rx_ready) ||
		     ((u->ier & 0x02) && u->thr_empty_irq);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line(m, COM1_IRQ, level);
	}
}

#define RESULT_PREFIX "gmem-guest: result "
#define VERIFY_STARTED "gmem-guest: verify: started"

static void console_line(struct machine *m)
{
	size_t n = strlen(RESULT_PREFIX);

	m->line[m->line_len] = 0;
	if (!strcmp(m->line, VERIFY_STARTED))
		__atomic_store_n(&m->verify_started, true, __ATOMIC_RELEASE);
	if (m->line_len > n && !strncmp(m->line, RESULT_PREFIX, n) &&
	    m->nr_results < (int)ARRAY_SIZE(m->results))
		snprintf(m->results[m->nr_results++], sizeof(m->results[0]), "%s", m->line + n);
	m->line_len = 0;
}

static void console_char(struct machine *m, char c)
{
	if (!m->quiet)
		putchar(c);
	if (c == '\n') {
		fflush(stdout);
		console_line(m);
	} else if (c != '\r' && m->line_len < sizeof(m->line) - 1) {
		m->line[m->line_len++] = c;
	}
	if (m->userspace_ns)
		return;
	/* The first line that holds the marker is the first userspace line. */
	if (c == m->marker[m->marker_seen]) {
		if (!m->marker[++m->marker_seen])
			__atomic_store_n(&m->userspace_ns, now_ns(), __ATOMIC_RELEASE);
	} else {
		m->marker_seen = c == m->marker[0];
	}
}

static uint8_t uart_in(struct machine *m, int reg)
{
	struct uart *u = &m->com1;
	bool dlab = u->lcr & 0x80;
	uint8_t v;

	switch (reg) {
	case 0:
		if (dlab)
			return u->dll;
		u->rx_ready = false;
		return u->rx;
	case 1:
		return dlab ? u->dlm : u->ier;
	case 2:
		v = (u->fcr & 1) ? 0xc0 : 0;
		if ((u->ier & 0x01) && u->rx_ready) {
			v |= 0x04;			/* received data */
		} else if ((u->ier & 0x02) && u->thr_empty_irq) {
			u->thr_empty_irq = false;	/* reading IIR clears it */
			v |= 0x02;
		} else {
			v |= 0x01;			/* no interrupt pending */
		}
		return v;
	case 3:
		return u->lcr;
	case 4:
		return u->mcr;
	case 5:
		return 0x60 | u->rx_ready;		/* THR and line empty */
	case 6:
		if (u->mcr & 0x10)			/* loopback */
			return ((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) |
			       ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4);
		return 0xb0;				/* DCD, DSR, CTS */
	default:
		return u->scr;
	}
}

static void uart_out(struct machine *m, int reg, uint8_t v)
{
	struct uart *u = &m->com1;
	bool dlab = u->lcr & 0x80;

	switch (reg) {
	case 0:
		if (dlab) {
			u->dll = v;
		} else {
			console_char(m, v);
			u->thr_empty_irq = true;	/* sent at once */
		}
		break;
	case 1:
		if (dlab) {
			u->dlm = v;
		} else {
			if ((v & 0x02) && !(u->ier & 0x02))
				u->thr_empty_irq = true;
			u->ier = v & 0x0f;
		}
		break;
	case 2:
		u->fcr = v;
		break;
	case 3:
		u->lcr = v;
		break;
	case 4:
		u->mcr = v & 0x1f;
		break;
	case 7:
		u->scr = v;
		break;
	}
}

/*
 * The CMOS clock, read-only: the host's UTC time in BCD, never updating
 * (UIP clear), so that the guest does not wait for it.
 */
static uint8_t rtc_read(uint8_t index)
{
	time_t t = time(NULL);
	struct tm tm;
	int v;

	gmtime_r(&t, &tm);
	switch (index) {
	case 0x00:
		v = tm.tm_sec;
		break;
	case 0x02:
		v = tm.tm_min;
		break;
	case 0x04:
		v = tm.tm_hour;
		break;
	case 0x06:
		v = tm.tm_wday + 1;
		break;
	case 0x07:
		v = tm.tm_mday;
		break;
	case 0x08:
		v = tm.tm_mon + 1;
		break;
	case 0x09:
		v = tm.tm_year % 100;
		break;
	case 0x32:			/* century */
		v = 19 + tm.tm_year / 100;
		break;
	case 0x0a: /* 32.768 kHz, 1024 Hz, UIP clear */
		return 0x26;
	case 0x0b: /* 24 hours, BCD */
		return 0x02;
	case 0x0d: /* time valid */
		return 0x80;
	default:
		return 0;
	}
	return ((v / 10) << 4) | (v % 10);
}

/* The ACPI PM timer: 24 bits at 3.579545 MHz. */
static uint32_t pm_timer(struct machine *m)
{
	return (uint32_t)((now_ns() - m->start_ns) * 3579545 / 1000000000ULL) & 0xffffff;
}

static void handle_io(struct machine *m, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i, v;

	for (i = 0; i < run->io.count; i++, data += run->io.size) {
		uint16_t port = run->io.port;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			v = 0;
			memcpy(&v, data, run->io.size);
			if (port >= COM1 && port < COM1 + 8)
				uart_out(m, port - COM1, v);
			else if (port == PM1A_CNT && (v & (1 << 13)))
				m->powered_off = true;	/* SLP_EN: S5 */
			else if (port == RTC_INDEX)
				m->rtc_index = v & 0x7f;
			else if (port == I8042_CMD && v == 0xfe)
				m->reset = true;	/* keyboard controller reset */
			continue;
		}
		if (port >= COM1 && port < COM1 + 8)
			v = uart_in(m, port - COM1);
		else if (port == PM1A_CNT)
			v = 1;				/* SCI_EN: in ACPI mode */
		else if (port >= PM1A_EVT && port < PM1A_EVT + 4)
			v = 0;
		else if (port == PM_TMR)
			v = pm_timer(m);
		else if (port == RTC_DATA)
			v = rtc_read(m->rtc_index);
		else
			v = 0xffffffff;			/* nothing there */
		memcpy(data, &v, run->io.size);
	}
	if (run->io.port >= COM1 && run->io.port < COM1 + 8)
		uart_update_irq(m);
}

/* --- converting while the guest runs (-x) -------------------------------- */

#define MAX_ROUND_TRIPS 256

/*
 * What a VMM does when its guest shares a page with it and takes it back
 * again: once the guest's gmem_guest.verify workload has started, random
 * 4K pages of its RAM go to shared and straight back to private (PRESERVE)
 * while the vCPU runs.  A software-protected guest that touches such a
 * page meanwhile sees the same bytes; KVM zaps the page's stage-2 mapping
 * both times, and on HugeTLB pages a round trip that hits a huge page the
 * guest has used splits it and merges it again.
 */
struct converter {
	struct vm *vm;
	struct machine *m;
	pthread_t thread, vcpu_thread;
	int want, done;
	bool stop;		/* set by main, read by the thread */
	bool finished;		/* set by the thread after @want round trips */
	/* The round trips that split a huge page, and the others. */
	struct round_trips {
		uint64_t to_shared[MAX_ROUND_TRIPS], to_private[MAX_ROUND_TRIPS];
		int n;
	} split, no_split;
};

static void *converter_thread(void *arg)
{
	struct converter *cv = arg;
	uint64_t seed = 1, gpa, shared, private;
	struct counters before, after;
	struct round_trips *rt;

	while (!__atomic_load_n(&cv->m->verify_started, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&cv->stop, __ATOMIC_ACQUIRE))
			return NULL;
		usleep(1000);
	}
	while (cv->done < cv->want && !__atomic_load_n(&cv->stop, __ATOMIC_ACQUIRE)) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		gpa = ((seed >> 33) % (cv->vm->ram / PAGE)) * PAGE;
		read_counters(&before);
		shared = set_private(cv->vm, gpa, PAGE, false);
		private = set_private(cv->vm, gpa, PAGE, true);
		read_counters(&after);
		rt = after.splits != before.splits ? &cv->split : &cv->no_split;
		rt->to_shared[rt->n] = shared;
		rt->to_private[rt->n++] = private;
		cv->done++;
		usleep(1000);
	}
	if (cv->done < cv->want)
		return NULL;
	__atomic_store_n(&cv->finished, true, __ATOMIC_RELEASE);
	/* The vCPU may run without exits for long: make it look. */
	while (!__atomic_load_n(&cv->m->sent_q, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&cv->stop, __ATOMIC_ACQUIRE)) {
		pthread_kill(cv->vcpu_thread, SIGUSR1);
		usleep(10000);
	}
	return NULL;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Medians; a "csv,running," line: backing,kind,n,to_shared_ns,to_private_ns. */
static void report_round_trips(const char *backing, const char *kind,
			       struct round_trips *rt)
{
	uint64_t shared, private;

	if (!rt->n)
		return;
	shared = median(rt->to_shared, rt->n);
	private = median(rt->to_private, rt->n);
	printf("#     %-8s %3d of them, medians: to shared %.3f ms, to private %.3f ms\n",
	       kind, rt->n, shared / 1e6, private / 1e6);
	printf("csv,running,%s,%s,%d,%llu,%llu\n", backing, kind, rt->n,
	       (unsigned long long)shared, (unsigned long long)private);
}

static volatile sig_atomic_t timed_out;

static uint32_t lapic_reg(const struct kvm_lapic_state *l, int off)
{
	uint32_t v;

	memcpy(&v, l->regs + off, sizeof(v));
	return v;
}

/*
 * A guest that does not power off in time: say where its vCPU is and what
 * its timer and interrupt state is, so that a hang can be told apart from a
 * slow boot, and a lost timer interrupt from a guest spinning on its own.
 */
static void dump_vcpu(struct machine *m, int vcpu)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} msrs = { .hdr.nmsrs = 2, .e = { { .index = 0x10 }, { .index = 0x6e0 } } };
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	int i;

	if (m->nr_exits)
		fprintf(stderr, "%s: %llu exits to userspace, the last %.3f s ago\n",
			bench_prog, (unsigned long long)m->nr_exits,
			(now_ns() - m->last_exit_ns) / 1e9);
	else
		fprintf(stderr, "%s: no exit to userspace\n", bench_prog);
	if (!ioctl(vcpu, KVM_GET_REGS, &regs))
		fprintf(stderr, "%s: vCPU rip %#llx rsp %#llx rflags %#llx\n",
			bench_prog, (unsigned long long)regs.rip,
			(unsigned long long)regs.rsp, (unsigned long long)regs.rflags);
	if (!ioctl(vcpu, KVM_GET_MP_STATE, &mp) && !ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev))
		fprintf(stderr, "%s: mp_state %u, interrupt injected %u nr %u shadow %u, nmi pending %u\n",
			bench_prog, mp.mp_state, ev.interrupt.injected, ev.interrupt.nr,
			ev.interrupt.shadow, ev.nmi.pending);
	if (ioctl(vcpu, KVM_GET_MSRS, &msrs) == 2)
		fprintf(stderr, "%s: TSC %#llx, TSC_DEADLINE %#llx\n", bench_prog,
			(unsigned long long)msrs.e[0].data,
			(unsigned long long)msrs.e[1].data);
	if (ioctl(vcpu, KVM_GET_LAPIC, &lapic))
		return;
	fprintf(stderr, "%s: LAPIC SVR %#x TPR %#x LVTT %#x TMICT %#x TMCCT %#x TDCR %#x\n",
		bench_prog, lapic_reg(&lapic, 0xf0), lapic_reg(&lapic, 0x80),
		lapic_reg(&lapic, 0x320), lapic_reg(&lapic, 0x380),
		lapic_reg(&lapic, 0x390), lapic_reg(&lapic, 0x3e0));
	fprintf(stderr, "%s: LAPIC ISR", bench_prog);
	for (i = 7; i >= 0; i--)
		fprintf(stderr, " %08x", lapic_reg(&lapic, 0x100 + 0x10 * i));
	fprintf(stderr, "\n%s: LAPIC IRR", bench_prog);
	for (i = 7; i >= 0; i--)
		fprintf(stderr, " %08x", lapic_reg(&lapic, 0x200 + 0x10 * i));
	fputc('\n', stderr);
}

static struct kvm_run *alarm_run;

/*
 * The alarm may come while the vCPU thread is out of KVM_RUN (handling a
 * port write): immediate_exit makes the next KVM_RUN return EINTR at once.
 */
static void on_alarm(int sig)
{
	timed_out = 1;
	alarm_run->immediate_exit = 1;
}

/* SIGUSR1 only makes KVM_RUN return, with EINTR. */
static void on_kick(int sig)
{
}

/* -x: tell the guest that the round trips are done, once. */
static void send_q(struct machine *m)
{
	if (!m->done_converting || m->sent_q || m->com1.rx_ready ||
	    !__atomic_load_n(m->done_converting, __ATOMIC_ACQUIRE))
		return;
	m->com1.rx = 'q';
	m->com1.rx_ready = true;
	__atomic_store_n(&m->sent_q, true, __ATOMIC_RELEASE);
	uart_update_irq(m);
}

/* Runs the vCPU until the guest powers off; dies on anything else. */
static void run(struct machine *m, int vcpu, struct kvm_run *run, unsigned int limit)
{
	/*
	 * SA_RESTART: neither the alarm nor a kick may fail the console's
	 * write(); KVM_RUN still returns EINTR, it is never restarted.
	 */
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct sigaction kick = { .sa_handler = on_kick, .sa_flags = SA_RESTART };

	alarm_run = run;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR1, &kick, NULL);
	alarm(limit);
	for (;;) {
		send_q(m);
		if (ioctl(vcpu, KVM_RUN, NULL)) {
			if (errno == EINTR && timed_out) {
				/* End the console's line before the dump. */
				if (m->line_len)
					putchar('\n');
				fflush(stdout);
				dump_vcpu(m, vcpu);
				die("the guest did not power off within %u s", limit);
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EFAULT && run->exit_reason == KVM_EXIT_MEMORY_FAULT)
				die("KVM_RUN: memory fault at gpa %#llx size %#llx (%s)",
				    (unsigned long long)run->memory_fault.gpa,
				    (unsigned long long)run->memory_fault.size,
				    run->memory_fault.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE ?
				    "private" : "shared");
			die_errno("KVM_RUN");
		}
		m->nr_exits++;
		m->last_exit_ns = now_ns();
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(m, run);
			break;
		case KVM_EXIT_MMIO:
			/* Nothing is mapped there: reads see all ones. */
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff, run->mmio.len);
			break;
		case KVM_EXIT_SHUTDOWN:
			m->reset = true;
			break;
		case KVM_EXIT_HLT:
			die("the guest halted with interrupts off");
		case KVM_EXIT_INTERNAL_ERROR:
			die("KVM internal error, suberror %u", run->internal.suberror);
		case KVM_EXIT_FAIL_ENTRY:
			die("VM entry failed, reason %#llx",
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		default:
			die("unexpected exit reason %u", run->exit_reason);
		}
		if (m->powered_off)
			break;
		if (m->reset)
			die("the guest reset itself (a panic, a triple fault, or reboot instead of poweroff)");
	}
	alarm(0);
}

/* --- main ----------------------------------------------------------------- */

/* Rounds the guest's gmem_guest.verify reported ("verify,<rounds>"), or 0. */
static int verify_rounds(const struct machine *m)
{
	int i, rounds;

	for (i = 0; i < m->nr_results; i++)
		if (sscanf(m->results[i], "verify,%d", &rounds) == 1)
			return rounds;
	return 0;
}

/* -c: what a boot on this backing must have done; 1 if it did not. */
static int check_report(const struct vm *vm, const struct counters *before,
			const struct counters *after, const uint64_t pages[3])
{
	unsigned int level = vm->b->page_shift == 30 ? 2 : vm->b->page_shift == 21;
	int bad = 0;

	/* A THP range written first by the host comes as 4K pages: no split. */
	if (vm->b->gmem && level &&
	    ((!vm->b->thp && after->splits == before->splits) ||
	     after->merges == before->merges)) {
		fprintf(stderr, "%s: check: loading did not split and merge a huge page\n",
			bench_prog);
		bad = 1;
	}
	if (level && !pages[level]) {
		fprintf(stderr, "%s: check: no %s stage-2 mapping at the end\n", bench_prog,
			level == 2 ? "1G" : "2M");
		bad = 1;
	}
	return bad;
}

static void usage(void)
{
	size_t i;

	fprintf(stderr,
		"Usage: %s -k BZIMAGE -i INITRAMFS [-m BACKING] [-s MIB] [-a ARGS]\n"
		"          [-r MARKER] [-t SECONDS] [-x N] [-q] [-c]\n"
		"  -m BACKING  guest RAM (default gmem-1g):\n", bench_prog);
	for (i = 0; i < ARRAY_SIZE(backings); i++)
		fprintf(stderr, "                %-8s %s\n", backings[i].name,
			backings[i].what);
	fprintf(stderr,
		"  -s MIB      guest RAM in MiB (default 1024)\n"
		"  -a ARGS     appended to the guest's kernel command line (repeatable)\n"
		"  -r MARKER   the guest's first userspace line contains it\n"
		"              (default \"gmem-guest: userspace\")\n"
		"  -t SECONDS  time limit (default 600)\n"
		"  -x N        guest_memfd, with -a gmem_guest.verify=MIB: once the\n"
		"              guest's check runs, convert N random 4K pages to shared\n"
		"              and back, report what that cost, then send 'q' to the\n"
		"              guest's console, which ends the check\n"
		"  -q          do not echo the guest's console\n"
		"  -c          check, for tests: on HugeTLB guest_memfd, loading split\n"
		"              and merged huge pages; on any huge backing, the guest\n"
		"              ran on huge stage-2 mappings of that size\n");
	exit(2);
}

int main(int argc, char *argv[])
{
	const char *kernel = NULL, *initrd = NULL, *mode = "gmem-1g";
	char args[CMDLINE_MAX] = "";
	struct machine m = { .marker = "gmem-guest: userspace" };
	struct counters c0, c1, c2, c3;
	struct vm vm = { .ram = 1024 * MIB };
	struct converter cv = { .vm = &vm, .m = &m };
	unsigned int limit = 600;
	bool check = false;
	uint64_t t_loaded, pages[3], huge, per_page;
	long long vmemmap_kib, vmemmap_hvo_off_kib;
	struct kvm_pit_config pit = { .flags = 0 };
	struct kvm_run *kvm_run;
	struct boot boot;
	char cmdline[CMDLINE_MAX];
	int opt, vcpu, mmap_size, tsc_khz;
	size_t i;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while ((opt = getopt(argc, argv, "k:i:m:s:a:r:t:x:qch")) != -1) {
		switch (opt) {
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 's':
			vm.ram = strtoull(optarg, NULL, 0) * MIB;
			break;
		case 'a':
			/* Each -a adds to the command line. */
			if (strlen(args) + 1 + strlen(optarg) >= sizeof(args))
				die("-a: the guest's command line is too long");
			if (args[0])
				strcat(args, " ");
			strcat(args, optarg);
			break;
		case 'r':
			m.marker = optarg;
			break;
		case 't':
			limit = strtoul(optarg, NULL, 0);
			break;
		case 'x':
			cv.want = strtoul(optarg, NULL, 0);
			if (cv.want < 1 || cv.want > MAX_ROUND_TRIPS) {
				fprintf(stderr, "%s: -x takes 1 to %d round trips\n",
					bench_prog, MAX_ROUND_TRIPS);
				exit(2);
			}
			break;
		case 'q':
			m.quiet = true;
			break;
		case 'c':
			check = true;
			break;
		default:
			usage();
		}
	}
	if (!kernel || !initrd || optind != argc || !*m.marker)
		usage();
	for (i = 0; i < ARRAY_SIZE(backings); i++)
		if (!strcmp(mode, backings[i].name))
			vm.b = &backings[i];
	if (!vm.b) {
		fprintf(stderr, "%s: unknown backing '%s'\n", bench_prog, mode);
		usage();
	}
	if (cv.want && !vm.b->gmem) {
		fprintf(stderr, "%s: -x converts guest_memfd RAM, not %s\n",
			bench_prog, vm.b->name);
		exit(2);
	}
	if (!vm.ram || vm.ram % (1ULL << vm.b->page_shift) || vm.ram < 64 * MIB ||
	    vm.ram > 3072 * MIB) {
		fprintf(stderr, "%s: -s must be 64 to 3072 MiB, a multiple of the %s page size\n",
			bench_prog, vm.b->name);
		exit(2);
	}

	check_pool(vm.b, vm.ram);
	read_counters(&c0);
	m.vm = &vm;
	m.start_ns = now_ns();

	vm.kvm = open("/dev/kvm", O_RDWR);
	if (vm.kvm < 0)
		die_errno("/dev/kvm");
	vm.fd = ioctl(vm.kvm, KVM_CREATE_VM,
		      vm.b->gmem ? KVM_X86_SW_PROTECTED_VM : KVM_X86_DEFAULT_VM);
	if (vm.fd < 0)
		die("KVM_CREATE_VM(%s): %s", vm.b->gmem ? "KVM_X86_SW_PROTECTED_VM" :
		    "KVM_X86_DEFAULT_VM", strerror(errno));
	if (ioctl(vm.fd, KVM_SET_TSS_ADDR, 0xfffbd000UL))
		die_errno("KVM_SET_TSS_ADDR");
	if (ioctl(vm.fd, KVM_CREATE_IRQCHIP))
		die_errno("KVM_CREATE_IRQCHIP");
	if (ioctl(vm.fd, KVM_CREATE_PIT2, &pit))
		die_errno("KVM_CREATE_PIT2");
	create_ram(&vm);
	tsc_khz = ioctl(vm.fd, KVM_GET_TSC_KHZ);
	if (tsc_khz <= 0)
		die_errno("KVM_GET_TSC_KHZ");
	if (snprintf(cmdline, sizeof(cmdline),
		     "console=ttyS0 panic=-1 pci=off reboot=k tsc_early_khz=%d %s",
		     tsc_khz, args) >= (int)sizeof(cmdline))
		die("-a: the guest's command line is too long");

	load_linux(&vm, kernel, initrd, cmdline, &boot);
	read_counters(&c1);
	seal_ranges(&vm);
	read_counters(&c2);
	t_loaded = now_ns();

	vcpu = ioctl(vm.fd, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die_errno("KVM_CREATE_VCPU");
	mmap_size = ioctl(vm.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	kvm_run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (kvm_run == MAP_FAILED)
		die_errno("mmap of kvm_run");
	setup_vcpu(&vm, vcpu, &boot);

	if (cv.want) {
		sigset_t block, old;

		m.done_converting = &cv.finished;
		cv.vcpu_thread = pthread_self();
		/* SIGALRM and the kicks are for the vCPU thread only. */
		sigemptyset(&block);
		sigaddset(&block, SIGALRM);
		sigaddset(&block, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &block, &old);
		if (pthread_create(&cv.thread, NULL, converter_thread, &cv))
			die("pthread_create failed");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	run(&m, vcpu, kvm_run, limit);
	if (cv.want) {
		__atomic_store_n(&cv.stop, true, __ATOMIC_RELEASE);
		pthread_join(cv.thread, NULL);
	}
	read_vm_stats(vm.fd, pages);
	read_counters(&c3);
	if (!m.userspace_ns)
		die("the guest powered off without printing \"%s\"", m.marker);

	/*
	 * The host's struct pages for the guest's RAM: 64 bytes per 4K page,
	 * except huge pages whose vmemmap is optimized (HVO), which keep one
	 * vmemmap page.  Split pages that are not merged again keep theirs.
	 */
	huge = vm.ram >> vm.b->page_shift;
	per_page = ((1ULL << vm.b->page_shift) / PAGE) * 64;
	vmemmap_hvo_off_kib = (vm.ram / PAGE) * 64 / 1024;
	vmemmap_kib = vmemmap_hvo_off_kib;
	if (vm.b->page_shift != 12 && !vm.b->thp &&
	    access("/proc/sys/vm/hugetlb_optimize_vmemmap", R_OK) == 0) {
		FILE *f = fopen("/proc/sys/vm/hugetlb_optimize_vmemmap", "r");
		int hvo = 0;

		if (f) {
			if (fscanf(f, "%d", &hvo) != 1)
				hvo = 0;
			fclose(f);
		}
		if (hvo) {
			long long restored = (c3.restores - c0.restores) -
					     (c3.optimizes - c0.optimizes);

			if (restored < 0)
				restored = 0;
			vmemmap_kib = ((huge - restored) * PAGE + restored * per_page) / 1024;
		}
	}

	fflush(stdout);
	printf("\n# gmem_vmm report: %s (%s), %llu MiB, 1 vCPU, %s VM\n", vm.b->name,
	       vm.b->what, (unsigned long long)(vm.ram / MIB),
	       vm.b->gmem ? "KVM_X86_SW_PROTECTED_VM" : "KVM_X86_DEFAULT_VM");
	printf("#   first userspace line   %10.3f s after start (loading took %.3f s)\n",
	       (m.userspace_ns - m.start_ns) / 1e9, (t_loaded - m.start_ns) / 1e9);
	if (vm.b->gmem)
		printf("#   converting             %10.3f ms in %llu conversions (%d ranges to shared, then back to private)\n",
		       vm.convert_ns / 1e6, (unsigned long long)vm.conversions, vm.nr_ranges);
	if (cv.want) {
		printf("#   converting while running %d of %d round trips of a random 4K page; %lld splits, %lld merges\n",
		       cv.done, cv.want, c3.splits - c2.splits, c3.merges - c2.merges);
		report_round_trips(vm.b->name, "split", &cv.split);
		report_round_trips(vm.b->name, "no_split", &cv.no_split);
	}
	printf("#   huge pages             splits %lld, merges %lld, vmemmap restores %lld, optimizes %lld\n",
	       c3.splits - c0.splits, c3.merges - c0.merges,
	       c3.restores - c0.restores, c3.optimizes - c0.optimizes);
	printf("#   stage-2 at the end     pages_4k %llu, pages_2m %llu, pages_1g %llu\n",
	       (unsigned long long)pages[0], (unsigned long long)pages[1],
	       (unsigned long long)pages[2]);
	printf("#   vmemmap for guest RAM  %lld KiB (%lld KiB without HVO); host nr_memmap pages %+lld while loaded, %+lld at the end\n",
	       vmemmap_kib, vmemmap_hvo_off_kib, c1.memmap_pages - c0.memmap_pages,
	       c3.memmap_pages - c0.memmap_pages);
	for (i = 0; i < (size_t)m.nr_results; i++) {
		printf("#   guest                  %s\n", m.results[i]);
		printf("csv,guest,%s,%s,%llu,%llu,%llu\n", vm.b->name, m.results[i],
		       (unsigned long long)pages[0], (unsigned long long)pages[1],
		       (unsigned long long)pages[2]);
	}
	printf("csv,boot,%s,%llu,%llu,%llu,%llu,%llu,%lld,%lld,%llu,%llu,%llu,%lld\n",
	       vm.b->name, (unsigned long long)(vm.ram / MIB),
	       (unsigned long long)(m.userspace_ns - m.start_ns),
	       (unsigned long long)(t_loaded - m.start_ns),
	       (unsigned long long)vm.convert_ns, (unsigned long long)vm.conversions,
	       c3.splits - c0.splits, c3.merges - c0.merges,
	       (unsigned long long)pages[0], (unsigned long long)pages[1],
	       (unsigned long long)pages[2], vmemmap_kib);
	if (check && cv.done < cv.want) {
		fprintf(stderr, "%s: check: the guest powered off after %d of %d round trips\n",
			bench_prog, cv.done, cv.want);
		return 1;
	}
	/* The guest's check must have run during and after the round trips. */
	if (check && cv.want && verify_rounds(&m) < 2) {
		fprintf(stderr, "%s: check: the guest's data check ran %d rounds, fewer than 2\n",
			bench_prog, verify_rounds(&m));
		return 1;
	}
	/* Each split while the guest ran must have been merged again. */
	if (check && cv.want && vm.b->page_shift != 12 &&
	    (c3.splits == c2.splits || c3.merges - c2.merges != c3.splits - c2.splits)) {
		fprintf(stderr, "%s: check: %lld splits and %lld merges while the guest ran\n",
			bench_prog, c3.splits - c2.splits, c3.merges - c2.merges);
		return 1;
	}
	if (check)
		return check_report(&vm, &c0, &c3, pages);
	return 0;
}
