/* opensnoop-testhelper: opens files in every way the tracer must see, as told on its
 * command line, and prints what each open returned, so tests can compare with the trace.
 *
 *   opensnoop-testhelper [--name COMM] [--wait] ACTION ARGS... [ACTION ARGS...]
 *
 * --name sets the command name first; --wait prints "READY <pid>" and waits for a line on
 * stdin before acting (so a tracer can be pointed at the pid). Actions:
 *   open PATH | openat PATH | openat2 PATH | creat PATH       one open by that syscall
 *   uring PATH | uring2 PATH                                 IORING_OP_OPENAT / OPENAT2
 *   flags PATH OCTAL                                         openat with these flags
 *   dirfd DIR REL                                            openat(open(DIR), REL)
 *   chdir DIR                                                change directory
 *   symlink TARGET LINK                                      create a symlink
 *   storm N DIR                                              N children, each opens DIR/storm-I
 *   threads N PATH                                           N threads, each opens PATH
 *   background MS PATH                                       a child that opens PATH after MS ms
 *   loop N PATH                                              N openat+close of PATH
 *   exec-thread PATH                                         a second thread execs this helper,
 *                                                            which then opens PATH
 *   leader-exit N PATH                                       the main thread exits; N threads
 *                                                            open PATH 100 ms later
 *   handle PATH                                              name_to_handle_at + open_by_handle_at
 *   handle-badmount PATH                                     open_by_handle_at with a bad mount fd
 *   uring-fixed PATH                                         io_uring open into fixed slot 0
 *   uring-badptr X                                           io_uring open of an unreadable name
 *   uring-stalled PATH                                       an io_uring open of PATH linked after a
 *                                                            read that never completes (waits for ever)
 *   badptr X                                                 openat of an unreadable name
 *   long N DIR                                               openat of DIR/ + a name making N bytes
 *   baddirfd REL                                             openat(999, REL)
 *   pipe X | memfd NAME | tmpfile DIR | unlinked PATH        open a pseudo file again via /proc
 *   sleep MS                                                 sleep
 * Each open prints "<action> <fd or -errno>". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *action, long ret)
{
	printf("%s %ld\n", action, ret < 0 ? -(long)errno : ret);
	fflush(stdout);
}

/* How an io_uring open is asked for. */
enum uring_kind { URING_OPENAT, URING_OPENAT2, URING_FIXED };

/* One io_uring open of `path` (any pointer, for the bad-pointer case); the fd, the fixed slot's
 * result, or -1 with errno. */
static long uring_open(const char *path, enum uring_kind kind)
{
	struct io_uring ring;
	if (io_uring_queue_init(4, &ring, 0) < 0)
		return -1;
	int slots[1] = { -1 };
	if (kind == URING_FIXED && io_uring_register_files(&ring, slots, 1) < 0)
		return -1;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
	if (kind == URING_OPENAT2)
		io_uring_prep_openat2(sqe, AT_FDCWD, path, &how);
	else if (kind == URING_FIXED)
		io_uring_prep_openat_direct(sqe, AT_FDCWD, path, O_RDONLY, 0, 0);
	else
		io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	io_uring_submit(&ring);
	struct io_uring_cqe *cqe;
	long res = -EIO;
	if (io_uring_wait_cqe(&ring, &cqe) == 0) {
		res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	if (res < 0) {
		errno = -res;
		return -1;
	}
	return res;
}

/* Submits a read of an empty pipe, then an open of `path` linked to it: the open is submitted
 * (the kernel saw it) but cannot run until the read completes, which it never does. Waits. */
static long uring_stalled_open(const char *path)
{
	struct io_uring ring;
	int fds[2];
	char byte;
	if (io_uring_queue_init(4, &ring, 0) < 0 || pipe(fds) < 0)
		return -1;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fds[0], &byte, 1, 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY, 0);
	io_uring_submit(&ring);
	printf("submitted\n");
	fflush(stdout);
	pause();
	return 0;
}

