#!/bin/sh
# Kernel matrix benchmark, guest side: /init of the initramfs that `KMX_MODE=bench
# Tests/KernelMatrix/run.sh` (`make kernel-bench`) boots under qemu. Runs the open loop and the
# getppid loop of bench/workload.c (built static) with no tracer and under each tracer, all in one
# run: ROUNDS rounds, each running every setup once, each round starting one setup further on.
# A tracer is started for one run (its output to a file on tmpfs) and waited for until it is ready
# (swift-opensnoop: its header is in the file; libbpf-tools' opensnoop, whose stdout to a file is
# block-buffered: it holds its perf buffer's epoll fd, made after it attached); after SETTLE
# seconds the open loop runs, the tracer gets DRAIN seconds to read what is left in its buffer (a
# fixed pause: waiting until its CPU time or output stops growing never ends, since its poll timer
# ticks and reading /proc is an open it traces), the getppid loop runs, the tracer is stopped with
# SIGINT and the events it wrote about the loop's two paths are counted. The tracer's CPU time
# during each loop is recorded: with one CPU it is part of the loop's time. A setup that cannot
# run on this kernel (exits before it is ready) is reported as n/a with the first line of its
# stderr, and left out of later rounds. How TCG distorts all this: see run.sh's header.
#
# Console protocol (parsed by bench-report.py; nothing else starts with "KMX "):
#   KMX kernel RELEASE
#   KMX bench ROUND SETUP OPEN_NS GETPPID_NS EVENTS OPENS LOST SECONDS
#             [UP DOWN OPEN_CPU GETPPID_CPU DRAIN_CPU]
#             (EVENTS: about the loop's paths, "-" for no tracer; LOST: stderr lines saying "lost";
#             SECONDS: the whole run's; UP, DOWN: the tracer's start until ready, its stop;
#             *_CPU: the tracer's CPU time during each loop and the pause between, in ns)
#   KMX cpu VULNERABILITY: STATE   (the emulated CPU's, from /sys/devices/system/cpu/vulnerabilities)
#   KMX warmup OPEN_NS GETPPID_NS   (untraced runs before the rounds, not counted)
#   KMX na SETUP MESSAGE
#   KMX note ROUND SETUP LINE      (the first line of the tracer's stderr that says "lost")
#   KMX done SECONDS
# Kernel command line: kmx.opens=N kmx.calls=N kmx.rounds=R kmx.ready=SECONDS kmx.settle=SECONDS
# kmx.drain=SECONDS.

. /opt/kmx/guest-setup.sh
OPENS=$(arg opens 20000)
CALLS=$(arg calls 200000)
ROUNDS=$(arg rounds 5)
READY=$(arg ready 90)
SETTLE=$(arg settle 1)
DRAIN=$(arg drain 1)

W=/tmp/kmxb
mkdir -p $W
echo x >$W/target
SETUPS="none raw tracepoints fexit libbpf-tools"
OURS=/opt/kmx/bin/opensnoop
PEER=/opt/kmx/peer/opensnoop

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
alive() {
	state=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
# A setup's name as a shell variable suffix, and its n/a mark.
var() { echo "$1" | tr -- - _; }
is_na() { eval "[ -n \"\${NA_$(var $1):-}\" ]"; }

argv() {
	case $1 in
	raw) echo "$OURS --attach-mode raw" ;;
	tracepoints) echo "$OURS --attach-mode tracepoints --no-compat" ;;
	fexit) echo "$OURS --attach-mode fexit" ;;
	libbpf-tools) echo "$PEER" ;;
	esac
}

# ready PID SETUP: 0 once the tracer traces, 1 if it exited first, 2 if not within $READY s.
ready() {
	i=0
	while [ $i -lt $((READY * 10)) ]; do
		alive $1 || return 1
		case $2 in
		libbpf-tools) ls -l /proc/$1/fd 2>/dev/null | grep -q 'anon_inode:\[eventpoll\]' && return 0 ;;
		*) [ -s $W/out ] && return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	return 2
}

# cputime PID: the CPU time of all the process's threads so far, in ns (schedstat; from the
# 10 ms clock ticks of /proc/PID/stat where the kernel has no schedstat).
cputime() {
	if [ -r /proc/$1/schedstat ]; then
		cat /proc/$1/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'
	else
		awk '{ printf "%.0f\n", ($14 + $15) * 1e7 }' /proc/$1/stat
	fi
}

