/* Compile-time checks that the exec record's layout is what both sides expect. */
#include <stddef.h>
#include "execsnoop_event.h"

_Static_assert(sizeof(struct execsnoop_event) == EXECSNOOP_EVENT_SIZE, "event header size");
_Static_assert(offsetof(struct execsnoop_event, path_len) == 28, "path_len offset");
_Static_assert(offsetof(struct execsnoop_event, comm) == 40, "comm offset");
_Static_assert(EXECSNOOP_PATH_MAX < 65536 && EXECSNOOP_ARGS_MAX < 65536, "lengths fit in __u16");
