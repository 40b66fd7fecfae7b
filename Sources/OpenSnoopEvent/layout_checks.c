/* Compile-time checks that the event layout is what both sides expect. */
#include <stddef.h>
#include "opensnoop_event.h"

_Static_assert(sizeof(struct opensnoop_event) == OPENSNOOP_EVENT_SIZE, "event header size");
_Static_assert(offsetof(struct opensnoop_event, flags) == 24, "flags offset");
_Static_assert(offsetof(struct opensnoop_event, comm) == 48, "comm offset");
