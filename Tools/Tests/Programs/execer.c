/* A program for execsnoop's tests, built by the test that runs it (`cc -pthread`, and `-m32`
 * for the 32-bit one). Calls execve(PATH, [PATH, ARGS...]) from the main thread or, with -t,
 * from a second thread (a successful exec then makes that thread the process's leader).
 * First prints "PID TID" of the calling thread; if the exec fails, prints "errno N" and
 * exits 127.
 *
 *   execer [-t] PATH [ARGS...] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;
static char **target;

static void *run(void *unused)
{
	(void)unused;
	printf("%d %ld\n", getpid(), (long)syscall(SYS_gettid));
	fflush(stdout);
	execve(target[0], target, environ);
	printf("errno %d\n", errno);
	fflush(stdout);
	_exit(127);
}

int main(int argc, char **argv)
{
	int threaded = argc > 1 && strcmp(argv[1], "-t") == 0;
	if (argc < 2 + threaded)
		return 2;
	target = argv + 1 + threaded;
	if (!threaded)
		run(NULL);
	pthread_t thread;
	if (pthread_create(&thread, NULL, run, NULL) != 0)
		return 1;
	pthread_join(thread, NULL);  /* never returns: the exec or _exit ends the process */
	return 1;
}
