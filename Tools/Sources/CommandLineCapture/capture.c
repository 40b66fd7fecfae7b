/* The Swift runtime on Linux finds the command line through /proc/self/maps: without /proc (a
 * chroot, a container that does not mount it) CommandLine.arguments is empty, and a tool would
 * run with none of the options it was given. glibc hands argc and argv to constructors: give
 * them to the runtime before Swift code runs. */
#include "CommandLineCapture.h"

extern void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc);

__attribute__((constructor)) static void capture_command_line(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc > 0 && argv)
		_swift_stdlib_overrideUnsafeArgvArgc(argv, argc);
}

int command_line_capture_linked(void)
{
	return 1;
}
