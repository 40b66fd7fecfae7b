// The kernel side of `opens-pid`: like opens.bpf.c, for one process if targ_pid is set.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load; the verifier then sees it as a constant. */
const volatile __u32 targ_pid = 0;

struct event {
	__u32 pid;
	char path[256];
};
BPFKIT_TYPE(struct event);  /* Swift gets it as OpensPidSkeleton.Types.Event */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (targ_pid && pid != targ_pid)
		return 0;  /* filtered in the kernel: nothing reaches user space */
	struct event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0;
	event->pid = pid;
	bpf_probe_read_user_str(event->path, sizeof(event->path), (const char *)ctx->args[1]);
	bpf_ringbuf_submit(event, 0);
	return 0;
}
