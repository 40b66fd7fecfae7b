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
#define OPENSNOOP_MAX_COMMS 8        /* -n names */
#define OPENSNOOP_MAX_CGROUPS 8      /* --cgroup directories */

/* How the file was opened (opensnoop_event.source): one byte, so that the event's BTF names the
 * enum and user space's view of it is generated (clang's C23 fixed underlying type). */
enum opensnoop_source : __u8 {
	OPENSNOOP_SRC_OPEN = 1,
	OPENSNOOP_SRC_OPENAT = 2,
	OPENSNOOP_SRC_OPENAT2 = 3,
	OPENSNOOP_SRC_CREAT = 4,
	OPENSNOOP_SRC_IO_URING = 5,
	OPENSNOOP_SRC_OPEN_BY_HANDLE_AT = 6,
};

/* The open system calls, the one list both sides use: X(name, source, x86-64 number, ia32
 * number, arm64 number), -1 where an ABI has no such call. The BPF program makes its syscall
 * decoding from it, user space the names of the tracepoints it attaches at. */
#define OPENSNOOP_SYSCALLS(X)                                                  \
	X(open, OPENSNOOP_SRC_OPEN, 2, 5, -1)                                  \
	X(openat, OPENSNOOP_SRC_OPENAT, 257, 295, 56)                          \
	X(openat2, OPENSNOOP_SRC_OPENAT2, 437, 437, 437)                       \
	X(creat, OPENSNOOP_SRC_CREAT, 85, 8, -1)                               \
	X(open_by_handle_at, OPENSNOOP_SRC_OPEN_BY_HANDLE_AT, 304, 342, 265)

/* The name of a source ("openat", "io_uring"...), NULL for an unknown one (user space). */
const char *opensnoop_source_name(unsigned source);

/* The name of the index-th open syscall in OPENSNOOP_SYSCALLS, NULL past the last. */
const char *opensnoop_syscall_name(unsigned index);

/* The task filters in use (the BPF program's task_filters bits). */
enum opensnoop_task_filter {
	OPENSNOOP_FILTER_PID = 1 << 0,        /* pid in pid_filter */
	OPENSNOOP_FILTER_TID = 1 << 1,        /* tid in tid_filter */
	OPENSNOOP_FILTER_UID = 1 << 2,        /* uid in uid_filter */
	OPENSNOOP_FILTER_TRACED = 1 << 3,     /* pid in traced_pids (a followed command) */
	OPENSNOOP_FILTER_CGROUP_IDS = 1 << 4, /* cgroup id in cgroup_ids (--cgroupmap) */
	OPENSNOOP_FILTER_MNTNS = 1 << 5,      /* mount namespace in mntns_ids (--mntnsmap) */
};

/* opensnoop_event.event_flags */
enum opensnoop_event_flag {
	/* The path as passed was longer than OPENSNOOP_PATH_MAX bytes and was cut there. */
	OPENSNOOP_EV_PATH_TRUNCATED = 1 << 0,
	/* The path could not be read from the process (bad pointer): path_len is 0. */
	OPENSNOOP_EV_PATH_UNREADABLE = 1 << 1,
	/* full_len bytes of the resolved path follow the path. */
	OPENSNOOP_EV_FULL_PATH = 1 << 2,
	/* The resolved path was cut at its root end (too deep or too long). */
	OPENSNOOP_EV_FULL_TRUNCATED = 1 << 3,
	/* What the resolved path names was deleted (d_path's " (deleted)"). */
	OPENSNOOP_EV_FULL_DELETED = 1 << 4,
	/* The resolved path is a directory joined with the name as passed (a failed open, or an
	 * io_uring open into a fixed-file slot), not the path of the file opened. */
	OPENSNOOP_EV_FULL_JOINED = 1 << 5,
	/* The resolved path is the kernel's name of a pseudo file (pipe:[N], socket:[N],
	 * mnt:[N], anon_inode:[...]), not a path. */
	OPENSNOOP_EV_FULL_PSEUDO = 1 << 6,
	/* A 32-bit (ia32 or x32) system call. */
	OPENSNOOP_EV_COMPAT = 1 << 7,
	/* An io_uring open into a fixed-file slot: fixed_slot holds the slot, not an fd. */
	OPENSNOOP_EV_FIXED_SLOT = 1 << 8,
	/* latency_ns holds how long the open took (with --latency; unknown for a syscall that
	 * began before tracing did). */
	OPENSNOOP_EV_LATENCY = 1 << 9,
};

/* One open, as a ring-buffer record: this header, then path_len bytes of the path
 * as passed (no NUL), then full_len bytes of the resolved path (no NUL).
 *
 * The resolved path is as the kernel's mount tree has it (the host's view); its first
 * root_len bytes are the path of the process's root directory, so the path the process
 * itself sees (after chroot) is what follows them. */
