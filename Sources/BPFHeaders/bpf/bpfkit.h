/* bpfkit.h: what a BPF tracing program built with BPFKit usually includes, in order.
 * vmlinux.h is the running architecture's kernel types (BTF, CO-RE relocated at load). */
#ifndef BPFKIT_H
#define BPFKIT_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* BPFKIT_TYPE(struct event): names a type for the generated skeleton, which mirrors it in Swift
 * (NameSkeleton.Types.Event) as it does every map's key and value type (bpf2go's -type). It also
 * puts the type in the object's BTF, where clang leaves out a type only local variables use
 * (a ring-buffer record's, typically): it declares an unused pointer in section .bpfkit.types,
 * which libbpf skips (its log says "skipping unrecognized data section"). */
#define BPFKIT_TYPE(type) BPFKIT_TYPE_(type, __COUNTER__)
#define BPFKIT_TYPE_(type, counter) BPFKIT_TYPE__(type, counter)
#define BPFKIT_TYPE__(type, counter) \
	type *__bpfkit_type_##counter __attribute__((section(".bpfkit.types"), used))

#endif