# stop PID: SIGINT, then up to 30 s for it to exit (then SIGKILL).
stop() {
	kill -INT $1 2>/dev/null
	i=0
	while alive $1 && [ $i -lt 150 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	alive $1 && kill -KILL $1
	wait $1 2>/dev/null
}

open_loop() { workload open $OPENS 1 $W/target $W/missing-file; }
getppid_loop() { workload getppid $CALLS 1; }

# run ROUND SETUP: one run; prints its KMX bench line (or KMX na, marking the setup).
run() {
	round=$1 setup=$2 began=$(now)
	sync
	sleep 0.3
	rm -f $W/out $W/err
	if [ $setup = none ]; then
		o=$(open_loop) && g=$(getppid_loop) || { echo "KMX na none workload failed: $o $g"; return; }
		echo "KMX bench $round none $o $g - $OPENS 0 $(since $began)"
		return
	fi
	# shellcheck disable=SC2046
	$(argv $setup) >$W/out 2>$W/err &
	pid=$!
	launched=$(now)
	ready $pid $setup
	case $? in
	1)
		wait $pid
		status=$?
		eval "NA_$(var $setup)=1"
		echo "KMX na $setup exit $status: $(grep -m1 . $W/err)"
		return
		;;
	2)
		stop $pid
		eval "NA_$(var $setup)=1"
		echo "KMX na $setup not ready after ${READY}s: $(grep -m1 . $W/err)"
		return
		;;
	esac
	up=$(since $launched)
	sleep $SETTLE
	c0=$(cputime $pid)
	o=$(open_loop)
	c1=$(cputime $pid)
	sleep $DRAIN
	c2=$(cputime $pid)
	g=$(getppid_loop)
	c3=$(cputime $pid)
	stopping=$(now)
	stop $pid
	down=$(since $stopping)
	events=$(grep -cE "$W/(target|missing-file)\$" $W/out)
	lost=$(grep -ci lost $W/err)
	[ "$lost" = 0 ] || echo "KMX note $round $setup $(grep -i -m1 lost $W/err)"
	echo "KMX bench $round $setup $o $g $events $OPENS $lost $(since $began) $up $down $((c1 - c0)) $((c3 - c2)) $((c2 - c1))"
}

echo "KMX kernel $(uname -r)"
echo "KMX config opens=$OPENS calls=$CALLS rounds=$ROUNDS settle=$SETTLE drain=$DRAIN"
# The emulated CPU's vulnerabilities decide how long the syscall path is (PTI, retpolines, ...).
for f in meltdown spectre_v2 retbleed mds; do
	echo "KMX cpu $f: $(cat /sys/devices/system/cpu/vulnerabilities/$f 2>/dev/null)"
done
[ -x $PEER ] || NA_libbpf_tools=1
[ -x $PEER ] || echo "KMX na libbpf-tools not installed on the host"
# Warm-up, not counted: untraced runs until one's open loop is within 2% of the run before (at
# most 8). Under -icount the first runs after boot found the kernel still busy with its own
# start: 2-4x the instructions of later untraced runs on 6.12 and 7.x, for several seconds.
prev=0 i=0
while [ $i -lt 8 ]; do
	o=$(open_loop) && g=$(getppid_loop) || break
	echo "KMX warmup $o $g"
	awk -v a=$o -v b=$prev 'BEGIN { exit !(b > 0 && a < b * 1.02 && a > b * 0.98) }' && break
	prev=$o i=$((i + 1))
done
begin=$(now)
n=$(echo $SETUPS | wc -w)
r=0
while [ $r -lt $ROUNDS ]; do
	# Round r starts at setup r mod n.
	k=0
	while [ $k -lt $n ]; do
		index=$(((r + k) % n + 1))
		setup=$(echo $SETUPS | cut -d' ' -f$index)
		is_na $setup || run $((r + 1)) $setup
		k=$((k + 1))
	done
	r=$((r + 1))
done
echo "KMX done $(since $begin)"
[ -n "$HOST" ] && exit 0
sync
[ $$ = 1 ] && poweroff -f
