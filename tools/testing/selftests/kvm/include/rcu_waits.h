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

bool rcu_waits_offered(void);
void rcu_waits_start(void);
void rcu_waits_watch(bool on);
long rcu_waits_stop(char *first, size_t len);

#endif /* SELFTEST_KVM_RCU_WAITS_H */
