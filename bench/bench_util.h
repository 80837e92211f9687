/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the bench/ programs and gmem_vmm share. Each program defines
 * bench_prog, its name for its error messages, once: extern, so that a
 * program of several files has one name for all of them.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const char *bench_prog;

/* The kernel's names for these attributes: userspace has no compiler.h. */
#ifndef __noreturn
#define __noreturn	__attribute__((__noreturn__))
#endif
#ifndef __printf
#define __printf(a, b)	__attribute__((__format__(printf, a, b)))
#endif
#ifndef __maybe_unused
#define __maybe_unused	__attribute__((__unused__))
#endif

static inline __noreturn __printf(1, 2) void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline __noreturn void die_errno(const char *what)
{
	die("%s: %s", what, strerror(errno));
}

/* CLOCK_MONOTONIC: under QEMU -icount this is instruction time. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Write @val to the file at @path, opened with O_WRONLY | @flags (a tracefs
 * file: O_TRUNC sets it, O_APPEND adds to a list); 0 or -errno.
 */
static inline int write_file(const char *path, const char *val, int flags)
{
	int fd = open(path, O_WRONLY | flags), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		r = -errno;
	close(fd);
	return r;
}

/* For qsort() of uint64_t samples. */
static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
