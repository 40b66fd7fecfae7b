#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "CLibBPF.h"

static _Atomic(clibbpf_log_fn) log_handler = NULL;
static _Atomic int log_level = -1;

static int forward_log(enum libbpf_print_level level, const char *format, va_list args)
{
	clibbpf_log_fn handler = atomic_load(&log_handler);
	if (!handler || (int)level > atomic_load(&log_level))
		return 0;
	char small[512];
	va_list copy;
	va_copy(copy, args);
	int length = vsnprintf(small, sizeof(small), format, copy);
	va_end(copy);
	if (length < 0)
		return 0;
	if ((size_t)length < sizeof(small)) {
		handler((int)level, small);
		return length;
	}
	char *large = malloc((size_t)length + 1);
	if (!large)
		return 0;
	vsnprintf(large, (size_t)length + 1, format, args);
	handler((int)level, large);
	free(large);
	return length;
}

/* libbpf prints warnings to stderr until told otherwise: silence it before any use. */
__attribute__((constructor)) static void install_forwarder(void)
{
	libbpf_set_print(forward_log);
}

void clibbpf_set_log_handler(clibbpf_log_fn handler, int level)
{
	atomic_store(&log_level, level);
	atomic_store(&log_handler, handler);
}

struct bpf_object *clibbpf_open_mem(const void *bytes, size_t size, const char *name, const char *btf_path)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name, .btf_custom_path = btf_path);
	struct bpf_object *obj = bpf_object__open_mem(bytes, size, &opts);
	if (!obj && errno == 0)
		errno = EINVAL;
	return obj;
}

int clibbpf_ring_buffer_edge_triggered(struct ring_buffer *rb, int map_fd, int index)
{
	struct epoll_event event = { .events = EPOLLIN | EPOLLET, .data.fd = index };
	return epoll_ctl(ring_buffer__epoll_fd(rb), EPOLL_CTL_MOD, map_fd, &event) < 0 ? -errno : 0;
}

int clibbpf_obj_get(const char *path, uint32_t file_flags)
{
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = file_flags);
	return bpf_obj_get_opts(path, &opts);
}

struct bpf_link *clibbpf_attach_uprobe(const struct bpf_program *prog, bool retprobe, int pid,
				       const char *binary, const char *function, size_t offset)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .func_name = function);
	return bpf_program__attach_uprobe_opts(prog, pid, binary, offset, &opts);
}

struct bpf_link *clibbpf_attach_kprobe(const struct bpf_program *prog, bool retprobe,
				       const char *function, size_t offset)
{
	LIBBPF_OPTS(bpf_kprobe_opts, opts, .retprobe = retprobe, .offset = offset);
	return bpf_program__attach_kprobe_opts(prog, function, &opts);
}

struct bpf_link *clibbpf_attach_ksyscall(const struct bpf_program *prog, bool retprobe,
					 const char *syscall)
{
	LIBBPF_OPTS(bpf_ksyscall_opts, opts, .retprobe = retprobe);
	return bpf_program__attach_ksyscall(prog, syscall, &opts);
}

struct perf_buffer *clibbpf_perf_buffer_new(int map_fd, size_t pages, perf_buffer_event_fn callback,
					    void *context)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_type = PERF_SAMPLE_RAW;
	attr.sample_period = 1;
	attr.wakeup_events = 1;
	LIBBPF_OPTS(perf_buffer_raw_opts, opts);
	return perf_buffer__new_raw(map_fd, pages, &attr, callback, context, &opts);
}
