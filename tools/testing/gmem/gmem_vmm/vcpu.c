// SPDX-License-Identifier: GPL-2.0
/*
 * The vCPU: its CPUID and first state (64-bit mode at the kernel's entry),
 * and the loop that runs it until the guest powers off, under a time limit
 * past which it says where the guest is stuck.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "gmem_vmm.h"
#include "layout.h"

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

/* The one vCPU, at the kernel's 64-bit entry point; returns its fd. */
int create_vcpu(struct vm *vm, const struct boot *boot, struct kvm_run **run)
{
	int vcpu, mmap_size;

	vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die_errno("KVM_CREATE_VCPU");
	mmap_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	*run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (*run == MAP_FAILED)
		die_errno("mmap of kvm_run");
	setup_vcpu(vm, vcpu, boot);
	return vcpu;
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
static void on_alarm(int sig __maybe_unused)
{
	timed_out = 1;
	alarm_run->immediate_exit = 1;
}

/* SIGUSR1 only makes KVM_RUN return, with EINTR. */
static void on_kick(int sig __maybe_unused)
{
}

/* Runs the vCPU until the guest powers off; dies on anything else. */
void run(struct machine *m, int vcpu, struct kvm_run *run, unsigned int limit)
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
