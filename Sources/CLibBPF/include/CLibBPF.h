/* The one C boundary of the Swift code: libbpf's API, plus shims for what Swift
 * cannot import (option macros, the printf-style log callback). */
#ifndef CLIBBPF_H
#define CLIBBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

/* Sends libbpf's messages up to `level` (LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG) to stderr;
 * a negative level silences libbpf. */
void clibbpf_set_log_level(int level);

/* bpf_object__open_mem with an object name (LIBBPF_OPTS cannot be used from Swift).
 * Returns NULL and sets errno on failure. */
struct bpf_object *clibbpf_open_mem(const void *bytes, size_t size, const char *name);

#endif
