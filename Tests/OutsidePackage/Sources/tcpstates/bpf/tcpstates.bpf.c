// tcpstates: every TCP state change of an IPv4 socket, from the sock:inet_sock_set_state tracepoint.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define IPPROTO_TCP 6

struct tcp_change {
	__u8 saddr[4];
	__u8 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 oldstate;
	__u8 newstate;
};
BPFKIT_TYPE(struct tcp_change);  /* Swift: TcpstatesSkeleton.Types.TcpChange */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} changes SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->family != AF_INET || ctx->protocol != IPPROTO_TCP)
		return 0;
	struct tcp_change *change = bpf_ringbuf_reserve(&changes, sizeof(*change), 0);
	if (!change)
		return 0;
	__builtin_memcpy(change->saddr, ctx->saddr, 4);
	__builtin_memcpy(change->daddr, ctx->daddr, 4);
	change->sport = ctx->sport;
	change->dport = ctx->dport;
	change->oldstate = ctx->oldstate;
	change->newstate = ctx->newstate;
	bpf_ringbuf_submit(change, 0);
	return 0;
}
