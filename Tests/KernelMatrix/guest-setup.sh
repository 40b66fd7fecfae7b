#!/bin/sh
# Kernel matrix, both guests' first steps (sourced by guest.sh and bench-guest.sh, which run.sh
# packs as /init): the mounts the tracers need and `arg`, which reads kmx.* settings.
# KMX_HOST=1: run by run.sh (KERNELS=host) in a chroot of the initramfs, in a private mount
# namespace on the machine's own kernel: the same mounts (gone with the namespace), no console,
# no power-off; kmx.* settings from KMX_* variables.
HOST=${KMX_HOST:-}
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox --install -s /bin
export PATH=/opt/kmx/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/ LC_ALL=C
# (run.sh copies the host's /etc/localtime: without a time zone, glibc's localtime() opens the
# missing file on each call, and a tracer that calls it per event traces its own opens.)
[ -e /etc/localtime ] || export TZ=UTC0

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -n "$HOST" ] || exec </dev/console >/dev/console 2>&1
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
	mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
if [ -z "$HOST" ]; then
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
	# Kernel messages stay off the console that carries the results (emergencies only).
	echo 1 >/proc/sys/kernel/printk
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
fi

arg() { # arg NAME DEFAULT: kmx.NAME=VALUE from the kernel command line (KMX_NAME on the host)
	if [ -n "$HOST" ]; then
		eval "echo \${KMX_$(echo $1 | tr a-z A-Z):-$2}"
		return
	fi
	for word in $(cat /proc/cmdline); do
		case $word in kmx.$1=*) echo "${word#kmx.$1=}"; return ;; esac
	done
	echo "$2"
}
