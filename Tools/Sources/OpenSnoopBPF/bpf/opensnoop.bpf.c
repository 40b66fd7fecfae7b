// SPDX-License-Identifier: GPL-2.0
/* opensnoop's kernel side: one record per file open, filtered before it takes ring space.
 *
 * User space picks the programs to load (OpenSnoopProgram.swift):
 *  - raw: raw_sys_exit, at the raw sys_exit tracepoint, keeps the opens among every syscall's
 *    ends, native and 32-bit (ia32, x32: the per-syscall tracepoints never show those).
 *    raw_sys_exit_basic is the same without path walks, path hashes and compare-and-swap: a
 *    verifier before 5.17 refuses a program that contains a loop body at all (before 5.12, a
 *    compare-and-swap), reachable or not.
 *  - fexit: at the end of do_sys_openat2 and do_handle_open, which every open syscall goes
 *    through: nothing runs for other syscalls, and no thread is put on the slow syscall path.
 *  - tracepoints: one program attached at every sys_exit_open* tracepoint, native opens only.
 *  - io_uring submission, completion and failed preparation; fork and exit, to follow a command.
 * Every open ends in one global function, finish_event() (finish_event_basic() without path
 * walks), which the verifier checks once per program. The open being built lives in a per-CPU
 * scratch slot, one per kind of program: programs that interrupt each other on a CPU never
 * share one.
 *
 * At start libbpf looks each type read with CO-RE up in every type of the kernel's BTF (about
 * 1 ms each): layouts the kernel's ABI fixes, or that have not changed in its whole history,
 * are read without CO-RE, and a struct embedded in another is read through the outer one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "opensnoop_event.h"

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_LARGEFILE 0100000
#define O_PATH 010000000
#define O_TMPFILE_BIT 020000000
#define IORING_FILE_INDEX_ALLOC (~0U)

char LICENSE[] SEC("license") = "GPL";

/* Layouts the kernel's ABI fixes (UAPI, a syscall tracepoint's format, x86-64's saved registers
 * as ptrace has them). */
struct uapi_open_how { __u64 flags, mode, resolve; };
struct uapi_pidns_info { __u32 pid, tgid; };
struct uapi_io_uring_sqe {
	__u8 opcode, flags;
	__u16 ioprio;
	__s32 fd;
	__u64 off_addr2, addr;
	__u32 len, open_flags;
};
struct uapi_io_uring_cqe { __u64 user_data; __s32 res; __u32 flags; };
struct syscall_enter_args { __u64 common; long id; unsigned long args[6]; };
struct syscall_exit_args { __u64 common; long id, ret; };
struct uapi_pt_regs { __u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax; };
/* Kernel structs unchanged since long before 5.10: struct qstr (little-endian); the first
 * member of struct filename and of struct proc_ns_operations is `name`. */
struct kqstr { __u32 hash, len; const unsigned char *name; };

/* The offset of `field` inside the struct that `outer` embeds as `member`. */
#define EMBEDDED_OFFSET(outer, member, field) \
	(bpf_core_field_offset(outer, member.field) - bpf_core_field_offset(outer, member))

/* A struct path copied whole: two pointers, which CONFIG_RANDSTRUCT may put in either order, so
 * found at the offsets fs_struct.root has them (the one struct path type, no CO-RE type of its
 * own). */
struct kpath { char bytes[16]; };
#define PATH_DENTRY(p) (*(struct dentry **)((p)->bytes + EMBEDDED_OFFSET(struct fs_struct, root, dentry)))
#define PATH_MNT(p) (*(struct vfsmount **)((p)->bytes + EMBEDDED_OFFSET(struct fs_struct, root, mnt)))

/* ---- configuration, set by user space before load ---- */
const volatile __u8 task_filters = 0;        /* enum opensnoop_task_filter */
const volatile __u64 pidns_dev = 0;          /* -p/-t ids are in this pid namespace (ino 0: the */
const volatile __u64 pidns_ino = 0;          /* kernel's own numbering) */
const volatile bool failed_only = false;
const volatile __u8 n_comms = 0;             /* comm must contain one of targ_comm[i][0..comm_len[i]) */
const volatile __u8 comm_len[OPENSNOOP_MAX_COMMS] = {};
const volatile char targ_comm[OPENSNOOP_MAX_COMMS][OPENSNOOP_COMM_LEN] = {};
const volatile __u8 targ_accmodes = 0;       /* flags filter: access mode N where bit N is set, */
const volatile __u8 n_flag_masks = 0;        /* or all bits of one of these masks */
const volatile __u64 flag_masks[OPENSNOOP_MAX_FLAG_MASKS] = {};
const volatile __u8 n_cgroup_trees = 0;      /* task must be under one of cgroup_tree[0..n) */
const volatile __u8 n_prefixes = 0;          /* path must start with one of the prefixes */
const volatile __u16 prefix_len[OPENSNOOP_MAX_PREFIXES] = {};
const volatile char prefixes[OPENSNOOP_MAX_PREFIXES][OPENSNOOP_PREFIX_MAX] = {};
const volatile __u64 wakeup_bytes = 0;       /* wake the reader once this much is pending */
const volatile bool full_path = false;       /* send the resolved path (-F) */
const volatile bool trace_compat = false;    /* raw and fexit modes: 32-bit opens too */
const volatile bool want_cgroup = false;     /* fill opensnoop_event.cgroup_id */
const volatile bool emit_events = true;      /* send each open (off for --summary alone) */
const volatile __u8 summary_by = 0;          /* count opens in `summary` by these keys (0: no) */
const volatile bool want_latency = false;    /* time each open from its start (--latency) */
const volatile __u64 slower_ns = 0;          /* only opens that took at least this long */
const volatile bool count_filtered = false;  /* count opens the filters drop */
const volatile bool per_cpu_rings = false;   /* one events ring per CPU (cpu_events) */

/* ---- set after load ---- */
__u32 self_tgid = 0;                         /* opensnoop's own process: never traced */

/* ---- maps ---- */
/* A map's definition (`struct MAP_DEF(...) name`; named, the type of a map of maps' maps). */
#define MAP_DEF(kind, entries, ktype, vtype, ...) \
	{ __uint(type, kind); __uint(max_entries, entries); __type(key, ktype); __type(value, vtype); __VA_ARGS__ }
#define MAP(name, ...) struct MAP_DEF(__VA_ARGS__) name SEC(".maps")
#define NO_PREALLOC __uint(map_flags, BPF_F_NO_PREALLOC);
#define RINGBUF(size) { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, size); }
/* An array of one map, or one a CPU, of type `inner`, which user space makes and puts there. */
#define MAP_OF_MAPS(name, inner)                                                                 \
	struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, __u32); \
		 __array(values, inner); } name SEC(".maps")

struct RINGBUF(8 << 20) events SEC(".maps");
/* Per-CPU rings: cpu_events[cpu] is that CPU's ring. */
struct cpu_ring RINGBUF(4096);
MAP_OF_MAPS(cpu_events, struct cpu_ring);

MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, OPENSNOOP_COUNTER_MAX, __u32, __u64);

