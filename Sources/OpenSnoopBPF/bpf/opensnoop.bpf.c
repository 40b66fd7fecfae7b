// SPDX-License-Identifier: GPL-2.0
/* opensnoop's kernel side: one record per file open, filtered here before any
 * ring-buffer space is used.
 *
 * Hooks (user space picks them before load):
 *  - "regs" mode: one program per syscall exit that reads the arguments from the
 *    task's saved user registers (needs bpf_task_pt_regs, Linux 5.15);
 *  - "pair" mode: enter programs stash the arguments per thread, exit programs
 *    join them (any kernel with syscall tracepoints);
 *  - io_uring: tp_btf on io_uring_submit_req / io_uring_complete / io_uring_req_failed.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "opensnoop_event.h"

#define AT_FDCWD -100
#define ENAMETOOLONG 36
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

char LICENSE[] SEC("license") = "GPL";

/* ---- configuration, set by user space before load ---- */
const volatile bool filter_pid = false;      /* pid must be in pid_filter */
const volatile bool filter_tid = false;      /* tid must be in tid_filter */
const volatile bool filter_uid = false;      /* uid must be in uid_filter */
const volatile bool filter_traced = false;   /* pid must be in traced_pids (followed command) */
const volatile bool filter_cgroup_ids = false; /* cgroup id must be in cgroup_ids */
const volatile bool filter_cgroup_tree = false; /* task must be under cgroup_tree[0] */
const volatile bool filter_mntns = false;    /* mount namespace id must be in mntns_ids */
const volatile bool failed_only = false;
const volatile __u32 follow_parent = 0;      /* children of this pid join traced_pids */
const volatile __u8 comm_len = 0;            /* comm must contain targ_comm[0..comm_len) */
const volatile char targ_comm[OPENSNOOP_COMM_LEN] = {};
const volatile bool filter_flags = false;    /* open must have one of the flags below */
const volatile __u8 n_flag_masks = 0;        /* ... all bits of one of these masks */
const volatile __u64 flag_masks[OPENSNOOP_MAX_FLAG_MASKS] = {};
const volatile __u8 targ_accmodes = 0;       /* ... or access mode N where bit N is set */
const volatile __u8 n_prefixes = 0;          /* path must start with one of the prefixes */
const volatile __u16 prefix_len[OPENSNOOP_MAX_PREFIXES] = {};
const volatile char prefixes[OPENSNOOP_MAX_PREFIXES][OPENSNOOP_PREFIX_MAX] = {};
const volatile __u64 wakeup_bytes = 0;       /* wake the reader once this much is pending */
const volatile bool full_path = false;       /* resolve the absolute path (-F) */
const volatile bool has_task_btf = false;    /* bpf_get_current_task_btf exists (Linux 5.11) */

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OPENSNOOP_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Event under construction: the header, then the path as passed at data[0], then the
 * resolved path right after it. */
#define DATA_SIZE (OPENSNOOP_PATH_MAX * 4)
#define OFFSET_MASK (OPENSNOOP_PATH_MAX * 2 - 1)
#define LEN_MASK (OPENSNOOP_PATH_MAX - 1)
struct scratch {
	struct opensnoop_event ev;
	char data[DATA_SIZE];
};

/* Resolving a path: components are prepended from the end of buf. */
#define MAX_COMPONENTS 128
#define NAME_MASK 255
struct path_scratch {
	struct dentry *dentry;
	struct mount *mnt;
	__u32 pos;
	__u32 cut;
	char buf[OPENSNOOP_PATH_MAX + NAME_MASK + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

#define ID_SET(name, ktype, entries)                  \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_HASH);      \
		__uint(max_entries, entries);         \
		__type(key, ktype);                   \
		__type(value, __u8);                  \
	} name SEC(".maps")

ID_SET(pid_filter, __u32, 1024);
ID_SET(tid_filter, __u32, 1024);
ID_SET(uid_filter, __u32, 1024);
ID_SET(traced_pids, __u32, 65536);

/* BCC's --cgroupmap and --mntnsmap: replaced by the user's pinned maps. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} mntns_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_tree SEC(".maps");

/* pair mode: arguments stashed at syscall entry, per thread */
struct open_args {
	const char *path;
	__u64 flags;
	__u32 mode;
	__s32 dirfd;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct open_args);
} pending_args SEC(".maps");

