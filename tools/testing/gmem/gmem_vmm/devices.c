// SPDX-License-Identifier: GPL-2.0
/*
 * The devices behind the guest's port I/O: a 16550A on COM1 whose output is
 * the guest's console (and whose input carries -x's 'q'), the CMOS clock,
 * the ACPI PM1a registers through which the guest powers off, its PM timer,
 * and the i8042's reset command.  Ports nothing emulates read all ones.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>

#include "gmem_vmm.h"
#include "layout.h"

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

void handle_io(struct machine *m, struct kvm_run *run)
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

/* -x: tell the guest that the round trips are done, once. */
void send_q(struct machine *m)
{
	if (!m->done_converting || m->sent_q || m->com1.rx_ready ||
	    !__atomic_load_n(m->done_converting, __ATOMIC_ACQUIRE))
		return;
	m->com1.rx = 'q';
	m->com1.rx_ready = true;
	__atomic_store_n(&m->sent_q, true, __ATOMIC_RELEASE);
	uart_update_irq(m);
}