/* Resolving a path: components are prepended from the end of buf (WALK_END). */
#define WALK_END OPENSNOOP_PATH_MAX
#define NAME_MAX 255
#define MAX_COMPONENTS 128
#define NOT_SEEN 0xFFFFFFFF
#define INLINE_MAX 40  /* bytes read with a dentry where its inline (short) name may be */
struct walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *mnt_root;     /* mnt's root dentry (read once per mount, not per step) */
	struct dentry *root_dentry;  /* the process's root directory */
	struct mount *root_mnt;
	struct kpath path;           /* a path read from the kernel (file, cwd or root) */
	void *pprev;                 /* the dentry's d_hash.pprev: NULL once unhashed (deleted) */
	struct dentry *parent;       /* ... its d_parent */
	struct kqstr name;           /* ... its d_name (pprev, parent and name read together) */
	struct inode *inode;         /* ... its d_inode and what follows it: its inline name, */
	char iname[INLINE_MAX];      /* read with them where they are adjacent */
	__u32 pos;                   /* the path is buf[pos..WALK_END) */
	__u32 root_pos;              /* pos when the walk met the process's root, or NOT_SEEN */
	__u32 cut;                   /* stopped before the top (too deep or too long) */
	__u32 done;                  /* reached the top of the mount tree */
	__u32 first;                 /* the next step is the first (of the dentry walked from) */
	__u32 unlinked;              /* the dentry walked from is deleted (d_unlinked) */
	char buf[WALK_END + NAME_MAX + 1];
};

/* An open syscall as its exit hook saw it: its first four arguments (by the native or the ia32
 * convention, as its ABI has them). Kept in the slot, not in registers, so that the verifier
 * walks what follows once, not once for each syscall and ABI. */
struct open_call {
	__u64 arg[4];
	long nr;
	__u32 source;
	__u32 compat;  /* a 32-bit caller (ia32 or x32) */
};

/* Event under construction: the header, then the path as passed at data[0] (read with room
 * for two bytes past PATH_MAX, to tell a cut name from a complete one), then the resolved
 * path right after it (up to a directory of PATH_MAX, "/", and a name of PATH_MAX); then what
 * each kind of hook needs besides (the syscall, a summary key, the path walk). */
#define PATH_READ OPENSNOOP_PATH_READ
#define DATA_SIZE (OPENSNOOP_PATH_MAX * 4)
struct scratch {
	struct opensnoop_event ev;
	char data[DATA_SIZE];
	struct open_call call;
	struct opensnoop_summary_key key;
	struct walk walk;
};

/* One scratch slot per program kind: a program that interrupts another on its CPU (an
 * io_uring completion in an interrupt, say) never writes into the other's open. */
enum scratch_slot { SLOT_SYSCALL, SLOT_URING_SUBMIT, SLOT_URING_COMPLETE, SLOT_URING_FAILED, SLOTS };
MAP(scratch, BPF_MAP_TYPE_PERCPU_ARRAY, SLOTS, __u32, struct scratch);

MAP(pid_filter, BPF_MAP_TYPE_HASH, 1024, __u32, __u8);
MAP(tid_filter, BPF_MAP_TYPE_HASH, 1024, __u32, __u8);
MAP(uid_filter, BPF_MAP_TYPE_HASH, 1024, __u32, __u8);
MAP(traced_pids, BPF_MAP_TYPE_HASH, 65536, __u32, __u8);
/* BCC's --cgroupmap and --mntnsmap: replaced by the user's pinned maps. */
MAP(cgroup_ids, BPF_MAP_TYPE_HASH, 1024, __u64, __u64);
MAP(mntns_ids, BPF_MAP_TYPE_HASH, 1024, __u64, __u64);
MAP(cgroup_tree, BPF_MAP_TYPE_CGROUP_ARRAY, OPENSNOOP_MAX_CGROUPS, __u32, __u32);

/* io_uring: an open as seen at submission (identity, flags, name), until its completion.
 * At most this many in flight; user space drops entries whose completion never came. */
MAP(pending_uring, BPF_MAP_TYPE_HASH, 1024, __u64, struct opensnoop_uring_open, NO_PREALLOC);

/* --summary: the table in use is summary[0]. User space makes the tables (two, of
 * --summary-capacity rows) and puts one there (only with --summary: a map-in-map update waits
 * for an RCU grace period); it swaps in the other (the swap waits until no program still uses
 * the old one) and reads the old one. */
struct summary_table MAP_DEF(BPF_MAP_TYPE_HASH, 4096, struct opensnoop_summary_key,
			     struct opensnoop_summary_value, NO_PREALLOC);
MAP_OF_MAPS(summary, struct summary_table);

/* The path behind each summary path_hash, sent when its row is first made in a table. */
struct RINGBUF(256 << 10) names SEC(".maps");

const struct opensnoop_summary_value empty_row = {};

/* --latency: when the current syscall of each thread began (by thread id; an entry left by a
 * thread that died inside an open is evicted in time). */
struct syscall_start { __u64 ts_ns; long nr; };
MAP(starts, BPF_MAP_TYPE_LRU_HASH, 16384, __u32, struct syscall_start);

/* ---- small helpers ---- */

static __always_inline struct scratch *get_scratch(__u32 slot)
{
	return bpf_map_lookup_elem(&scratch, &slot);
}

static __always_inline void count(__u32 index, __u64 delta)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &index);
	if (n)
		*n += delta;
}

/* A filter dropped an open: counted only when asked (the count costs a map update per open). */
static __always_inline bool drop(void)
{
	if (count_filtered)
		count(OPENSNOOP_COUNTER_FILTERED, 1);
	return false;
}

/* The current task, for helper reads (BPF_CORE_READ) only. */
static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* ---- filters ---- */

/* Whether s starts with the len (at most max) bytes of pattern. */
static __always_inline bool starts_with(const char *s, const volatile char *pattern, __u32 len, __u32 max)
{
	for (__u32 i = 0; i < max && i < len; i++)
		if (s[i] != pattern[i])
			return false;
	return true;
}

static __always_inline bool comm_matches(const char *comm)
{
	for (__u32 n = 0; n < OPENSNOOP_MAX_COMMS && n < n_comms; n++) {
		__u32 len = comm_len[n];
		for (__u32 start = 0; start < OPENSNOOP_COMM_LEN - 1 && start + len < OPENSNOOP_COMM_LEN; start++)
			if (starts_with(&comm[start], targ_comm[n], len, OPENSNOOP_COMM_LEN - 1))
				return true;
	}
	return false;
}

static __always_inline bool prefix_allowed(const char *path, __u32 len)
{
	for (__u32 p = 0; p < OPENSNOOP_MAX_PREFIXES && p < n_prefixes; p++)
		if (prefix_len[p] <= len && starts_with(path, prefixes[p], prefix_len[p], OPENSNOOP_PREFIX_MAX))
			return true;
	return false;
}

static __always_inline bool flags_match(__u64 flags)
{
	if ((!targ_accmodes && !n_flag_masks) || ((targ_accmodes >> (flags & 3)) & 1))
		return true;
	for (__u32 i = 0; i < OPENSNOOP_MAX_FLAG_MASKS && i < n_flag_masks; i++)
		if ((flags & flag_masks[i]) == flag_masks[i])
			return true;
	return false;
}

