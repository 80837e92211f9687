/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The machine gmem_vmm builds: where things are in the guest's physical
 * memory and in its port space.  The loader, the vCPU's first state, the
 * ACPI tables and the emulated devices must all agree on these.
 */
#ifndef GMEM_VMM_LAYOUT_H
#define GMEM_VMM_LAYOUT_H

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

#endif
