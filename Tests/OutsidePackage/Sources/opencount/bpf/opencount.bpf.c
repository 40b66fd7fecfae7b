// opencount: counts openat(2) calls per process in a hash map, which user space drains.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

struct process {
	__u32 pid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct process);  /* Swift: OpencountSkeleton.Types.Process */
	__type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int count_openat(void *ctx)
{
	struct process key = { .pid = bpf_get_current_pid_tgid() >> 32 };
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	__u64 one = 1, *count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}
