// SPDX-License-Identifier: GPL-2.0
/*
 * -x: conversions under a running guest, from a thread of their own while
 * the vCPU runs (struct converter says why), and how long the vCPU's faults
 * waited for the invalidate_lock that they hold (struct lock_waits).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "gmem_vmm.h"

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
	/* Only the waits from here on count. */
	lock_waits_on(&cv->waits, true);
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
	lock_waits_on(&cv->waits, false);
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

/* Called from the vCPU thread, which the converter kicks when it is done. */
void converter_start(struct converter *cv)
{
	sigset_t block, old;

	if (!cv->want)
		return;
	cv->m->done_converting = &cv->finished;
	cv->vcpu_thread = pthread_self();
	lock_waits_init(&cv->waits, syscall(SYS_gettid));
	/* SIGALRM and the kicks are for the vCPU thread only. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (pthread_create(&cv->thread, NULL, converter_thread, cv))
		die("pthread_create failed");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void converter_stop(struct converter *cv)
{
	if (!cv->want)
		return;
	__atomic_store_n(&cv->stop, true, __ATOMIC_RELEASE);
	pthread_join(cv->thread, NULL);
	lock_waits_read(&cv->waits);
}