static __always_inline bool in_cgroup_trees(void)
{
	for (__u32 i = 0; i < OPENSNOOP_MAX_CGROUPS && i < n_cgroup_trees; i++)
		if (bpf_current_task_under_cgroup(&cgroup_tree, i) == 1)
			return true;
	return false;
}

/* Whether task filter `bit` is off, or `key` is in its map. */
#define KEY_ALLOWED(bit, map, key) (!(task_filters & (bit)) || bpf_map_lookup_elem(map, key))

/* The pid/tid filters, with ids as opensnoop's pid namespace numbers them when it runs in a
 * child namespace (the kernel's ids are those of the initial namespace). */
static __always_inline bool ids_allowed(__u32 pid, __u32 tid)
{
	if (!(task_filters & (OPENSNOOP_FILTER_PID | OPENSNOOP_FILTER_TID)))
		return true;
	if (pidns_ino) {
		struct uapi_pidns_info ns = {};
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, (void *)&ns, sizeof(ns)) != 0)
			return false; /* not in that namespace: no id the user could have named */
		pid = ns.tgid;
		tid = ns.pid;
	}
	return KEY_ALLOWED(OPENSNOOP_FILTER_PID, &pid_filter, &pid) && KEY_ALLOWED(OPENSNOOP_FILTER_TID, &tid_filter, &tid);
}

/* Every filter that needs only the current task. */
static __always_inline bool task_allowed(__u32 pid, __u32 tid, __u32 uid)
{
	if (!ids_allowed(pid, tid) || !KEY_ALLOWED(OPENSNOOP_FILTER_UID, &uid_filter, &uid) ||
	    !KEY_ALLOWED(OPENSNOOP_FILTER_TRACED, &traced_pids, &pid))
		return false;
	__u64 cg = task_filters & OPENSNOOP_FILTER_CGROUP_IDS ? bpf_get_current_cgroup_id() : 0;
	if (!KEY_ALLOWED(OPENSNOOP_FILTER_CGROUP_IDS, &cgroup_ids, &cg) || (n_cgroup_trees && !in_cgroup_trees()))
		return false;
	__u64 ns = task_filters & OPENSNOOP_FILTER_MNTNS ? BPF_CORE_READ(current_task(), nsproxy, mnt_ns, ns.inum) : 0;
	return KEY_ALLOWED(OPENSNOOP_FILTER_MNTNS, &mntns_ids, &ns);
}

/* ---- building an event ---- */

/* First step of every event: the task filters and, if the open is wanted, the task's identity
 * and the rest zeroed. Nothing else is read before this, so a filtered-out open costs little.
 * `result_known`: ret is the open's result (not at io_uring submission). */
static __always_inline bool begin_event(struct scratch *s, long ret, bool result_known)
{
	if (failed_only && result_known && ret >= 0)
		return drop();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (pid == self_tgid)
		return false;
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	if (n_comms && !comm_matches(s->ev.comm))
		return drop();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	if (!task_allowed(pid, tid, uid))
		return drop();
	__builtin_memset(&s->ev, 0, offsetof(struct opensnoop_event, comm));
	s->ev.pid = pid;
	s->ev.tid = tid;
	s->ev.uid = uid;
	s->ev.ret = ret;
	if (want_cgroup)
		s->ev.cgroup_id = bpf_get_current_cgroup_id();
	return true;
}

/* The open's arguments, and the flags filter on them; false if the filter drops it. */
static __always_inline bool set_open(struct scratch *s, __u8 source, int dirfd, __u64 flags, __u32 mode)
{
	if (!flags_match(flags))
		return drop();
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.source = source;
	s->ev.dirfd = dirfd;
	s->ev.flags = flags;
	s->ev.mode = mode;
	return true;
}

/* Copies the path string (user or kernel memory) into s->data. A name longer than
 * OPENSNOOP_PATH_MAX bytes keeps its first OPENSNOOP_PATH_MAX and is marked. */
static __always_inline void read_path(struct scratch *s, const char *path, bool user)
{
	long n = user ? bpf_probe_read_user_str(s->data, PATH_READ, path)
		      : bpf_probe_read_kernel_str(s->data, PATH_READ, path);
	if (n <= 0) {
		s->ev.event_flags |= OPENSNOOP_EV_PATH_UNREADABLE;
	} else if (n == PATH_READ) {
		s->ev.path_len = OPENSNOOP_PATH_MAX;
		s->ev.event_flags |= OPENSNOOP_EV_PATH_TRUNCATED;
	} else {
		s->ev.path_len = n - 1;
	}
}

/* The open_how of an openat2 (user memory): its flags and mode. */
static __always_inline void read_open_how(const void *user_how, __u64 *flags, __u32 *mode)
{
	struct uapi_open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), user_how);
	*flags = how.flags;
	*mode = (__u32)how.mode;
}

/* ---- resolved paths, from the kernel's own dentries and mounts ---- */

/* Prepends "/" and a name of len bytes to the walk's path; false if there is no room. The name
 * is read from kernel memory, or with `inline_name` copied from w->iname in 8-byte words: the
 * last word may run up to 7 bytes past the name, into the path already written, which are put
 * back. */
static __always_inline bool prepend(struct walk *w, const void *name, __u32 len, bool inline_name)
{
	__u32 end = w->pos;
	if (len > NAME_MAX || len >= end || end > WALK_END) {
		w->cut = 1;
		return false;
	}
	__u32 pos = end - len - 1;
	/* Hide what clang knows of both, so that it keeps the checks the verifier needs (the
	 * verifiers of 6.1-6.19 do not carry a bound back through a subtraction). */
	barrier_var(pos);
	barrier_var(len);
	if (pos > WALK_END)
		return false;
	w->buf[pos] = '/';
	if (inline_name) {
		__u64 after = *(__u64 *)&w->buf[end];
		for (__u32 i = 0; i < INLINE_MAX / 8 && i * 8 < len; i++)
			*(__u64 *)&w->buf[pos + 1 + i * 8] = *(__u64 *)&w->iname[i * 8];
		*(__u64 *)&w->buf[end] = after;
	} else {
		bpf_probe_read_kernel(&w->buf[pos + 1], len & NAME_MAX, name);
	}
	w->pos = pos;
	return true;
}

/* Appends len bytes (kernel memory) to the resolved path in s->data. */
static __always_inline void append_full(struct scratch *s, const void *src, __u32 len)
{
	__u32 at = s->ev.path_len + s->ev.full_len;
	barrier_var(at);
	barrier_var(len);
	if (at > 2 * OPENSNOOP_PATH_MAX + 1 || len > OPENSNOOP_PATH_MAX)
		return;
	bpf_probe_read_kernel(&s->data[at], len, src);
	s->ev.full_len += len;
	s->ev.event_flags |= OPENSNOOP_EV_FULL_PATH;
}

#define PIPEFS_MAGIC 0x50495045
#define SOCKFS_MAGIC 0x534F434B
#define NSFS_MAGIC 0x6e736673
#define ANON_INODE_FS_MAGIC 0x09041934
#define PSEUDO_MAX 320

/* The name the kernel gives a file with no path (d_path of a dentry with d_dname): a pipe,
 * socket, namespace or anonymous inode, or a file made with no name (memfd: "/memfd:NAME",
 * marked deleted), formatted by bpf_snprintf (5.13) into the walk's buffer and appended. */