/* io_uring: the open as seen at submission, until its completion */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct scratch);
} pending_uring SEC(".maps");

/* ---- filters ---- */

static __always_inline bool comm_matches(const char *comm)
{
	if (comm_len == 0)
		return true;
	for (int start = 0; start < OPENSNOOP_COMM_LEN; start++) {
		if (start + comm_len > OPENSNOOP_COMM_LEN - 1)
			return false;
		bool all = true;
		for (int j = 0; j < OPENSNOOP_COMM_LEN - 1; j++) {
			if (j >= comm_len)
				break;
			if (comm[(start + j) & (OPENSNOOP_COMM_LEN - 1)] != targ_comm[j]) {
				all = false;
				break;
			}
		}
		if (all)
			return true;
	}
	return false;
}

static __always_inline bool flags_match(__u64 flags)
{
	if (!filter_flags)
		return true;
	if ((targ_accmodes >> (flags & 3)) & 1)
		return true;
	for (int i = 0; i < OPENSNOOP_MAX_FLAG_MASKS; i++) {
		if (i >= n_flag_masks)
			break;
		if ((flags & flag_masks[i]) == flag_masks[i])
			return true;
	}
	return false;
}

/* Every filter that needs only the current task (and the result, unless it is not known yet). */
static __always_inline bool task_allowed(__u32 pid, __u32 tid, __u32 uid)
{
	if (filter_pid && !bpf_map_lookup_elem(&pid_filter, &pid))
		return false;
	if (filter_tid && !bpf_map_lookup_elem(&tid_filter, &tid))
		return false;
	if (filter_uid && !bpf_map_lookup_elem(&uid_filter, &uid))
		return false;
	if (filter_traced && !bpf_map_lookup_elem(&traced_pids, &pid))
		return false;
	if (filter_cgroup_ids) {
		__u64 cg = bpf_get_current_cgroup_id();
		if (!bpf_map_lookup_elem(&cgroup_ids, &cg))
			return false;
	}
	if (filter_cgroup_tree && bpf_current_task_under_cgroup(&cgroup_tree, 0) != 1)
		return false;
	if (filter_mntns) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u64 ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
		if (!bpf_map_lookup_elem(&mntns_ids, &ns))
			return false;
	}
	return true;
}

static __always_inline bool path_allowed(const char *path, __u32 len)
{
	if (n_prefixes == 0)
		return true;
	for (int p = 0; p < OPENSNOOP_MAX_PREFIXES; p++) {
		if (p >= n_prefixes)
			break;
		__u16 plen = prefix_len[p];
		if (plen > len)
			continue;
		bool all = true;
		for (int i = 0; i < OPENSNOOP_PREFIX_MAX; i++) {
			if (i >= plen)
				break;
			if (path[i] != prefixes[p][i]) {
				all = false;
				break;
			}
		}
		if (all)
			return true;
	}
	return false;
}

/* ---- emitting ---- */

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_buf, &zero);
}

static __always_inline void count_lost(void)
{
	__u32 key = OPENSNOOP_COUNTER_LOST;
	__u64 *n = bpf_map_lookup_elem(&counters, &key);
	if (n)
		*n += 1;
}

