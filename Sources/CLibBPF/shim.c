#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include "CLibBPF.h"

static int log_level = -1;

static int print_to_stderr(enum libbpf_print_level level, const char *format, va_list args)
{
	if ((int)level > log_level)
		return 0;
	return vfprintf(stderr, format, args);
}

void clibbpf_set_log_level(int level)
{
	log_level = level;
	libbpf_set_print(print_to_stderr);
}

struct bpf_object *clibbpf_open_mem(const void *bytes, size_t size, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj = bpf_object__open_mem(bytes, size, &opts);
	if (!obj && errno == 0)
		errno = EINVAL;
	return obj;
}
