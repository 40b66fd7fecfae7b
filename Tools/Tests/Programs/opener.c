/* A static program for the compat and chroot tests, built by the test that runs it (`cc -static`,
 * and `-m32` for the 32-bit one). Opens DIR/present every way the ABI has, then fails one open;
 * prints "<syscall> <fd or -errno>" for each.
 *
 *   opener DIR */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long ret)
{
	printf("%s %ld\n", name, ret < 0 ? -(long)errno : ret);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char present[4096], created[4096], missing[4096];
	snprintf(present, sizeof(present), "%s/present", argv[1]);
	snprintf(created, sizeof(created), "%s/created", argv[1]);
	snprintf(missing, sizeof(missing), "%s/missing", argv[1]);
	report("open", syscall(SYS_open, present, O_RDONLY));
	report("openat", syscall(SYS_openat, AT_FDCWD, present, O_RDONLY));
	report("creat", syscall(SYS_creat, created, 0600));
	struct open_how how = { .flags = O_RDONLY };
	report("openat2", syscall(SYS_openat2, AT_FDCWD, present, &how, sizeof(how)));
	struct file_handle *handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	handle->handle_bytes = MAX_HANDLE_SZ;
	int mount_id;
	long mount_fd = syscall(SYS_openat, AT_FDCWD, argv[1], O_RDONLY | O_DIRECTORY);
	if (syscall(SYS_name_to_handle_at, AT_FDCWD, present, handle, &mount_id, 0) == 0)
		report("open_by_handle_at", syscall(SYS_open_by_handle_at, mount_fd, handle, O_RDONLY));
	else
		report("name_to_handle_at", -1);
	report("open", syscall(SYS_open, missing, O_RDONLY));
	return 0;
}
