// SPDX-License-Identifier: GPL-2.0
/*
 * The boot image: a bzImage and its initramfs loaded as a 64-bit boot
 * loader does (Documentation/arch/x86/boot.rst), with the GDT and page
 * tables that entry point expects, boot_params, the command line, an e820
 * map and the ACPI tables.  Every range written goes through load_range(),
 * so that on guest_memfd it is shared while it is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "gmem_vmm.h"
#include "layout.h"

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

/* A bzImage read whole, and what its setup header says of it. */
struct bzimage {
	uint8_t *buf;
	size_t size, setup_size;
	uint32_t init_size;
};

static void read_bzimage(const char *path, struct bzimage *k)
{
	k->buf = read_file(path, &k->size);
	if (k->size < 0x1000 || memcmp(k->buf + 0x202, "HdrS", 4))
		die("%s: not a bzImage (no \"HdrS\" setup header)", path);
	if (*(uint16_t *)(k->buf + 0x206) < 0x20c ||
	    !(*(uint16_t *)(k->buf + 0x236) & 1))
		die("%s: the kernel has no 64-bit entry point (boot protocol 2.12+, XLF_KERNEL_64)",
		    path);
	k->setup_size = ((k->buf[HDR_OFFSET] ? k->buf[HDR_OFFSET] : 4) + 1) * 512;
	if (k->setup_size >= k->size)
		die("%s: truncated bzImage", path);
	k->init_size = *(uint32_t *)(k->buf + 0x260);
}

/* The 64-bit entry point wants long mode: a GDT, and the low 4 GiB mapped. */
static void build_page_tables(uint8_t *low)
{
	uint64_t *pml4, *pdpt, *pd, *gdt;
	int i;

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
}

/* boot_params, the command line and the e820 map; returns boot_params. */
static uint8_t *setup_boot_params(struct vm *vm, uint8_t *low,
				  const struct bzimage *k, const char *cmdline)
{
	uint8_t *bp = low + ZEROPAGE_GPA;
	size_t hdr_end = 0x202 + k->buf[0x201];

	memcpy(bp + HDR_OFFSET, k->buf + HDR_OFFSET, hdr_end - HDR_OFFSET);
	bp[0x210] = 0xff;				/* type_of_loader: other */
	bp[0x211] |= 0x01 | 0x80;			/* LOADED_HIGH, CAN_USE_HEAP */
	put16(bp + 0x224, 0xfe00);			/* heap_end_ptr */
	put32(bp + 0x228, CMDLINE_GPA);
	memcpy(bp + BP_ACPI_RSDP, &(uint64_t){ ACPI_GPA }, 8);
	memcpy(low + CMDLINE_GPA, cmdline, strlen(cmdline) + 1);

	put_e820(bp, 0, 0, EBDA_GPA, E820_RAM);
	put_e820(bp, 1, EBDA_GPA, KERNEL_GPA - EBDA_GPA, E820_RESERVED);
	put_e820(bp, 2, KERNEL_GPA, vm->ram - KERNEL_GPA, E820_RAM);
	return bp;
}

/* The protected-mode kernel at 1 MiB, with room to decompress. */
static void load_kernel(struct vm *vm, const char *path, const struct bzimage *k)
{
	size_t size = k->size - k->setup_size;

	if (KERNEL_GPA + (k->init_size > k->size ? k->init_size : k->size) > vm->ram)
		die("%s needs %u bytes at 1 MiB: give the guest more RAM (-s)",
		    path, k->init_size);
	memcpy(load_range(vm, KERNEL_GPA, size), k->buf + k->setup_size, size);
}

/* The initramfs as high as the kernel accepts it. */
static void load_initrd(struct vm *vm, const char *path, const uint8_t *initrd,
			size_t size, const struct bzimage *k, uint8_t *bp)
{
	uint64_t gpa, max;

	max = *(uint32_t *)(k->buf + 0x22c);
	if (max > vm->ram - 1)
		max = vm->ram - 1;
	gpa = (max + 1 - size) & ~(2 * MIB - 1);
	if (gpa < KERNEL_GPA + k->init_size)
		die("%s (%zu bytes) does not fit beside the kernel: give the guest more RAM (-s)",
		    path, size);
	memcpy(load_range(vm, gpa, size), initrd, size);
	put32(bp + 0x218, gpa);
	put32(bp + 0x21c, size);
}

void load_linux(struct vm *vm, const char *kernel_path,
		const char *initrd_path, const char *cmdline,
		struct boot *boot)
{
	struct bzimage k;
	uint8_t *initrd, *low, *bp;
	size_t isize;

	read_bzimage(kernel_path, &k);
	initrd = read_file(initrd_path, &isize);
	if (strlen(cmdline) >= CMDLINE_MAX)
		die("kernel command line too long");

	/* Low memory: GDT, page tables, boot_params, command line, ACPI. */
	low = load_range(vm, 0, KERNEL_GPA);
	memset(low, 0, KERNEL_GPA);
	build_page_tables(low);
	build_acpi(low + ACPI_GPA);
	bp = setup_boot_params(vm, low, &k, cmdline);

	load_kernel(vm, kernel_path, &k);
	load_initrd(vm, initrd_path, initrd, isize, &k, bp);

	free(k.buf);
	free(initrd);
	boot->entry = KERNEL_GPA + 0x200;
	boot->zeropage = ZEROPAGE_GPA;
}