static __always_inline void pseudo_name(struct scratch *s, struct dentry *dentry)
{
	static const char pipe_format[] = "pipe:[%llu]", socket_format[] = "socket:[%llu]",
			  ns_format[] = "%s:[%llu]", anon_format[] = "anon_inode:%s", unnamed_format[] = "/%s";
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	unsigned long magic = BPF_CORE_READ(dentry, d_sb, s_magic);
	__u64 args[2] = { BPF_CORE_READ(inode, i_ino), 0 };
	const char *format = magic == PIPEFS_MAGIC ? pipe_format : socket_format;
	if (magic == NSFS_MAGIC) {
		/* the namespace's ns_common->ops->name, found through the one mnt_namespace embeds */
		const char *ns = BPF_CORE_READ(inode, i_private), *ops = NULL;
		args[1] = args[0];
		bpf_probe_read_kernel(&ops, sizeof(ops), ns + EMBEDDED_OFFSET(struct mnt_namespace, ns, ops));
		bpf_probe_read_kernel(&args[0], sizeof(args[0]), ops);
		format = ns_format;
	} else if (magic != PIPEFS_MAGIC && magic != SOCKFS_MAGIC) {
		BPF_CORE_READ_INTO(&args[0], dentry, d_name.name);
		format = magic == ANON_INODE_FS_MAGIC ? anon_format : unnamed_format;
		if (magic != ANON_INODE_FS_MAGIC)
			s->ev.event_flags |= OPENSNOOP_EV_FULL_DELETED;
	}
	s->ev.event_flags |= OPENSNOOP_EV_FULL_PSEUDO;
	long n = bpf_snprintf(s->walk.buf, PSEUDO_MAX, format, args, sizeof(args));
	if (n > PSEUDO_MAX)
		n = PSEUDO_MAX;
	if (n > 1)
		append_full(s, s->walk.buf, n - 1);
}

/* One step of a path walk: notes the process's root, prepends one component or crosses one
 * mount point. The walk's state lives in the map value, so the verifier sees one state per
 * step, not one per path. Returns false when the walk is over. */
static __always_inline bool walk_step(struct walk *w)
{
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	if (dentry == w->root_dentry && mnt == w->root_mnt && w->root_pos == NOT_SEEN)
		w->root_pos = w->pos;
	/* d_hash.pprev, d_parent, d_name, d_inode and what follows it (the inline name, in every
	 * kernel so far), in one read where the kernel keeps them together (they have been adjacent
	 * for years), else one read each; at a mount's root, past the first step, none is needed. */
	__u32 pprev = bpf_core_field_offset(struct dentry, d_hash.pprev);
	bool together = bpf_core_field_offset(struct dentry, d_parent) == pprev + 8 &&
			bpf_core_field_offset(struct dentry, d_name) == pprev + 16 &&
			bpf_core_field_offset(struct dentry, d_inode) == pprev + 32;
	if (dentry != w->mnt_root || w->first) {
		if (together) {
			bpf_probe_read_kernel(&w->pprev, 40 + INLINE_MAX, (char *)dentry + pprev);
		} else {
			BPF_CORE_READ_INTO(&w->pprev, dentry, d_hash.pprev);
			BPF_CORE_READ_INTO(&w->parent, dentry, d_parent);
			BPF_CORE_READ_INTO(&w->name, dentry, d_name);
		}
	}
	struct dentry *parent = w->parent;
	if (w->first) {
		w->first = 0;
		w->unlinked = !w->pprev && parent != dentry;
	}
	if (dentry != w->mnt_root && dentry != parent) {
		/* The name is in w->iname if it points where that was read from. The copy with -F
		 * only: it costs the verifier more than the read it saves elsewhere. */
		__u32 len = w->name.len;
		bool inline_name = full_path && together && len < INLINE_MAX &&
				   (char *)w->name.name == (char *)dentry + pprev + 40;
		if (!prepend(w, w->name.name, len, inline_name))
			return false;
		w->dentry = parent;
		return true;
	}
	struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
	if (up == mnt || dentry != w->mnt_root) {
		w->done = 1; /* the root of the mount tree */
		return false;
	}
	w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
	w->mnt = up;
	w->mnt_root = BPF_CORE_READ(up, mnt.mnt_root);
	return true;
}

/* bpf_loop's body: the verifier checks it once, not once per step. */
static long walk_callback(__u32 index, void *context)
{
	struct walk *w = *(struct walk **)context;
	return w && walk_step(w) ? 0 : 1;
}

/* The struct mount around a vfsmount (read through it: one CO-RE type, not two). */
static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* Writes the path of w->path at the end of w->buf, up to the root of the mount tree, noting
 * where it passed the process's root. Sets w->cut when it stopped early. */
static __always_inline void walk(struct walk *w)
{
	struct mount *mnt = real_mount(PATH_MNT(&w->path));
	w->dentry = PATH_DENTRY(&w->path);
	w->mnt = mnt;
	w->mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	w->cut = 0;
	w->done = 0;
	w->first = 1;
	w->unlinked = 0;
	bpf_loop(MAX_COMPONENTS, walk_callback, &w, 0);
	if (!w->done)
		w->cut = 1; /* too deep, or too long */
	if (w->root_pos == NOT_SEEN && w->dentry == w->root_dentry && w->mnt == w->root_mnt)
		w->root_pos = w->pos;
}

/* The file behind descriptor fd of the current task, or NULL. `fresh`: an fd the open just
 * made, inside the table (which never shrinks), not one the caller named. The fdtable is read
 * through the one files_struct embeds. */
