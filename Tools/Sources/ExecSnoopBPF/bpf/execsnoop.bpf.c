// SPDX-License-Identifier: GPL-2.0
/* execsnoop's kernel side: one record per execve(2)/execveat(2), filtered here before any
 * ring-buffer space is used.
 *
 * Each exec is read where what it passed is still valid, so no map joins entry and exit:
 *  - An exec that succeeded: tp_btf/sched_process_exec, after the point of no return. The old
 *    image is gone, but the kernel copied the arguments onto the new one's stack
 *    (mm->arg_start..arg_end, resident: the kernel wrote them) and the name into
 *    bprm->filename. A thread other than the leader has already taken the process id there
 *    (de_thread); old_pid is the id it called exec with.
 *  - An exec that failed: tp_btf/sys_exit with ret < 0, before the point of no return, so the
 *    caller's memory and the argv and name it passed are still there, read through the
 *    syscall's saved registers. Native and 32-bit (ia32) calls alike; this program runs at
 *    the end of every system call and returns at once for the others.
 * An exec that fails after the point of no return (the process is killed) reports its error
 * with what can still be read.
 */
#include "bpfkit.h"
#include "execsnoop_event.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- configuration, set by user space before load ---- */
const volatile bool failed_only = false;
const volatile bool filter_uid = false;
const volatile __u32 targ_uid = 0;
const volatile __u8 comm_len = 0;            /* comm must contain targ_comm[0..comm_len) */
const volatile char targ_comm[EXECSNOOP_COMM_LEN] = {};

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Records the ring buffer had no room for (per CPU; user space sums them). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* The record under construction: header, name (read with one byte to spare, to tell a name
 * cut at PATH_MAX from one that fits), arguments; the slack bounds every write for the
 * verifier. */
#define PATH_READ (EXECSNOOP_PATH_MAX + 1)
struct scratch {
	struct execsnoop_event ev;
	char data[PATH_READ + 2 * EXECSNOOP_ARGS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

/* Whether `comm` contains the -n name (always, without one). */
static __always_inline bool comm_allowed(const char *comm)
{
	if (!comm_len)
		return true;
	for (__u32 start = 0; start + comm_len < EXECSNOOP_COMM_LEN; start++) {
		__u32 j = 0;
		while (j < comm_len && comm[(start + j) & (EXECSNOOP_COMM_LEN - 1)] ==
					       targ_comm[j & (EXECSNOOP_COMM_LEN - 1)])
			j++;
		if (j == comm_len)
			return true;
	}
	return false;
}

/* Applies the filters and starts a record for the current task; NULL if it is filtered out. */
static __always_inline struct scratch *begin_event(long ret, __u32 tid)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	if (filter_uid && uid != targ_uid)
		return NULL;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!s)
		return NULL;
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	if (!comm_allowed(s->ev.comm))
		return NULL;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.pid = bpf_get_current_pid_tgid() >> 32;
	s->ev.tid = tid;
	s->ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
	s->ev.uid = uid;
	s->ev.ret = ret;
	s->ev.path_len = 0;
	s->ev.args_len = 0;
	s->ev.flags = 0;
	return s;
}

/* Reads the file name (a kernel copy, or the caller's string). */
static __always_inline void read_path(struct scratch *s, const char *name, bool user)
{
	long n = user ? bpf_probe_read_user_str(s->data, PATH_READ, name)
		      : bpf_probe_read_kernel_str(s->data, PATH_READ, name);
	if (n <= 1)
		return;
	if (n == PATH_READ)
		s->ev.flags |= EXECSNOOP_EV_PATH_TRUNCATED;
	s->ev.path_len = n - 1;  /* at most EXECSNOOP_PATH_MAX */
}

/* Where the arguments go: right after the name. */
static __always_inline char *args_start(struct scratch *s)
{
	__u32 at = s->ev.path_len;
	if (at > EXECSNOOP_PATH_MAX)
		at = EXECSNOOP_PATH_MAX;
	return s->data + at;
}

static __always_inline int submit(struct scratch *s)
{
	__u64 size = sizeof(s->ev) + s->ev.path_len + s->ev.args_len;
	if (size > sizeof(*s))
		size = sizeof(*s);
	if (bpf_ringbuf_output(&events, s, size, 0) != 0) {
		__u32 zero = 0;
		__u64 *count = bpf_map_lookup_elem(&lost, &zero);
		if (count)
			*count += 1;
	}
	return 0;
}

