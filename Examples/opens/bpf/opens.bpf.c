// The kernel side of `opens`: sends the PID and path of every openat(2) to user space.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u32 pid;
	char path[256];
};
BPFKIT_TYPE(struct event);  /* Swift gets it as OpensSkeleton.Types.Event */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct trace_event_raw_sys_enter *ctx)
{
	struct event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0;
	event->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_probe_read_user_str(event->path, sizeof(event->path), (const char *)ctx->args[1]);
	bpf_ringbuf_submit(event, 0);
	return 0;
}