static __always_inline struct file *fd_file(int fd, bool fresh)
{
	const char *fdt = (const char *)BPF_CORE_READ(current_task(), files, fdt);
	struct file **fds = NULL, *file = NULL;
	unsigned int max_fds = 0;
	if (!fdt || fd < 0)
		return NULL;
	if (!fresh) {
		bpf_probe_read_kernel(&max_fds, sizeof(max_fds), fdt + EMBEDDED_OFFSET(struct files_struct, fdtab, max_fds));
		if (fd >= max_fds)
			return NULL;
	}
	bpf_probe_read_kernel(&fds, sizeof(fds), fdt + EMBEDDED_OFFSET(struct files_struct, fdtab, fd));
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* Sets the resolved path after the path as passed: for an open that produced an fd, the path
 * of the file opened (symlinks followed, ".." as the kernel walked it); otherwise the directory
 * the name was relative to (dirfd, the cwd, or the root for an absolute name) joined with the
 * name; for open_by_handle_at that failed, the mount fd's path. */
static __always_inline void resolve_path(struct scratch *s)
{
	struct walk *w = &s->walk;
	if (s->ev.event_flags & OPENSNOOP_EV_PATH_UNREADABLE)
		return;
	long ret = s->ev.ret;
	bool has_fd = ret >= 0 && !(s->ev.event_flags & OPENSNOOP_EV_FIXED_SLOT);
	bool handle = s->ev.source == OPENSNOOP_SRC_OPEN_BY_HANDLE_AT;
	bool absolute = s->ev.path_len > 0 && s->data[0] == '/';
	int dirfd = s->ev.dirfd;
	struct fs_struct *fs = BPF_CORE_READ(current_task(), fs);
	BPF_CORE_READ_INTO(&w->path, fs, root);
	w->root_dentry = PATH_DENTRY(&w->path);
	w->root_mnt = real_mount(PATH_MNT(&w->path));
	w->root_pos = NOT_SEEN;
	w->pos = WALK_END;
	if (has_fd || handle) {
		struct file *file = fd_file(has_fd ? ret : dirfd, has_fd);
		if (!file)
			return;
		BPF_CORE_READ_INTO(&w->path, file, f_path);
		struct dentry *dentry = PATH_DENTRY(&w->path);
		struct mount *mnt = real_mount(PATH_MNT(&w->path));
		/* d_path's test for a name made by d_dname (d_op is NULL for most files: one read) */
		const struct dentry_operations *op = BPF_CORE_READ(dentry, d_op);
		void *d_dname = NULL;
		if (op)
			BPF_CORE_READ_INTO(&d_dname, op, d_dname);
		if (d_dname && (BPF_CORE_READ(dentry, d_parent) != dentry ||
				dentry != BPF_CORE_READ(mnt, mnt.mnt_root))) {
			pseudo_name(s, dentry);
			return;
		}
	} else if (!absolute && dirfd == AT_FDCWD) {
		BPF_CORE_READ_INTO(&w->path, fs, pwd);
	} else if (!absolute) {
		struct file *dir = fd_file(dirfd, false);
		if (!dir) {
			/* no such directory fd: the name as passed is all there is */
			s->ev.event_flags |= OPENSNOOP_EV_FULL_JOINED;
			append_full(s, s->data, s->ev.path_len);
			return;
		}
		BPF_CORE_READ_INTO(&w->path, dir, f_path);
	}
	walk(w);
	if (w->cut)
		s->ev.event_flags |= OPENSNOOP_EV_FULL_TRUNCATED;
	if (w->unlinked)
		s->ev.event_flags |= OPENSNOOP_EV_FULL_DELETED;
	__u32 pos = w->pos, root_pos = w->root_pos;
	if (pos > WALK_END)
		return;
	if (root_pos != NOT_SEEN && root_pos >= pos)
		s->ev.root_len = root_pos - pos;
	append_full(s, &w->buf[pos], WALK_END - pos);
	if (has_fd || handle)
		return;
	s->ev.event_flags |= OPENSNOOP_EV_FULL_JOINED;
	if (!absolute)
		append_full(s, "/", 1);
	append_full(s, s->data, s->ev.path_len);
}

/* The path filter, on the path as passed or on the resolved path (either view). */
static __always_inline bool event_path_allowed(struct scratch *s)
{
	if (n_prefixes == 0)
		return true;
	__u32 len = s->ev.path_len;
	if (prefix_allowed(s->data, len))
		return true;
	__u32 full = s->ev.full_len;
	if (!full || len > OPENSNOOP_PATH_MAX)
		return false;
	if (prefix_allowed(&s->data[len], full))
		return true;
	__u32 root = s->ev.root_len;
	if (root == 0 || root >= full || root > OPENSNOOP_PATH_MAX)
		return false;
	return prefix_allowed(&s->data[len + root], full - root);
}

/* ---- summaries ---- */

struct hash_context {
	struct scratch *s;
	__u32 offset, length;
	__u64 hash;
};

/* One 8-byte step of the path hash (FNV-1a over words); stops past the end. */
static long hash_callback(__u32 index, void *context)
{
	struct hash_context *h = context;
	__u32 done = index * 8;
	if (done >= h->length)
		return 1;
	__u32 at = h->offset + done;
	if (at > DATA_SIZE - 8 || !h->s)
		return 1;
	__u64 word = *(__u64 *)&h->s->data[at];
	__u32 left = h->length - done;
	if (left < 8)
		word &= (1ULL << (left * 8)) - 1;
	h->hash = (h->hash ^ word) * 0x100000001b3ULL;
	return 0;
}

/* Sends the path behind a new summary row's hash (`unreadable`: the empty name of an open whose
 * name could not be read). */
static __always_inline void send_name(struct scratch *s, struct hash_context *h, __u64 hash, bool unreadable)
{
	__u32 offset = h->offset, length = h->length;
	if (length > 2 * OPENSNOOP_PATH_MAX || offset > 2 * OPENSNOOP_PATH_MAX + 1)
		return;
	struct opensnoop_path_name *name = bpf_ringbuf_reserve(&names, sizeof(*name) + 2 * OPENSNOOP_PATH_MAX, 0);
	if (!name) {
		count(OPENSNOOP_COUNTER_NAMES_LOST, 1);
		return;
	}
	name->path_hash = hash;
	name->len = length;
	name->truncated = (s->ev.event_flags & (OPENSNOOP_EV_PATH_TRUNCATED | OPENSNOOP_EV_FULL_TRUNCATED)) != 0;
	name->unreadable = unreadable;
	name->reserved = 0;
	bpf_probe_read_kernel((char *)(name + 1), length, &s->data[offset]);
	bpf_ringbuf_submit(name, 0);
}

/* Atomic adds whose result is not used, in the form every kernel takes (clang -mcpu=v3 emits the
 * fetching form, which 5.10's verifier refuses anywhere in a program). */
static __always_inline void add64(__u64 *counter, __u64 delta)
{
	asm volatile("lock *(u64 *)(%0 + 0) += %1" : : "r"(counter), "r"(delta) : "memory");
}

static __always_inline void add32(__u32 *counter, __u32 delta)
{
	asm volatile("lock *(u32 *)(%0 + 0) += %1" : : "r"(counter), "w"(delta) : "memory");
}

/* Replaces `old` at p with `new`, by compare-and-swap when `full`, else by a plain store; returns
 * what was there (`old` if it was replaced). */
#define SWAP(full, p, old, new) ((full) ? __sync_val_compare_and_swap(p, old, new) : (*(p) = (new), (old)))

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;
	for (__u32 shift = 32; shift; shift >>= 1)
		if (v >> shift) {
			v >>= shift;
			r += shift;
		}
	return r < OPENSNOOP_LATENCY_BUCKETS ? r : OPENSNOOP_LATENCY_BUCKETS - 1;
}

/* Counts one open in its row of the summary table in use; a full table counts it as other.
 * Without `full`, no path hash, and two CPUs updating one row's errno slot or latency maximum at
 * the same instant can miscount it. */