static char *self_path;
static const char *exec_target;

/* Runs in a second thread: replaces the whole process with this helper opening exec_target. */
static void *thread_exec(void *unused)
{
	(void)unused;
	execl(self_path, "opensnoop-testhelper", "openat", exec_target, (char *)NULL);
	return NULL;
}

static void *thread_open_later(void *path)
{
	usleep(100000);
	int fd = open((const char *)path, O_RDONLY);
	printf("leader-exit %d\n", fd < 0 ? -errno : fd);
	fflush(stdout);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Opens /proc/self/fd/FD again. */
static long reopen(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY);
}

static long handle_open(const char *path, int bad_mount)
{
	struct file_handle *handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	handle->handle_bytes = MAX_HANDLE_SZ;
	int mount_id;
	if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0) < 0)
		return -1;
	int mount_fd = bad_mount ? 999 : open(path, O_RDONLY);
	long fd = open_by_handle_at(mount_fd, handle, O_RDONLY);
	free(handle);
	return fd;
}

static void *thread_open(void *path)
{
	int fd = open((const char *)path, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: opensnoop-testhelper [--name COMM] [--wait] ACTION ARGS...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	self_path = realpath("/proc/self/exe", NULL);
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			prctl(PR_SET_NAME, argv[++i]);
		} else if (strcmp(argv[i], "--wait") == 0) {
			char line[16];
			printf("READY %d\n", getpid());
			fflush(stdout);
			if (!fgets(line, sizeof(line), stdin))
				return 1;
		} else {
			usage();
		}
	}
	while (i < argc) {
		const char *action = argv[i++];
		const char *a = i < argc ? argv[i] : NULL;
		const char *b = i + 1 < argc ? argv[i + 1] : NULL;
		if (!a)
			usage();
		long ret;
		if (strcmp(action, "open") == 0) {
			ret = syscall(SYS_open, a, O_RDONLY | O_CLOEXEC);
			i += 1;
		} else if (strcmp(action, "openat") == 0) {
			ret = openat(AT_FDCWD, a, O_RDONLY | O_CLOEXEC);
			i += 1;
		} else if (strcmp(action, "openat2") == 0) {
			struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
			ret = syscall(SYS_openat2, AT_FDCWD, a, &how, sizeof(how));
			i += 1;
		} else if (strcmp(action, "creat") == 0) {
			ret = creat(a, 0644);
			i += 1;
		} else if (strcmp(action, "uring") == 0 || strcmp(action, "uring2") == 0) {
			ret = uring_open(a, action[5] == '2' ? URING_OPENAT2 : URING_OPENAT);
			i += 1;
		} else if (strcmp(action, "flags") == 0 && b) {
			ret = openat(AT_FDCWD, a, (int)strtol(b, NULL, 8), 0644);
			i += 2;
		} else if (strcmp(action, "dirfd") == 0 && b) {
			int dfd = open(a, O_RDONLY | O_DIRECTORY);
			ret = openat(dfd, b, O_RDONLY);
			i += 2;
		} else if (strcmp(action, "chdir") == 0) {
			ret = chdir(a);
			i += 1;
		} else if (strcmp(action, "symlink") == 0 && b) {
			ret = symlink(a, b);
			i += 2;
		} else if (strcmp(action, "storm") == 0 && b) {
			int n = atoi(a);
			for (int k = 0; k < n; k++) {
				pid_t pid = fork();
				if (pid == 0) {
					char name[16], path[4096];
					snprintf(name, sizeof(name), "storm-%d", k);
					prctl(PR_SET_NAME, name);
					snprintf(path, sizeof(path), "%s/storm-%d", b, k);
					int fd = open(path, O_RDONLY);
					_exit(fd >= 0 ? 0 : 1);
				}
			}
			while (wait(NULL) > 0)
				;
			ret = n;
			i += 2;
		} else if (strcmp(action, "threads") == 0 && b) {
			int n = atoi(a);
			pthread_t threads[64];
			if (n > 64)
				n = 64;
			for (int k = 0; k < n; k++)
				pthread_create(&threads[k], NULL, thread_open, (void *)b);
			for (int k = 0; k < n; k++)
				pthread_join(threads[k], NULL);
			ret = n;
			i += 2;
		} else if (strcmp(action, "background") == 0 && b) {
			pid_t pid = fork();
			if (pid == 0) {
				usleep(atoi(a) * 1000);
				int fd = open(b, O_RDONLY);
				_exit(fd >= 0 ? 0 : 1);
			}
			ret = pid;
			i += 2;
		} else if (strcmp(action, "exec-thread") == 0) {
			pthread_t thread;
			exec_target = a;
			pthread_create(&thread, NULL, thread_exec, NULL);
			pthread_join(thread, NULL);
			ret = -1; /* exec failed */
			i += 1;
		} else if (strcmp(action, "leader-exit") == 0 && b) {
			int n = atoi(a);
			pthread_t thread;
			for (int k = 0; k < n && k < 64; k++)
				pthread_create(&thread, NULL, thread_open_later, (void *)b);
			pthread_exit(NULL);
		} else if (strcmp(action, "handle") == 0 || strcmp(action, "handle-badmount") == 0) {
			ret = handle_open(a, action[6] == '-');
			i += 1;
		} else if (strcmp(action, "uring-fixed") == 0) {
			ret = uring_open(a, URING_FIXED);
			i += 1;
		} else if (strcmp(action, "uring-badptr") == 0) {
			ret = uring_open((const char *)8, URING_OPENAT);
			i += 1;
		} else if (strcmp(action, "uring-stalled") == 0) {
			ret = uring_stalled_open(a);
			i += 1;
		} else if (strcmp(action, "badptr") == 0) {
			ret = openat(AT_FDCWD, (const char *)8, O_RDONLY);
			i += 1;
		} else if (strcmp(action, "long") == 0 && b) {
			/* b + "/" + "x..." padded with "/./" pieces so that every component stays short */
			size_t n = atol(a);
			char *path = calloc(n + 1, 1);
			size_t len = strlen(b);
			memcpy(path, b, len);
			while (n - len > 3) {
				memcpy(path + len, "/.", 2);
				len += 2;
			}
			if (n - len == 3)
				path[len++] = '/';
			path[len++] = '/';
			path[len++] = 'f';
			path[n] = 0;
			ret = openat(AT_FDCWD, path, O_RDONLY);
			free(path);
			i += 2;
		} else if (strcmp(action, "baddirfd") == 0) {
			ret = openat(999, a, O_RDONLY);
			i += 1;
		} else if (strcmp(action, "pipe") == 0) {
			int fds[2];
			ret = pipe(fds) < 0 ? -1 : reopen(fds[0]);
			i += 1;
		} else if (strcmp(action, "memfd") == 0) {
			int fd = memfd_create(a, 0);
			ret = fd < 0 ? -1 : reopen(fd);
			i += 1;
		} else if (strcmp(action, "tmpfile") == 0) {
			ret = open(a, O_TMPFILE | O_RDWR, 0600);
			i += 1;
		} else if (strcmp(action, "unlinked") == 0) {
			int fd = open(a, O_RDWR | O_CREAT, 0600);
			unlink(a);
			ret = fd < 0 ? -1 : reopen(fd);
			i += 1;
		} else if (strcmp(action, "sleep") == 0) {
			usleep(atoi(a) * 1000);
			ret = 0;
			i += 1;
		} else if (strcmp(action, "loop") == 0 && b) {
			long n = atol(a);
			for (long k = 0; k < n; k++) {
				int fd = openat(AT_FDCWD, b, O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
			ret = n;
			i += 2;
		} else {
			usage();
		}
		report(action, ret);
	}
	return 0;
}