/* ---- an exec that succeeded ---- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_done, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	if (failed_only)
		return 0;
	struct scratch *s = begin_event(0, old_pid);
	if (!s)
		return 0;
	read_path(s, BPF_CORE_READ(bprm, filename), false);
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;
	if (len > EXECSNOOP_ARGS_MAX) {
		len = EXECSNOOP_ARGS_MAX;
		s->ev.flags |= EXECSNOOP_EV_ARGS_TRUNCATED;
	}
	char *args = args_start(s);
	if (len && bpf_probe_read_user(args, len, (const void *)start) == 0)
		s->ev.args_len = len;
	return submit(s);
}

/* ---- an exec that failed ---- */

#if defined(__TARGET_ARCH_x86)
#define NR_EXECVE 59
#define NR_EXECVEAT 322
#define NR32_EXECVE 11
#define NR32_EXECVEAT 358
#define TS_COMPAT 0x0002
#define SYSCALL_NR(r) ((r)->orig_ax)
#define SYSCALL_ARG1(r) ((r)->di)
#define SYSCALL_ARG2(r) ((r)->si)
#define SYSCALL_ARG3(r) ((r)->dx)
#elif defined(__TARGET_ARCH_arm64)
#define NR_EXECVE 221
#define NR_EXECVEAT 281
#define SYSCALL_NR(r) ((r)->syscallno)
#define SYSCALL_ARG1(r) ((r)->orig_x0)  /* x0 holds the result by now */
#define SYSCALL_ARG2(r) ((r)->regs[1])
#define SYSCALL_ARG3(r) ((r)->regs[2])
#endif

/* Copies the arguments the caller's argv points to (pointers of 4 bytes for a 32-bit caller),
 * each with its NUL, up to EXECSNOOP_ARGS_MAX bytes and EXECSNOOP_MAX_ARGS arguments. */
static __always_inline void read_argv(struct scratch *s, unsigned long argv, bool compat)
{
	char *args = args_start(s);
	__u32 len = 0;
	for (int i = 0; i <= EXECSNOOP_MAX_ARGS; i++) {
		unsigned long arg = 0;
		long err = compat ? bpf_probe_read_user(&arg, 4, (const void *)(argv + 4 * i))
				  : bpf_probe_read_user(&arg, 8, (const void *)(argv + 8 * i));
		if (err || !arg)
			goto done;  /* the end of argv (or an unreadable one) */
		if (i == EXECSNOOP_MAX_ARGS || len >= EXECSNOOP_ARGS_MAX)
			break;      /* more arguments than are kept */
		__u32 room = EXECSNOOP_ARGS_MAX - len;
		long n = bpf_probe_read_user_str(args + len, room, (const void *)arg);
		if (n <= 0)
			goto done;
		len += n;
		if (n == room) {
			/* It filled the space: cut, unless its own NUL is where the copy's is. If cut,
			 * its byte goes where the copy put a NUL (no NUL: the argument was cut). */
			char last = 0;
			bpf_probe_read_user(&last, 1, (const void *)(arg + n - 1));
			if (last) {
				args[(len - 1) & (EXECSNOOP_ARGS_MAX - 1)] = last;
				break;
			}
		}
	}
	s->ev.flags |= EXECSNOOP_EV_ARGS_TRUNCATED;
done:
	s->ev.args_len = len;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(exec_failed, struct pt_regs *regs, long ret)
{
	if (ret >= 0)
		return 0;
	long nr = SYSCALL_NR(regs);
	unsigned long name, argv;
	bool compat = false;
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT) {
		if (nr == NR32_EXECVE) {
			name = (__u32)regs->bx;
			argv = (__u32)regs->cx;
		} else if (nr == NR32_EXECVEAT) {
			name = (__u32)regs->cx;
			argv = (__u32)regs->dx;
		} else {
			return 0;
		}
		compat = true;
	} else
#endif
	if (nr == NR_EXECVE) {
		name = SYSCALL_ARG1(regs);
		argv = SYSCALL_ARG2(regs);
	} else if (nr == NR_EXECVEAT) {
		name = SYSCALL_ARG2(regs);
		argv = SYSCALL_ARG3(regs);
	} else {
		return 0;
	}
	struct scratch *s = begin_event(ret, (__u32)bpf_get_current_pid_tgid());
	if (!s)
		return 0;
	read_path(s, (const char *)name, true);
	read_argv(s, argv, compat);
	return submit(s);
}