static __always_inline void count_open(struct scratch *s, bool full)
{
	struct opensnoop_summary_key *key = &s->key;
	struct hash_context h = { .s = s, .hash = 0xcbf29ce484222325ULL };
	__builtin_memset(key, 0, sizeof(*key));
	if (summary_by & OPENSNOOP_BY_COMM)
		__builtin_memcpy(key->comm, s->ev.comm, sizeof(key->comm));
	if (summary_by & OPENSNOOP_BY_PID)
		key->pid = s->ev.pid;
	if (summary_by & OPENSNOOP_BY_ERRNO)
		key->error = s->ev.ret < 0 ? -s->ev.ret : 0;
	if (summary_by & OPENSNOOP_BY_CGROUP)
		key->cgroup_id = s->ev.cgroup_id;
	bool by_path = full && (summary_by & OPENSNOOP_BY_PATH);
	bool unreadable = false;
	if (by_path) {
		/* the resolved path as the process sees it with -F and for open_by_handle_at, the
		 * path as passed otherwise (an unreadable one a row apart from the empty name) */
		h.length = s->ev.path_len;
		if (s->ev.full_len && (full_path || s->ev.source == OPENSNOOP_SRC_OPEN_BY_HANDLE_AT)) {
			h.offset = s->ev.path_len + s->ev.root_len;
			h.length = s->ev.full_len - s->ev.root_len;
		} else {
			unreadable = s->ev.event_flags & OPENSNOOP_EV_PATH_UNREADABLE;
		}
		bpf_loop(DATA_SIZE / 8, hash_callback, &h, 0);
		key->path_hash = h.hash ^ h.length ^ (unreadable ? ~0ULL : 0);
	}
	__u32 zero = 0;
	void *table = bpf_map_lookup_elem(&summary, &zero);
	if (!table)
		return;
	struct opensnoop_summary_value *row = bpf_map_lookup_elem(table, key);
	if (!row) {
		if (bpf_map_update_elem(table, key, &empty_row, BPF_NOEXIST) == 0 && by_path)
			send_name(s, &h, key->path_hash, unreadable);
		row = bpf_map_lookup_elem(table, key);
		if (!row) {
			count(OPENSNOOP_COUNTER_OTHER, 1);
			if (s->ev.ret < 0)
				count(OPENSNOOP_COUNTER_OTHER_FAILED, 1);
			return;
		}
	}
	add64(&row->count, 1);
	if (s->ev.ret < 0) {
		__u32 error = -s->ev.ret;
		add64(&row->failed, 1);
		for (int i = 0; i < OPENSNOOP_ERRNO_SLOTS; i++) {
			__u32 slot = row->errnos[i];
			if (slot == 0)
				slot = SWAP(full, &row->errnos[i], 0, error) ?: error;
			if (slot == error) {
				add32(&row->errno_counts[i], 1);
				break;
			}
		}
	}
	if (s->ev.event_flags & OPENSNOOP_EV_LATENCY) {
		__u64 latency = s->ev.latency_ns;
		add32(&row->latency[log2_bucket(latency)], 1);
		for (int i = 0; i < 4; i++) {
			__u64 max = row->latency_max_ns;
			if (latency <= max || SWAP(full, &row->latency_max_ns, max, latency) == max)
				break;
		}
	}
}

/* ---- latency ---- */

/* Notes when the current thread's syscall `nr` began. */
static __always_inline void note_start(long nr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct syscall_start start = { .ts_ns = bpf_ktime_get_ns(), .nr = nr };
	bpf_map_update_elem(&starts, &tid, &start, BPF_ANY);
}

/* Sets the open's latency, from when it began (0: unknown) to ts_ns; false (and counted as
 * filtered) if --slower wants it and it is not known to have taken that long. */
static __always_inline bool set_latency(struct scratch *s, __u64 start)
{
	if (start && start <= s->ev.ts_ns) {
		s->ev.latency_ns = s->ev.ts_ns - start;
		s->ev.event_flags |= OPENSNOOP_EV_LATENCY;
	}
	if (!slower_ns || ((s->ev.event_flags & OPENSNOOP_EV_LATENCY) && s->ev.latency_ns >= slower_ns))
		return true;
	return drop();
}

/* The syscall's latency, if its start was seen. */
static __always_inline bool take_latency(struct scratch *s, long nr)
{
	if (!want_latency)
		return true;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct syscall_start *start = bpf_map_lookup_elem(&starts, &tid);
	if (!start || start->nr != nr)
		return set_latency(s, 0);
	__u64 began = start->ts_ns;
	bpf_map_delete_elem(&starts, &tid);
	return set_latency(s, began);
}

/* ---- sending ---- */

static __always_inline long wakeup_flag(void *ring)
{
	if (wakeup_bytes == 0)
		return 0;
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= wakeup_bytes
		? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Sends the header and its path bytes to the shared ring, or to this CPU's own ring with
 * per-CPU rings; counts the event as lost if the ring is full. */
static __always_inline void submit(struct scratch *s)
{
	__u32 len = s->ev.path_len + s->ev.full_len;
	if (len > DATA_SIZE)
		len = DATA_SIZE;
	void *ring = &events;
	if (per_cpu_rings) {
		__u32 cpu = bpf_get_smp_processor_id();
		ring = bpf_map_lookup_elem(&cpu_events, &cpu);
	}
	if (!ring || bpf_ringbuf_output(ring, s, sizeof(s->ev) + len, wakeup_flag(ring)) != 0)
		count(OPENSNOOP_COUNTER_LOST, 1);
}

#define FULL_PATH_FLAGS (OPENSNOOP_EV_FULL_PATH | OPENSNOOP_EV_FULL_TRUNCATED | OPENSNOOP_EV_FULL_DELETED | \
			 OPENSNOOP_EV_FULL_JOINED | OPENSNOOP_EV_FULL_PSEUDO)

/* Last step of every open once its name is in the slot: resolves what needs resolving, applies
 * the path filter, counts it, and sends it. `full`: with path walks and hashes (bpf_loop, 5.17)
 * and compare-and-swap (5.12), which raw_sys_exit_basic's kernels refuse. */
static __always_inline int finish(__u32 slot, bool full)
{
	struct scratch *s = get_scratch(slot);
	if (!s)
		return 0;
	bool handle = s->ev.source == OPENSNOOP_SRC_OPEN_BY_HANDLE_AT;
	if (full && (full_path || n_prefixes || handle))
		resolve_path(s);
	if (!event_path_allowed(s))
		return drop();
	if (summary_by)
		count_open(s, full);
	if (!emit_events)
		return 0;
	if (!full_path && !handle) {
		/* resolved for the path filter or a summary only */
		s->ev.full_len = 0;
		s->ev.root_len = 0;
		s->ev.event_flags &= ~FULL_PATH_FLAGS;
	}
	submit(s);
	return 0;
}

/* Global functions: the verifier checks each once for all its callers, instead of once for each
 * way of getting there (each syscall, ABI and io_uring path). Scalars only: 5.10's verifier
 * takes no pointer arguments to global functions (5.12 does). */
__noinline int finish_event(__u32 slot)
{
	return finish(slot, true);
}

__noinline int finish_event_basic(__u32 slot)
{
	return finish(slot, false);
}

/* ---- system calls: one decoder, in every mode ---- */

/* IS_OPEN(nr): whether syscall nr may be an open, of any ABI (32-bit programs on arm64 are not
 * traced). */
#if defined(__TARGET_ARCH_x86)
#define NATIVE_NR(x86, arm64) x86
#define REGS(regs) ((const struct uapi_pt_regs *)(regs))
#define SYSCALL_NR(regs) (REGS(regs)->orig_ax)
#define X32_SYSCALL_BIT 0x40000000
#define TS_COMPAT 0x0002
#define IS_OPEN(nr) (open_source((nr) & ~X32_SYSCALL_BIT, false) || open_source(nr, true))
#elif defined(__TARGET_ARCH_arm64)
#define NATIVE_NR(x86, arm64) arm64
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define IS_OPEN(nr) open_source(nr, false)
#else
#error "opensnoop's BPF program knows the open syscalls of x86 and arm64 only"
#endif