static __always_inline long wakeup_flag(void)
{
	if (wakeup_bytes == 0)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes
		? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Sends the header and its path bytes; counts the event as lost if the ring is full. */
static __always_inline void submit(struct scratch *s)
{
	__u32 len = s->ev.path_len + s->ev.full_len;
	if (len > OPENSNOOP_PATH_MAX * 3)
		len = OPENSNOOP_PATH_MAX * 3;
	if (bpf_ringbuf_output(&events, s, sizeof(s->ev) + len, wakeup_flag()) != 0)
		count_lost();
}

/* The current task's command name: two plain loads from the task where BTF allows it,
 * the helper call otherwise (before Linux 5.11). */
static __always_inline void read_comm(char comm[OPENSNOOP_COMM_LEN])
{
	if (has_task_btf) {
		struct task_struct *task = bpf_get_current_task_btf();
		__u64 *words = (__u64 *)comm;
		words[0] = *(__u64 *)&task->comm[0];
		words[1] = *(__u64 *)&task->comm[8];
		comm[OPENSNOOP_COMM_LEN - 1] = 0;
	} else {
		bpf_get_current_comm(comm, OPENSNOOP_COMM_LEN);
	}
}

/* First step of every event: applies the task filters and, if the open is wanted, returns
 * the scratch record with the task's identity filled in. Nothing else is read before this,
 * so a filtered-out open costs little. */
static __always_inline struct scratch *begin_event(long ret, bool result_known)
{
	if (failed_only && result_known && ret >= 0)
		return NULL;
	struct scratch *s = get_scratch();
	if (!s)
		return NULL;
	if (comm_len) {
		read_comm(s->ev.comm);
		if (!comm_matches(s->ev.comm))
			return NULL;
	}
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	if (!task_allowed(pid, tid, uid))
		return NULL;
	if (!comm_len)
		read_comm(s->ev.comm);
	s->ev.pid = pid;
	s->ev.tid = tid;
	s->ev.uid = uid;
	s->ev.ret = ret;
	s->ev.full_len = 0;
	s->ev.event_flags = 0;
	s->ev.reserved = 0;
	return s;
}

/* Second step: records what was opened; false if the flags filter rejects it. */
static __always_inline bool set_open(struct scratch *s, int dirfd, __u64 flags, __u32 mode, __u8 source)
{
	if (!flags_match(flags))
		return false;
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.flags = flags;
	s->ev.mode = mode;
	s->ev.dirfd = dirfd;
	s->ev.source = source;
	return true;
}

/* Copies the path string (user or kernel memory) into s->data. */
static __always_inline void read_path(struct scratch *s, const char *path, bool user, long ret)
{
	long n = user ? bpf_probe_read_user_str(s->data, OPENSNOOP_PATH_MAX, path)
		      : bpf_probe_read_kernel_str(s->data, OPENSNOOP_PATH_MAX, path);
	if (n <= 0) {
		s->ev.path_len = 0;
		s->ev.event_flags |= OPENSNOOP_EV_PATH_UNREADABLE;
		return;
	}
	s->ev.path_len = n - 1;
	if (n == OPENSNOOP_PATH_MAX && ret == -ENAMETOOLONG)
		s->ev.event_flags |= OPENSNOOP_EV_PATH_TRUNCATED;
}

/* ---- full paths (-F), resolved from the kernel's own dentries ---- */

/* One step of a path walk: prepends one component or crosses one mount point. The walk's
 * state lives in the map value, so the verifier sees one state per step, not one per path.
 * Returns false when the walk is over. */
static __always_inline bool walk_step(struct path_scratch *w)
{
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt || dentry != mnt_root) {
			w->cut = 0; /* the root of the mount tree */
			return false;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return true;
	}
	__u32 len = BPF_CORE_READ(dentry, d_name.len) & NAME_MASK;
	__u32 pos = w->pos;
	if (len + 1 > pos)
		return false;
	pos -= len + 1;
	w->buf[pos & LEN_MASK] = '/';
	bpf_probe_read_kernel(&w->buf[(pos + 1) & LEN_MASK], len, BPF_CORE_READ(dentry, d_name.name));
	w->pos = pos;
	w->dentry = parent;
	return true;
}