struct opensnoop_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() when the open ended */
	__u64 flags;        /* open flags (O_*) as the caller passed them */
	__u64 cgroup_id;    /* cgroup v2 id of the task (0 unless asked for) */
	__u64 latency_ns;   /* time the open took (0 unless asked for) */
	__u32 pid;          /* thread-group id (the process), in the initial pid namespace */
	__u32 tid;          /* thread id */
	__u32 uid;
	__s32 ret;          /* fd (>= 0) or -errno */
	__u32 mode;         /* creation mode */
	__s32 dirfd;        /* directory fd for *at() opens (mount fd for open_by_handle_at),
	                     * AT_FDCWD (-100) otherwise */
	__u32 fixed_slot;   /* io_uring fixed-file slot, with OPENSNOOP_EV_FIXED_SLOT */
	__u16 path_len;
	__u16 full_len;
	__u16 root_len;
	__u16 event_flags;  /* enum opensnoop_event_flag */
	enum opensnoop_source source;
	__u8 reserved[3];
	char comm[OPENSNOOP_COMM_LEN];
};

#define OPENSNOOP_EVENT_SIZE 88

/* Bytes of a name read from a process: room for two past PATH_MAX, to tell a name cut there
 * from one that ends exactly there. */
#define OPENSNOOP_PATH_READ (OPENSNOOP_PATH_MAX + 2)

/* An io_uring open between its submission and its completion (the pending_uring map's value):
 * the event so far (ts_ns is the submission time) and the name. */
struct opensnoop_uring_open {
	struct opensnoop_event ev;
	char path[OPENSNOOP_PATH_READ];
};

/* Indexes of the per-CPU counters map. */
enum opensnoop_counter {
	/* Events the ring buffer had no room for, or io_uring opens too many to track. */
	OPENSNOOP_COUNTER_LOST = 0,
	/* Processes that joined the followed command's tree, minus those that exited: the sum
	 * over CPUs (modulo 2^64) is the number of traced processes alive. */
	OPENSNOOP_COUNTER_TRACED_LIVE = 1,
	/* Opens counted in no summary row because the table was full, and those of them that failed. */
	OPENSNOOP_COUNTER_OTHER = 2,
	OPENSNOOP_COUNTER_OTHER_FAILED = 3,
	/* Path names of summary rows the names ring had no room for. */
	OPENSNOOP_COUNTER_NAMES_LOST = 4,
	/* Opens a filter dropped (counted only when asked: --metrics). */
	OPENSNOOP_COUNTER_FILTERED = 5,
	OPENSNOOP_COUNTER_MAX = 6,
};

/* ---- summaries counted in the kernel (--summary) ---- */

/* What a summary row is counted by (summary_key bits; any combination). */
enum opensnoop_summary_by {
	OPENSNOOP_BY_COMM = 1 << 0,
	OPENSNOOP_BY_PATH = 1 << 1,
	OPENSNOOP_BY_PID = 1 << 2,
	OPENSNOOP_BY_ERRNO = 1 << 3,
	OPENSNOOP_BY_CGROUP = 1 << 4,
};

/* The distinct errnos a row keeps its own counts of (the first ones seen). */
#define OPENSNOOP_ERRNO_SLOTS 4
/* Latency histogram: bucket i counts opens that took [2^i, 2^(i+1)) ns (bucket 0 also 0 ns,
 * the last one everything longer). */
#define OPENSNOOP_LATENCY_BUCKETS 40

/* A summary table's key: fields not counted by are zero. */
struct opensnoop_summary_key {
	__u64 path_hash;    /* 64-bit hash of the path's bytes (its name arrives on the names ring) */
	__u64 cgroup_id;
	__u32 pid;
	__u32 error;        /* errno, 0 for success */
	char comm[OPENSNOOP_COMM_LEN];
};

struct opensnoop_summary_value {
	__u64 count;
	__u64 failed;
	__u64 latency_max_ns;
	__u32 errnos[OPENSNOOP_ERRNO_SLOTS];
	__u32 errno_counts[OPENSNOOP_ERRNO_SLOTS];
	__u32 latency[OPENSNOOP_LATENCY_BUCKETS];
};

/* A record of the names ring: the path a path_hash stands for (len bytes follow, no NUL). */
struct opensnoop_path_name {
	__u64 path_hash;
	__u16 len;
	__u16 truncated;    /* the path was cut (at PATH_MAX, or at its root end) */
	__u16 unreadable;   /* no path: the name could not be read from the process */
	__u16 reserved;
};

#endif