/* The source of syscall nr (native, or ia32 on x86), 0 for a syscall that is no open. */
static __always_inline __u8 open_source(long nr, bool ia32)
{
#define SOURCE_CASE(name, source, x86, i32, arm64) \
	if ((ia32 ? i32 : NATIVE_NR(x86, arm64)) >= 0 && nr == (ia32 ? i32 : NATIVE_NR(x86, arm64))) return source;
	OPENSNOOP_SYSCALLS(SOURCE_CASE)
#undef SOURCE_CASE
	return 0;
}

/* The first four syscall arguments in `regs`, by the native or the ia32 convention: on x86,
 * loads through the registers' BTF pointer rather than helper calls. */
static __always_inline void syscall_args(__u64 *arg, struct pt_regs *regs, bool ia32)
{
#if defined(__TARGET_ARCH_x86)
	const struct uapi_pt_regs *r = REGS(regs);
	arg[0] = ia32 ? (__u32)r->bx : r->di;
	arg[1] = ia32 ? (__u32)r->cx : r->si;
	arg[2] = ia32 ? (__u32)r->dx : r->dx;
	arg[3] = ia32 ? (__u32)r->si : r->r10;
#else
	arg[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	arg[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	arg[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	arg[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
#endif
}

/* Fills in what the open syscall was asked to do, from its arguments in the slot, and reads the
 * name: each syscall's argument layout, once. False if the flags filter drops it. */
static __always_inline bool decode_syscall(struct scratch *s)
{
	__u64 *arg = s->call.arg;
	__u8 source = s->call.source;
	/* openat's layout (openat2's and open_by_handle_at's but for what follows) */
	const char *path = (const char *)arg[1];
	__u64 flags = (__u32)arg[2];
	__u32 mode = (__u32)arg[3];
	int dirfd = (int)arg[0];
	switch (source) {
	case OPENSNOOP_SRC_CREAT: /* open(path, O_CREAT | O_WRONLY | O_TRUNC, mode) */
		arg[2] = arg[1];
		arg[1] = O_CREAT | O_WRONLY | O_TRUNC;
		/* fall through */
	case OPENSNOOP_SRC_OPEN:
		path = (const char *)arg[0];
		flags = (__u32)arg[1];
		mode = (__u32)arg[2];
		dirfd = AT_FDCWD;
		break;
	case OPENSNOOP_SRC_OPENAT2:
		read_open_how((const void *)arg[2], &flags, &mode);
		break;
	case OPENSNOOP_SRC_OPEN_BY_HANDLE_AT:
		path = NULL; /* a handle, not a name */
		mode = 0;
		break;
	}
	/* The mode is used, and kept by the kernel, only when creating: otherwise it is whatever the
	 * register held. */
	if (source != OPENSNOOP_SRC_OPENAT2 && !(flags & (O_CREAT | O_TMPFILE_BIT)))
		mode = 0;
	if (!set_open(s, source, dirfd, flags, mode))
		return false;
	if (path)
		read_path(s, path, true);
	return true;
}

/* Every open syscall ends here, in every mode (libbpf-tools' trace_exit()). */
static __always_inline int syscall_open(struct pt_regs *regs, bool ia32, long nr, long ret,
					__u8 source, bool compat, bool full)
{
	struct scratch *s = get_scratch(SLOT_SYSCALL);
	if (!s)
		return 0;
	s->call.nr = nr;
	s->call.source = source;
	s->call.compat = compat;
	syscall_args(s->call.arg, regs, ia32);
	if (!begin_event(s, ret, true) || !decode_syscall(s) || !take_latency(s, s->call.nr))
		return 0;
	if (s->call.compat)
		s->ev.event_flags |= OPENSNOOP_EV_COMPAT;
	return full ? finish_event(SLOT_SYSCALL) : finish_event_basic(SLOT_SYSCALL);
}

/* raw and fexit modes: a syscall's end, kept if it is an open, native or 32-bit. */
static __always_inline int raw_exit(struct pt_regs *regs, long ret, bool full)
{
	long nr = SYSCALL_NR(regs);
	if (!IS_OPEN(nr))
		return 0;
	bool ia32 = false, compat = false;
#if defined(__TARGET_ARCH_x86)
	ia32 = BPF_CORE_READ(current_task(), thread_info.status) & TS_COMPAT;
	compat = ia32 || (nr & X32_SYSCALL_BIT);
	if (compat && !trace_compat)
		return 0;
	__u8 source = ia32 ? open_source(nr, true) : open_source(nr & ~X32_SYSCALL_BIT, false);
#else
	__u8 source = open_source(nr, false);
#endif
	return source ? syscall_open(regs, ia32, nr, ret, source, compat, full) : 0;
}

/* raw mode. tp_btf: the registers come as a typed argument, so another syscall costs a load
 * and a few compares. */
SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
	return raw_exit(regs, ret, true);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit_basic, struct pt_regs *regs, long ret)
{
	return raw_exit(regs, ret, false);
}

/* raw mode with --latency: when each open syscall began. */
SEC("tp_btf/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long nr)
{
	if (IS_OPEN(nr))
		note_start(nr);
	return 0;
}

/* The current task's saved registers (5.15): the syscall and its arguments. */
static __always_inline struct pt_regs *task_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* fexit mode: the end (and with --latency the start) of a kernel function every open of some
 * syscalls goes through, native and 32-bit: do_sys_openat2 (open, openat, openat2, creat) and
 * do_handle_open (open_by_handle_at). Both take three arguments. It returns an int since 6.18,
 * a long before: an fd or -errno fits either, but only the low half of the register holds it
 * when it is an int. */
#define OPEN_FUNCTION(function, name)                                           \
	SEC("fexit/" #function)                                                 \
	int BPF_PROG(fexit_##name, __u64 arg0, __u64 arg1, __u64 arg2, long ret) \
	{                                                                       \
		return raw_exit(task_regs(), (int)ret, true);                   \
	}                                                                       \
	SEC("fentry/" #function)                                                \
	int BPF_PROG(fentry_##name)                                             \
	{                                                                       \
		note_start(SYSCALL_NR(task_regs()));                            \
		return 0;                                                       \
	}

OPEN_FUNCTION(do_sys_openat2, openat2)
OPEN_FUNCTION(do_handle_open, handle_open)

/* tracepoints mode: one program attached at the exit of every open syscall (and with --latency
 * one at their entry), which tells them apart by the syscall's number: verified once, not once
 * per syscall. These tracepoints fire for native syscalls only. */
SEC("tracepoint")
int tp_sys_exit(struct syscall_exit_args *ctx)
{
	long nr = ctx->id;
	__u8 source = open_source(nr, false);
	return source ? syscall_open(task_regs(), false, nr, ctx->ret, source, false, true) : 0;
}

SEC("tracepoint")
int tp_sys_enter(struct syscall_enter_args *ctx)
{
	note_start(ctx->id);
	return 0;
}

/* ---- io_uring (6.0 and later: the request's command area holds the open) ---- */

static __always_inline bool is_uring_open(__u8 opcode)
{
	return opcode == IORING_OP_OPENAT || opcode == IORING_OP_OPENAT2;
}

/* Keeps an open in pending_uring until its completion, which reports it with its result. */
static __always_inline int pend(struct scratch *s, struct io_kiocb *req)
{
	__u64 key = (__u64)req;
	if (bpf_map_update_elem(&pending_uring, &key, s, BPF_ANY) != 0)
		count(OPENSNOOP_COUNTER_LOST, 1); /* too many opens in flight */
	return 0;
}

/* At submission the request is prepared: its io_open holds the kernel copy of the name. The
 * submitter's identity and the task filters are taken here (the completion may run on an
 * io-wq worker); the rest waits for the result. */
static __always_inline int uring_submitted(struct io_kiocb *req)
{
	if (!is_uring_open(BPF_CORE_READ(req, opcode)))
		return 0;
	struct scratch *s = get_scratch(SLOT_URING_SUBMIT);
	if (!s || !begin_event(s, 0, false))
		return 0;
	struct io_open *open = (struct io_open *)&req->cmd;
	struct uapi_open_how how = {};
	BPF_CORE_READ_INTO(&how, open, how);
	/* io_uring adds O_LARGEFILE to every open but O_PATH ones itself: not the caller's flag. */
	if (!(how.flags & O_PATH))
		how.flags &= ~(__u64)O_LARGEFILE;
	if (!set_open(s, OPENSNOOP_SRC_IO_URING, BPF_CORE_READ(open, dfd), how.flags, (__u32)how.mode))
		return 0;
	__u32 slot = BPF_CORE_READ(open, file_slot);
	if (slot) {
		s->ev.event_flags |= OPENSNOOP_EV_FIXED_SLOT;
		s->ev.fixed_slot = slot == IORING_FILE_INDEX_ALLOC ? IORING_FILE_INDEX_ALLOC : slot - 1;
	}
	/* io_open.filename, the 8 bytes before `how`: a struct filename pointer until 6.19, a
	 * struct delayed_filename holding only that pointer from 7.0 (read there, not through a
	 * flavour of each). */
	const char *filename = NULL, *name = NULL;
	bpf_probe_read_kernel(&filename, sizeof(filename), (char *)open + bpf_core_field_offset(struct io_open, how) - 8);
	bpf_probe_read_kernel(&name, sizeof(name), filename);
	read_path(s, name, false);
	return pend(s, req);
}

/* The same tracepoint before 6.4 was io_uring_submit_sqe (taking the request first from 6.0). */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit_req, struct io_kiocb *req)
{
	return uring_submitted(req);
}

SEC("tp_btf/io_uring_submit_sqe")
int BPF_PROG(uring_submit_sqe, struct io_kiocb *req)
{
	return uring_submitted(req);
}

/* The result arrives here, possibly on an iou-wrk thread of the same process. */
static __always_inline int uring_completed(void *req, int ret)
{
	__u64 key = (__u64)req;
	struct opensnoop_uring_open *pending = bpf_map_lookup_elem(&pending_uring, &key);
	if (!pending)
		return 0;
	struct scratch *s = get_scratch(SLOT_URING_COMPLETE);
	if (!s || (failed_only && ret >= 0)) {
		bpf_map_delete_elem(&pending_uring, &key);
		return drop();
	}
	bpf_probe_read_kernel(s, sizeof(*pending), pending);
	bpf_map_delete_elem(&pending_uring, &key);
	__u64 submitted = s->ev.ts_ns;
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.ret = ret;
	if (!set_latency(s, want_latency ? submitted : 0))
		return 0;
	if ((s->ev.event_flags & OPENSNOOP_EV_FIXED_SLOT) && ret >= 0 && s->ev.fixed_slot == IORING_FILE_INDEX_ALLOC)
		s->ev.fixed_slot = ret; /* the slot the kernel chose */
	return finish_event(SLOT_URING_COMPLETE);
}

/* io_uring_complete's arguments since 6.13: (ctx, req, the completion entry); before, (ctx, req,
 * user_data, res, cflags, extra1, extra2). Which this kernel has, libbpf's CO-RE says at load
 * (its btf_trace_ prototype), and the verifier follows that branch only. */
typedef void (*btf_trace_io_uring_complete___cqe)(void *, struct io_ring_ctx *, void *, struct io_uring_cqe *);

SEC("tp_btf/io_uring_complete")
int uring_complete(__u64 *ctx)
{
	if (bpf_core_type_matches(btf_trace_io_uring_complete___cqe))
		return uring_completed((void *)ctx[1], ((struct uapi_io_uring_cqe *)ctx[2])->res);
	return uring_completed((void *)ctx[1], (int)ctx[3]);
}

/* A request whose preparation failed (bad name pointer, name too long, bad flags) never
 * reaches submission, but it completes (with the error), like any other. */
SEC("tp_btf/io_uring_req_failed")
int BPF_PROG(uring_req_failed, const struct uapi_io_uring_sqe *sqe, struct io_kiocb *req)
{
	__u8 opcode = sqe->opcode;
	__u64 key = (__u64)req;
	if (!is_uring_open(opcode) || bpf_map_lookup_elem(&pending_uring, &key))
		return 0; /* not an open, or submitted already */
	struct scratch *s = get_scratch(SLOT_URING_FAILED);
	if (!s || !begin_event(s, 0, false))
		return 0;
	__u64 flags = sqe->open_flags;
	__u32 mode = sqe->len;
	if (opcode == IORING_OP_OPENAT2)
		read_open_how((const void *)sqe->off_addr2, &flags, &mode);
	if (!set_open(s, OPENSNOOP_SRC_IO_URING, sqe->fd, flags, mode))
		return 0;
	read_path(s, (const char *)sqe->addr, true);
	return pend(s, req);
}

/* ---- following a command: children of traced processes are traced ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ppid = BPF_CORE_READ(parent, tgid);
	__u32 cpid = BPF_CORE_READ(child, tgid);
	if (ppid == cpid)
		return 0; /* a new thread */
	if (ppid != self_tgid && !bpf_map_lookup_elem(&traced_pids, &ppid))
		return 0;
	__u8 one = 1;
	if (bpf_map_update_elem(&traced_pids, &cpid, &one, BPF_NOEXIST) == 0)
		count(OPENSNOOP_COUNTER_TRACED_LIVE, 1);
	return 0;
}

/* A process leaves the traced set when its last thread exits: not when its leader does
 * (pthread_exit, or exec from another thread, which takes the leader's place). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(follow_exit, struct task_struct *task)
{
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	__u32 pid = BPF_CORE_READ(task, tgid);
	if (bpf_map_delete_elem(&traced_pids, &pid) == 0)
		count(OPENSNOOP_COUNTER_TRACED_LIVE, (__u64)-1);
	return 0;
}

/* Run once by user space (BPF_PROG_TEST_RUN runs it in the caller's own context): records
 * opensnoop's process id as the kernel numbers it, whatever pid namespace we are in. */
SEC("raw_tp")
int whoami(void *ctx)
{
	self_tgid = bpf_get_current_pid_tgid() >> 32;
	return 0;
}
