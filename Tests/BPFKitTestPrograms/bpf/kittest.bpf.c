// BPFKit's test object: one map of every kind BPFKit views, globals in every data section,
// and one program of every attach kind. Programs act only for the thread in target_tid.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

struct pair {
	__u64 a;
	__u32 b;
};  /* 16 bytes in C (12 in Swift's size, 16 its stride) */

struct triple {
	__u32 x, y, z;
};  /* 12 bytes: per-CPU stride 16 */

const volatile __u32 target_tid = 0;
const volatile bool enabled = false;
const volatile char tag[16] = {};
const volatile __u64 masks[4] = {};
const volatile char rows[3][8] = {};

__u64 hits = 0;  /* .bss */
__u64 seed = 7;  /* .data */

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } hash_u32 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, struct pair); } hash_pair SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); } array_u64 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } percpu_u64 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, struct triple); } percpu_triple SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 16); __type(key, __u64); __type(value, __u32); } percpu_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 64 * 1024); } ring_a SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 64 * 1024); } ring_b SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, sizeof(__u32)); __uint(value_size, sizeof(__u32)); } perf SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 4); __type(value, __u64); } queue SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK); __uint(max_entries, 4); __type(value, __u64); } stack SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } jump_table SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8192); __type(key, __u64); __type(value, __u64); } taken SEC(".maps");

struct ipv4_prefix {
	__u32 prefixlen;
	__u8 addr[4];
};
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__type(key, struct ipv4_prefix);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

static bool is_target(void)
{
	return enabled && (__u32)bpf_get_current_pid_tgid() == target_tid;
}

static void count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&array_u64, &slot);
	if (value)
		__sync_fetch_and_add(value, 1);
}

/* getppid(): counts in .bss and per CPU, sends hits to ring_a and perf, seed to ring_b. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	if (!is_target())
		return 0;
	__u64 now = __sync_add_and_fetch(&hits, 1);
	__u32 zero = 0;
	__u64 *cpu_count = bpf_map_lookup_elem(&percpu_u64, &zero);
	if (cpu_count)
		*cpu_count += 1;
	__u64 value = seed;
	bpf_ringbuf_output(&ring_a, &now, sizeof(now), 0);
	bpf_ringbuf_output(&ring_b, &value, sizeof(value), 0);
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &now, sizeof(now));
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int on_raw_enter(void *ctx)
{
	if (is_target())
		count(1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_btf_enter, struct pt_regs *regs, long id)
{
	if (is_target())
		count(2);
	return 0;
}

SEC("?uprobe")
int on_uprobe(struct pt_regs *ctx)
{
	if (is_target())
		count(3);
	return 0;
}

SEC("iter/task")
int dump_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (task && task->pid == task->tgid)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}

/* Kinds this kernel may lack: switched on by the tests that expect "not available". */
SEC("?kprobe/do_sys_openat2")
int on_kprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("?fentry/do_sys_openat2")
int BPF_PROG(on_fentry)
{
	return 0;
}

/* Reads a hash map's value without checking for NULL: the verifier must refuse it. */
SEC("?tracepoint/syscalls/sys_enter_getppid")
int rejected(void *ctx)
{
	__u32 key = 1;
	__u64 *value = bpf_map_lookup_elem(&hash_u32, &key);
	return *value;
}

/* A BTF tracepoint no kernel has: its load must fail naming it. */
SEC("?tp_btf/bpfkit_no_such_tracepoint")
int missing_tracepoint(void *ctx)
{
	return 0;
}

/* CO-RE relocations of each kind (field offsets and sizes, existence, type sizes, enum values,
 * bitfields, array elements), run by the tests on the real kernel, which check the results. */
struct task_struct___missing {
	int no_such_field;
} __attribute__((preserve_access_index));

/* Locally a flexible array; in the kernel a zero-length marker in the middle of the struct,
 * which libbpf does not take for flexible: the field does not exist there. */
struct sock_common___flex {
	int skc_dontcopy_begin[0];
} __attribute__((preserve_access_index));

__u64 core_results[12] = {};  /* .bss */

SEC("?raw_tp")
int core_shapes(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char second = 0;
	core_results[0] = bpf_core_field_offset(struct task_struct, comm);
	core_results[1] = bpf_core_field_size(struct task_struct, comm);
	core_results[2] = bpf_core_field_exists(struct task_struct___missing, no_such_field);
	core_results[3] = bpf_core_type_exists(struct task_struct);
	core_results[4] = bpf_core_type_size(struct task_struct);
	core_results[5] = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_map_lookup_elem);
	core_results[6] = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_snprintf);
	core_results[7] = BPF_CORE_READ(task, tgid);
	struct dentry *cwd = BPF_CORE_READ(task, fs, pwd.dentry);
	__u32 cwd_len = 0;
	BPF_CORE_READ_INTO(&cwd_len, cwd, d_name.len);                       /* through an anonymous struct */
	core_results[8] = cwd_len;
	core_results[9] = BPF_CORE_READ_BITFIELD_PROBED(task, in_iowait);
	bpf_core_read(&second, 1, &task->comm[1]);                           /* an array element */
	core_results[10] = second;
	core_results[11] = bpf_core_field_exists(((struct sock_common___flex *)0)->skc_dontcopy_begin[0]);
	return 0;
}

/* getppid(): one new entry in `taken` per call, under its sequence number (the drain test). */
__u64 next_event = 0;      /* .bss */
__u64 events_dropped = 0;  /* .bss: `taken` was full */

SEC("?tracepoint/syscalls/sys_enter_getppid")
int insert_event(void *ctx)
{
	if (!is_target())
		return 0;
	__u64 key = __sync_fetch_and_add(&next_event, 1), one = 1;
	if (bpf_map_update_elem(&taken, &key, &one, BPF_NOEXIST))
		__sync_fetch_and_add(&events_dropped, 1);
	return 0;
}

/* Run by BPF_PROG_TEST_RUN with two arguments as its context: returns their sum. */
SEC("?raw_tp")
int add_args(struct bpf_raw_tracepoint_args *ctx)
{
	return ctx->args[0] + ctx->args[1];
}

/* Tail calls through jump_table[args[0]]; returns 1 if that slot is empty. */
SEC("?raw_tp")
int jump(struct bpf_raw_tracepoint_args *ctx)
{
	bpf_tail_call(ctx, &jump_table, (__u32)ctx->args[0]);
	return 1;
}

SEC("?raw_tp")
int jump_target(void *ctx)
{
	return 42;
}

/* Run on a packet by BPF_PROG_TEST_RUN: flips the packet's first byte and returns the
 * context's mark plus that byte's old value. */
SEC("?tc")
int flip_first_byte(struct __sk_buff *skb)
{
	__u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	if ((void *)(data + 1) > (void *)end)
		return 0;
	__u8 old = data[0];
	data[0] = ~old;
	return skb->mark + old;
}
