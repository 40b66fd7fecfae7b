/* bpfkit.h: what a BPF tracing program built with BPFKit usually includes, in order.
 * vmlinux.h is the running architecture's kernel types (BTF, CO-RE relocated at load). */
#ifndef BPFKIT_H
#define BPFKIT_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#endif
