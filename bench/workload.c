/* The benchmark's workloads; each prints the elapsed nanoseconds.
 *
 *   workload open N THREADS PATH MISSING_PATH
 *       each of THREADS threads does N openat+close of PATH; every 8th open is of
 *       MISSING_PATH instead and fails.
 *   workload getppid N THREADS
 *       each of THREADS threads makes N getppid system calls: what a tracer costs the
 *       system calls it does not trace. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long n;
static const char *path, *missing;

static void *open_loop(void *arg)
{
	(void)arg;
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, (i & 7) == 7 ? missing : path, O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void *getppid_loop(void *arg)
{
	(void)arg;
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: workload open N THREADS PATH MISSING_PATH | workload getppid N THREADS\n");
	return 2;
}

int main(int argc, char **argv)
{
	void *(*loop)(void *);
	if (argc == 6 && strcmp(argv[1], "open") == 0) {
		loop = open_loop;
		path = argv[4];
		missing = argv[5];
	} else if (argc == 4 && strcmp(argv[1], "getppid") == 0) {
		loop = getppid_loop;
	} else {
		return usage();
	}
	n = atol(argv[2]);
	int threads = atoi(argv[3]);
	pthread_t t[64];
	if (threads < 1 || threads > 64)
		return usage();
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, loop, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%ld\n", (end.tv_sec - start.tv_sec) * 1000000000L + (end.tv_nsec - start.tv_nsec));
	return 0;
}
