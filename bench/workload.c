/* The benchmark's open-heavy workload: each of THREADS threads does N openat+close of one
 * file; every 8th open is of a missing file and fails. Prints the elapsed nanoseconds.
 *
 *   workload N THREADS PATH MISSING_PATH */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long n;
static const char *path, *missing;

static void *run(void *arg)
{
	(void)arg;
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, (i & 7) == 7 ? missing : path, O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: workload N THREADS PATH MISSING_PATH\n");
		return 2;
	}
	n = atol(argv[1]);
	int threads = atoi(argv[2]);
	path = argv[3];
	missing = argv[4];
	pthread_t t[64];
	if (threads < 1 || threads > 64)
		return 2;
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%ld\n", (end.tv_sec - start.tv_sec) * 1000000000L + (end.tv_nsec - start.tv_nsec));
	return 0;
}