/* Writes the absolute path of (dentry, vfsmnt) at the end of w->buf, crossing mount points up
 * to the root of the mount tree. Returns where it starts; the path ends at OPENSNOOP_PATH_MAX.
 * Sets *cut when it had to stop early (too deep or too long). */
static __always_inline __u32 prepend_path(struct path_scratch *w, struct dentry *dentry,
					  struct vfsmount *vfsmnt, bool *cut)
{
	w->dentry = dentry;
	w->mnt = (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	w->pos = OPENSNOOP_PATH_MAX;
	w->cut = 1;
	for (int i = 0; i < MAX_COMPONENTS; i++) {
		if (!walk_step(w))
			break;
	}
	*cut = w->cut;
	__u32 pos = w->pos;
	if (pos >= OPENSNOOP_PATH_MAX) {
		pos = OPENSNOOP_PATH_MAX - 1;
		w->buf[pos & LEN_MASK] = '/';
	}
	return pos;
}

/* The file behind descriptor fd of the current task, or NULL. */
static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* Appends len bytes from src (kernel memory) to the resolved path. */
static __always_inline void append_full(struct scratch *s, const void *src, __u32 len)
{
	__u32 at = s->ev.path_len + s->ev.full_len;
	bpf_probe_read_kernel(&s->data[at & OFFSET_MASK], len & LEN_MASK, src);
	s->ev.full_len += len & LEN_MASK;
}

/* Sets the resolved path after the path as passed: for a successful open, the path of the file
 * opened (symlinks followed, ".." as the kernel walked it); otherwise the directory the name was
 * relative to (dirfd or the cwd) joined with the name. */
static __noinline void resolve_full_path(struct scratch *s, int dirfd, long ret)
{
	__u32 zero = 0;
	struct path_scratch *pb = bpf_map_lookup_elem(&path_buf, &zero);
	if (!pb || (s->ev.event_flags & OPENSNOOP_EV_PATH_UNREADABLE))
		return;
	s->ev.full_len = 0;
	s->ev.event_flags |= OPENSNOOP_EV_FULL_PATH;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	bool relative = s->ev.path_len == 0 || s->data[0] != '/';
	/* The fd of a syscall open is the current task's (io_uring's may be a fixed slot). */
	bool opened = ret >= 0 && s->ev.source != OPENSNOOP_SRC_IO_URING;
	if (opened) {
		struct file *file = fd_file(ret);
		if (!file)
			return;
		dentry = BPF_CORE_READ(file, f_path.dentry);
		vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	} else if (!relative) {
		append_full(s, s->data, s->ev.path_len);
		return;
	} else if (dirfd == AT_FDCWD) {
		struct task_struct *task = bpf_get_current_task_btf();
		dentry = BPF_CORE_READ(task, fs, pwd.dentry);
		vfsmnt = BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		struct file *dir = fd_file(dirfd);
		if (!dir)
			return;
		dentry = BPF_CORE_READ(dir, f_path.dentry);
		vfsmnt = BPF_CORE_READ(dir, f_path.mnt);
	}
	bool cut = false;
	__u32 pos = prepend_path(pb, dentry, vfsmnt, &cut);
	if (cut)
		s->ev.event_flags |= OPENSNOOP_EV_FULL_TRUNCATED;
	append_full(s, &pb->buf[pos & LEN_MASK], OPENSNOOP_PATH_MAX - pos);
	if (opened)
		return;
	if (s->ev.full_len > 1) /* not "/" */
		append_full(s, "/", 1);
	append_full(s, s->data, s->ev.path_len);
}

/* The path filter, on the path as passed or on the resolved path. */
static __always_inline bool event_path_allowed(struct scratch *s)
{
	if (path_allowed(s->data, s->ev.path_len))
		return true;
	return s->ev.full_len && path_allowed(&s->data[s->ev.path_len & LEN_MASK], s->ev.full_len);
}

/* Last step of an open: the path, the path filter, the resolved path, and out. */
static __always_inline int finish_open(struct scratch *s, int dirfd, const char *path, __u64 flags,
				       __u32 mode, __u8 source)
{
	if (!set_open(s, dirfd, flags, mode, source))
		return 0;
	read_path(s, path, true, s->ev.ret);
	if (full_path)
		resolve_full_path(s, dirfd, s->ev.ret);
	if (!event_path_allowed(s))
		return 0;
	submit(s);
	return 0;
}

/* ---- regs mode: one program per syscall exit ---- */

static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat_regs(struct trace_event_raw_sys_exit *ctx)
{
	struct scratch *s = begin_event(ctx->ret, true);
	if (!s)
		return 0;
	struct pt_regs *regs = user_regs();
	return finish_open(s, (int)PT_REGS_PARM1_CORE_SYSCALL(regs),
			   (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs),
			   (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs),
			   (__u32)PT_REGS_PARM4_CORE_SYSCALL(regs), OPENSNOOP_SRC_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open_regs(struct trace_event_raw_sys_exit *ctx)
{
	struct scratch *s = begin_event(ctx->ret, true);
	if (!s)
		return 0;
	struct pt_regs *regs = user_regs();
	return finish_open(s, AT_FDCWD, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs),
			   (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs),
			   (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs), OPENSNOOP_SRC_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat_regs(struct trace_event_raw_sys_exit *ctx)
{
	struct scratch *s = begin_event(ctx->ret, true);
	if (!s)
		return 0;
	struct pt_regs *regs = user_regs();
	return finish_open(s, AT_FDCWD, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs),
			   O_CREAT | O_WRONLY | O_TRUNC,
			   (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs), OPENSNOOP_SRC_CREAT);
}

static __always_inline void read_open_how(const struct open_how *uhow, __u64 *flags, __u32 *mode)
{
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), uhow);
	*flags = how.flags;
	*mode = (__u32)how.mode;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2_regs(struct trace_event_raw_sys_exit *ctx)
{
	struct scratch *s = begin_event(ctx->ret, true);
	if (!s)
		return 0;
	struct pt_regs *regs = user_regs();
	__u64 flags;
	__u32 mode;
	read_open_how((const struct open_how *)PT_REGS_PARM3_CORE_SYSCALL(regs), &flags, &mode);
	return finish_open(s, (int)PT_REGS_PARM1_CORE_SYSCALL(regs),
			   (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs), flags, mode,
			   OPENSNOOP_SRC_OPENAT2);
}

/* ---- pair mode: enter stashes, exit emits ---- */

static __always_inline int stash(const char *path, __u64 flags, __u32 mode, int dirfd)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args args = { .path = path, .flags = flags, .mode = mode, .dirfd = dirfd };
	bpf_map_update_elem(&pending_args, &tid, &args, BPF_ANY);
	return 0;
}

static __always_inline int unstash(long ret, __u8 source)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args *args = bpf_map_lookup_elem(&pending_args, &tid);
	if (!args)
		return 0;
	struct open_args copy = *args;
	bpf_map_delete_elem(&pending_args, &tid);
	struct scratch *s = begin_event(ret, true);
	if (!s)
		return 0;
	return finish_open(s, copy.dirfd, copy.path, copy.flags, copy.mode, source);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat_pair(struct trace_event_raw_sys_enter *ctx)
{
	return stash((const char *)ctx->args[1], (__u32)ctx->args[2], (__u32)ctx->args[3],
		     (int)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat_pair(struct trace_event_raw_sys_exit *ctx)
{
	return unstash(ctx->ret, OPENSNOOP_SRC_OPENAT);
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open_pair(struct trace_event_raw_sys_enter *ctx)
{
	return stash((const char *)ctx->args[0], (__u32)ctx->args[1], (__u32)ctx->args[2], AT_FDCWD);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open_pair(struct trace_event_raw_sys_exit *ctx)
{
	return unstash(ctx->ret, OPENSNOOP_SRC_OPEN);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int enter_creat_pair(struct trace_event_raw_sys_enter *ctx)
{
	return stash((const char *)ctx->args[0], O_CREAT | O_WRONLY | O_TRUNC, (__u32)ctx->args[1],
		     AT_FDCWD);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat_pair(struct trace_event_raw_sys_exit *ctx)
{
	return unstash(ctx->ret, OPENSNOOP_SRC_CREAT);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2_pair(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags;
	__u32 mode;
	read_open_how((const struct open_how *)ctx->args[2], &flags, &mode);
	return stash((const char *)ctx->args[1], flags, mode, (int)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2_pair(struct trace_event_raw_sys_exit *ctx)
{
	return unstash(ctx->ret, OPENSNOOP_SRC_OPENAT2);
}

/* ---- io_uring ---- */

static __always_inline bool is_uring_open(__u8 opcode)
{
	return opcode == IORING_OP_OPENAT || opcode == IORING_OP_OPENAT2;
}

/* At submission the request is prepared: its io_open holds the kernel copy of the name. */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit, struct io_kiocb *req)
{
	if (!is_uring_open(req->opcode))
		return 0;
	struct scratch *s = begin_event(0, false);
	if (!s)
		return 0;
	struct io_open *open = (struct io_open *)&req->cmd;
	if (!set_open(s, BPF_CORE_READ(open, dfd), BPF_CORE_READ(open, how.flags),
		      (__u32)BPF_CORE_READ(open, how.mode), OPENSNOOP_SRC_IO_URING))
		return 0;
	read_path(s, BPF_CORE_READ(open, filename, name), false, 0);
	if (full_path)
		resolve_full_path(s, s->ev.dirfd, -1);
	if (!event_path_allowed(s))
		return 0;
	__u64 key = (__u64)req;
	if (bpf_map_update_elem(&pending_uring, &key, s, BPF_ANY) != 0)
		count_lost(); /* too many opens in flight */
	return 0;
}

/* The result arrives here, possibly on an iou-wrk thread: identity comes from submission. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	__u64 key = (__u64)req;
	struct scratch *pending = bpf_map_lookup_elem(&pending_uring, &key);
	if (!pending)
		return 0;
	pending->ev.ret = cqe->res;
	if (failed_only && pending->ev.ret >= 0) {
		bpf_map_delete_elem(&pending_uring, &key);
		return 0;
	}
	submit(pending);
	bpf_map_delete_elem(&pending_uring, &key);
	return 0;
}

/* A request whose preparation failed (bad name pointer, name too long, bad flags) never
 * reaches io_uring_submit_req; it completes with this error. */
SEC("tp_btf/io_uring_req_failed")
int BPF_PROG(uring_req_failed, const struct io_uring_sqe *sqe, struct io_kiocb *req, int error)
{
	__u8 opcode = sqe->opcode;
	if (!is_uring_open(opcode))
		return 0;
	__u64 key = (__u64)req;
	if (bpf_map_lookup_elem(&pending_uring, &key))
		return 0; /* already submitted: the completion reports it */
	struct scratch *s = begin_event(error, true);
	if (!s)
		return 0;
	return finish_open(s, sqe->fd, (const char *)sqe->addr, sqe->open_flags, sqe->len,
			   OPENSNOOP_SRC_IO_URING);
}

/* ---- following a command: children of traced processes are traced ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ppid = parent->tgid;
	__u32 cpid = child->tgid;
	if (ppid == cpid)
		return 0; /* a new thread */
	if (ppid != follow_parent && !bpf_map_lookup_elem(&traced_pids, &ppid))
		return 0;
	__u8 one = 1;
	bpf_map_update_elem(&traced_pids, &cpid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(follow_exit, struct task_struct *task)
{
	if (task->pid != task->tgid)
		return 0; /* a thread, not the group leader */
	__u32 pid = task->tgid;
	bpf_map_delete_elem(&traced_pids, &pid);
	return 0;
}
