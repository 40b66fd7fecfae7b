#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
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

static clibbpf_tp_btf_id_fn tp_btf_resolver;

/* Module BTF fds handed to the kernel by this thread's program loads, until
 * clibbpf_tp_btf_loaded(): the kernel needs them open during the load only. */
#define MODULE_FDS 16
static __thread int module_fds[MODULE_FDS];
static __thread int module_fd_count;

/* The type id of btf_trace_NAME in a module's BTF, its BTF fd in *btf_fd (as libbpf finds tp_btf
 * targets in modules: vmlinux first, then each module). */
static int find_module_tracepoint(const char *name, int *btf_fd)
{
	char type[192];
	if (snprintf(type, sizeof(type), "btf_trace_%s", name) >= (int)sizeof(type))
		return -ENAMETOOLONG;
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return -ESRCH;
	int found = -ESRCH;
	__u32 id = 0;
	while (found < 0 && bpf_btf_get_next_id(id, &id) == 0) {
		int fd = bpf_btf_get_fd_by_id(id);
		if (fd < 0)
			continue;
		char module[64] = "";
		struct bpf_btf_info info;
		memset(&info, 0, sizeof(info));
		info.name = (__u64)(uintptr_t)module;
		info.name_len = sizeof(module);
		__u32 length = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &length) == 0 && info.kernel_btf && strcmp(module, "vmlinux") != 0) {
			struct btf *btf = btf__load_from_kernel_by_id_split(id, vmlinux);
			int type_id = btf ? btf__find_by_name_kind(btf, type, BTF_KIND_TYPEDEF) : -1;
			btf__free(btf);
			if (type_id > 0 && module_fd_count < MODULE_FDS) {
				module_fds[module_fd_count++] = fd;
				*btf_fd = fd;
				found = type_id;
				continue;
			}
		}
		close(fd);
	}
	btf__free(vmlinux);
	return found;
}

void clibbpf_tp_btf_loaded(void)
{
	while (module_fd_count > 0)
		close(module_fds[--module_fd_count]);
}

/* Before load: the target's type id (from BPFKit's resolver, else libbpf's own search of the
 * kernel BTF), then the program becomes the tracing program it is. */
static int tp_btf_prepare(struct bpf_program *prog, struct bpf_prog_load_opts *opts, long cookie)
{
	(void)cookie;
	if (!opts->attach_btf_id) {
		const char *name = strchr(bpf_program__section_name(prog), '/');
		if (!name || !name[1])
			return -EINVAL; /* no target in the section, none set with bpf_program__set_attach_target */
		name++;
		int id = tp_btf_resolver ? tp_btf_resolver(name) : -1, module_fd = 0;
		if (id < 0) /* not looked up: libbpf's search of vmlinux */
			id = libbpf_find_vmlinux_btf_id(name, BPF_TRACE_RAW_TP);
		if (id <= 0) /* not in vmlinux */
			id = find_module_tracepoint(name, &module_fd);
		if (id < 0)
			return id;
		opts->attach_btf_id = id;
		opts->attach_btf_obj_fd = module_fd;
	}
	opts->expected_attach_type = BPF_TRACE_RAW_TP;
	return bpf_program__set_type(prog, BPF_PROG_TYPE_TRACING);
}

static int tp_btf_attach(const struct bpf_program *prog, long cookie, struct bpf_link **link)
{
	(void)cookie;
	*link = bpf_program__attach_trace(prog);
	return *link ? 0 : -errno;
}

int clibbpf_register_tp_btf(clibbpf_tp_btf_id_fn resolve)
{
	tp_btf_resolver = resolve;
	LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .prog_prepare_load_fn = tp_btf_prepare,
		    .prog_attach_fn = tp_btf_attach);
	return libbpf_register_prog_handler("tp_btf+", BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_TRACE_RAW_TP, &opts);
}

int clibbpf_ring_buffer_edge_triggered(struct ring_buffer *rb, int map_fd, int index)
{
	struct epoll_event event = { .events = EPOLLIN | EPOLLET, .data.fd = index };
	return epoll_ctl(ring_buffer__epoll_fd(rb), EPOLL_CTL_MOD, map_fd, &event) < 0 ? -errno : 0;
}

int clibbpf_memory_file(const char *name, const void *bytes, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, (const char *)bytes + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EIO;
			close(fd);
			errno = saved;
			return -1;
		}
		done += (size_t)n;
	}
	return fd;
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
