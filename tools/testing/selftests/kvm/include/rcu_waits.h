/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RCU grace periods that one thread waits for, counted by the function
 * tracer: synchronize_rcu() and its kin, entered by the calling thread
 * while a watch is open.  Needs CONFIG_FUNCTION_TRACER.
 */
#ifndef SELFTEST_KVM_RCU_WAITS_H
#define SELFTEST_KVM_RCU_WAITS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The entry points that wait for a grace period: the polled ones
 * (cond_synchronize_rcu() and kin) wait through these.  One may call
 * another (synchronize_rcu() in expedited mode, synchronize_srcu() when
 * its srcu_struct looks idle).
 */
#define RCU_WAIT_FUNCTIONS					\
	"synchronize_rcu",					\
	"synchronize_rcu_expedited",				\
	"rcu_barrier",						\
	"synchronize_srcu",					\
	"synchronize_srcu_expedited",				\
	"srcu_barrier",						\
	"synchronize_rcu_tasks",				\
	"synchronize_rcu_tasks_rude",				\
	"synchronize_rcu_tasks_trace"

bool rcu_waits_offered(void);
void rcu_waits_start(void);
void rcu_waits_watch(bool on);
long rcu_waits_stop(char *first, size_t len);

#endif /* SELFTEST_KVM_RCU_WAITS_H */
