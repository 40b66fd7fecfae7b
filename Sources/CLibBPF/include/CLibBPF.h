/* The one C boundary of the Swift code: libbpf's API, plus thin shims (prefixed clibbpf_) for
 * what Swift cannot import: option macros (LIBBPF_OPTS) and the printf-style log callback. */
#ifndef CLIBBPF_H
#define CLIBBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

/* Receives one formatted libbpf message (NUL-terminated, usually ending in a newline). */
typedef void (*clibbpf_log_fn)(int level, const char *message);

/* Routes libbpf's messages up to `level` (LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG) to `handler`;
 * a NULL handler or a negative level silences libbpf. libbpf is silent from process start. */
void clibbpf_set_log_handler(clibbpf_log_fn handler, int level);

/* bpf_object__open_mem with an object name and, unless NULL, the BTF file CO-RE relocates
 * against instead of the kernel's (btf_custom_path). Returns NULL and sets errno on failure. */
struct bpf_object *clibbpf_open_mem(const void *bytes, size_t size, const char *name, const char *btf_path);

/* Makes the `index`-th ring (map fd `map_fd`) of `rb` edge-triggered in its epoll set: a wait
 * then ends at a producer's wakeup, not whenever a record is pending, so records that producers
 * sent without a wakeup (BPF_RB_NO_WAKEUP) gather until one comes or the wait times out.
 * ring_buffer__add registers ring `index` with data.fd = index. Returns 0 or -errno. */
int clibbpf_ring_buffer_edge_triggered(struct ring_buffer *rb, int map_fd, int index);

/* bpf_obj_get with file flags (BPF_F_RDONLY, BPF_F_WRONLY or 0). Returns an fd or -errno. */
int clibbpf_obj_get(const char *path, uint32_t file_flags);

/* bpf_program__attach_uprobe_opts: `function` (may be NULL) plus `offset` inside `binary`;
 * pid -1 for every process. Returns NULL and sets errno on failure. */
struct bpf_link *clibbpf_attach_uprobe(const struct bpf_program *prog, bool retprobe, int pid,
				       const char *binary, const char *function, size_t offset);

/* bpf_program__attach_kprobe_opts. Returns NULL and sets errno on failure. */
struct bpf_link *clibbpf_attach_kprobe(const struct bpf_program *prog, bool retprobe,
				       const char *function, size_t offset);

/* bpf_program__attach_ksyscall. Returns NULL and sets errno on failure. */
struct bpf_link *clibbpf_attach_ksyscall(const struct bpf_program *prog, bool retprobe,
					 const char *syscall);

/* perf_buffer__new_raw for BPF_PERF_EVENT_OUTPUT samples, one ring of `pages` pages per CPU,
 * woken on every sample. Returns NULL and sets errno on failure. */
struct perf_buffer *clibbpf_perf_buffer_new(int map_fd, size_t pages, perf_buffer_event_fn callback,
					    void *context);

#endif
