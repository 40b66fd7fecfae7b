/* User space's side of the contract: the sources' names, and compile-time checks that the event
 * layout is what both sides expect. */
#include <stddef.h>
#include "opensnoop_event.h"

const char *opensnoop_source_name(unsigned source)
{
#define SOURCE_NAME(name, src, x86, ia32, arm64) if (source == src) return #name;
	OPENSNOOP_SYSCALLS(SOURCE_NAME)
#undef SOURCE_NAME
	return source == OPENSNOOP_SRC_IO_URING ? "io_uring" : NULL;
}

const char *opensnoop_syscall_name(unsigned index)
{
#define SYSCALL_NAME(name, src, x86, ia32, arm64) #name,
	static const char *const names[] = { OPENSNOOP_SYSCALLS(SYSCALL_NAME) };
#undef SYSCALL_NAME
	return index < sizeof(names) / sizeof(names[0]) ? names[index] : NULL;
}

_Static_assert(sizeof(struct opensnoop_event) == OPENSNOOP_EVENT_SIZE, "event header size");
_Static_assert(offsetof(struct opensnoop_event, flags) == 8, "flags offset");
_Static_assert(offsetof(struct opensnoop_event, pid) == 32, "pid offset");
_Static_assert(offsetof(struct opensnoop_event, path_len) == 60, "path_len offset");
_Static_assert(offsetof(struct opensnoop_event, source) == 68, "source offset");
_Static_assert(offsetof(struct opensnoop_event, comm) == 72, "comm offset");
_Static_assert(sizeof(struct opensnoop_uring_open) == 4192, "io_uring pending open size (OpenSnoopProgram's PendingIoUringOpen)");
_Static_assert(sizeof(struct opensnoop_summary_key) == 40, "summary key size");
_Static_assert(sizeof(struct opensnoop_summary_value) == 216, "summary value size");
