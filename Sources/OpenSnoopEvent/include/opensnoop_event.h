/* The kernel/user contract of opensnoop: the layout of one event record and the
 * constants both sides agree on. Fixed-width types only; never includes vmlinux.h. */
#ifndef OPENSNOOP_EVENT_H
#define OPENSNOOP_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OPENSNOOP_COMM_LEN 16
/* Longest path the kernel accepts, including its NUL. */
#define OPENSNOOP_PATH_MAX 4096

/* Filter limits (sizes of the BPF program's read-only configuration arrays). */
#define OPENSNOOP_MAX_PREFIXES 8     /* --path prefixes */
#define OPENSNOOP_PREFIX_MAX 256     /* bytes of one prefix */
#define OPENSNOOP_MAX_FLAG_MASKS 24  /* -f flags that are bits */

/* How the file was opened (opensnoop_event.source). */
enum opensnoop_source {
	OPENSNOOP_SRC_OPEN = 1,
	OPENSNOOP_SRC_OPENAT = 2,
	OPENSNOOP_SRC_OPENAT2 = 3,
	OPENSNOOP_SRC_CREAT = 4,
	OPENSNOOP_SRC_IO_URING = 5,
};

/* opensnoop_event.event_flags */
enum opensnoop_event_flag {
	/* The path as passed was longer than OPENSNOOP_PATH_MAX - 1 bytes and was cut. */
	OPENSNOOP_EV_PATH_TRUNCATED = 1 << 0,
	/* The path could not be read from the process (bad pointer): path_len is 0. */
	OPENSNOOP_EV_PATH_UNREADABLE = 1 << 1,
	/* full_len bytes of the resolved absolute path follow the path. */
	OPENSNOOP_EV_FULL_PATH = 1 << 2,
	/* The resolved path was cut at its root end (too deep or too long). */
	OPENSNOOP_EV_FULL_TRUNCATED = 1 << 3,
};

/* One open, as a ring-buffer record: this header, then path_len bytes of the path
 * as passed (no NUL), then full_len bytes of the resolved path (no NUL). */
struct opensnoop_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() at syscall exit / io_uring submit */
	__u32 pid;          /* thread-group id (the process) */
	__u32 tid;          /* thread id */
	__u32 uid;
	__s32 ret;          /* fd (>= 0) or -errno */
	__u64 flags;        /* open flags (O_*) */
	__u32 mode;         /* creation mode */
	__s32 dirfd;        /* directory fd for *at() opens, AT_FDCWD (-100) otherwise */
	__u16 path_len;
	__u16 full_len;
	__u8 source;        /* enum opensnoop_source */
	__u8 event_flags;   /* enum opensnoop_event_flag */
	__u16 reserved;
	char comm[OPENSNOOP_COMM_LEN];
};

#define OPENSNOOP_EVENT_SIZE 64

/* Indexes of the per-CPU counters map. */
enum opensnoop_counter {
	OPENSNOOP_COUNTER_LOST = 0,
	OPENSNOOP_COUNTER_MAX = 1,
};

#endif
