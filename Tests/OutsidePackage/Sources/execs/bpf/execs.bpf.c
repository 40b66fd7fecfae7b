// execs: one record per successful exec on the machine, sent through a ring buffer.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

struct exec_event {
	__u32 pid;
	__u32 ppid;
	char comm[16];
	char filename[256];
};
BPFKIT_TYPE(struct exec_event);  /* Swift: ExecsSkeleton.Types.ExecEvent */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct exec_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	/* __data_loc: the low 16 bits are the string's offset in the record. */
	unsigned offset = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(event->filename, sizeof(event->filename), (char *)ctx + offset);
	bpf_ringbuf_submit(event, 0);
	return 0;
}
