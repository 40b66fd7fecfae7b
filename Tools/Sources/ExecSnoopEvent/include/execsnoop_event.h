/* The kernel/user contract of execsnoop: the layout of one exec record and the limits both
 * sides agree on. Fixed-width types only; never includes vmlinux.h. */
#ifndef EXECSNOOP_EVENT_H
#define EXECSNOOP_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define EXECSNOOP_COMM_LEN 16
/* Longest file name the kernel accepts, including its NUL. */
#define EXECSNOOP_PATH_MAX 4096
/* Bytes of arguments kept (each with its NUL); the rest is cut and marked. */
#define EXECSNOOP_ARGS_MAX 4096
/* Arguments read of a failed exec (through the caller's argv pointers). */
#define EXECSNOOP_MAX_ARGS 128

/* execsnoop_event.flags */
enum execsnoop_event_flag {
	/* More arguments, or longer ones, than were kept. If the kept bytes do not end in a NUL,
	 * the last argument itself was cut. */
	EXECSNOOP_EV_ARGS_TRUNCATED = 1 << 0,
	/* The name passed was longer than the kernel accepts (PATH_MAX); its first 4096 bytes. */
	EXECSNOOP_EV_PATH_TRUNCATED = 1 << 1,
};

/* One exec, as a ring-buffer record: this header, then path_len bytes of the file name as
 * passed (no NUL), then args_len bytes of arguments, each ending in a NUL (the last one
 * without it when it was cut). */
struct execsnoop_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() when the exec ended */
	__u32 pid;          /* the process (thread-group) id, in the initial pid namespace */
	__u32 tid;          /* the thread that called exec, by the id it had then (a thread other
	                     * than the leader takes the process id when its exec succeeds) */
	__u32 ppid;         /* the parent process */
	__u32 uid;          /* real user id */
	__s32 ret;          /* 0, or -errno */
	__u16 path_len;
	__u16 args_len;
	__u8 flags;         /* enum execsnoop_event_flag */
	__u8 reserved[7];
	char comm[EXECSNOOP_COMM_LEN];  /* after a successful exec, the new program's */
};

#define EXECSNOOP_EVENT_SIZE 56

#endif
