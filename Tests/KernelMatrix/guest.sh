#!/bin/sh
# Kernel matrix, guest side: /init of the initramfs that Tests/KernelMatrix/run.sh boots under
# qemu. Mounts what the tracers need, runs each check (black box: start a tracer, wait until it
# traces, open a file it must show and one it must not, stop it with SIGINT, read its output),
# prints one line per check on the console and powers off. POSIX sh for busybox.
#
# Console protocol (parsed by run.sh; nothing else starts with "KMX "):
#   KMX kernel RELEASE
#   KMX result CHECK ok|fail|na SECONDS MESSAGE
#   KMX detail CHECK LINE          (a failing check's stderr, then its output, first lines)
#   KMX done SECONDS
# Kernel command line: kmx.checks=a,b,c (default: all), kmx.ready=SECONDS (how long a tracer may
# take to load: TCG is ~12x slower than the host; default 90).

. /opt/kmx/guest-setup.sh
READY=$(arg ready 90)     # seconds a tracer may take to load and attach
AWAIT=30                   # seconds an expected event may take to show once the workload ran
STOP=30                    # seconds a tracer may take to exit after SIGINT
ALL="verifier default fexit raw no-compat tracepoints full-path latency summary json command io_uring compat32 failed pid agent-metrics execsnoop opens opens-pid libbpf-tools"
CHECKS=$(arg checks all | tr , ' ')
[ "$CHECKS" = all ] && CHECKS=$ALL

T=/tmp/kmx         # outputs of the tracers
D=/tmp/kmx/files   # the files the workloads open
mkdir -p $T $D/fp $D/compat $D/nocompat
for f in default fexit fexit-handle raw tp fp/rel lat summary json cmd cmd-child cmd-other uring failed pid-ready pid-target \
	pid-other agent opens opens-pid-ready opens-pid-target opens-pid-other peer nocompat ready; do
	echo x >$D/$f.file
done
touch $D/compat/present $D/nocompat/present
H=opensnoop-testhelper

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# alive PID: the process exists and is not a zombie.
alive() {
	state=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# reap: kills the tracer and waits for it, at most 10 s: a process stuck in the kernel (a load
# or attach that never returns; seen once with libbpf-tools on 7.3 under TCG) cannot be killed,
# and waiting for it would hang the guest until its time limit.
reap() {
	kill -KILL $TPID 2>/dev/null
	i=0
	while alive $TPID && [ $i -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	if alive $TPID; then
		M="$M (and it could not be killed: state $(sed 's/.*) //' /proc/$TPID/stat | cut -c1), in $(cat /proc/$TPID/wchan 2>/dev/null))"
		return 1
	fi
	wait $TPID 2>/dev/null
}

# Results of the running check: R is ok, fail or na; M says why.
ok() { R=ok; M=${1:-}; }
fail() { R=fail; M=$1; }

# start NAME CMD...: runs a tracer in the background, output in $T/NAME.out, stderr in .err.
start() {
	name=$1
	shift
	"$@" >$T/$name.out 2>$T/$name.err &
	TPID=$!
}

# ready NAME: waits until the tracer printed something (its header, a table or an event;
# opening a marker file now and then for the tracers that print no header); false if it
# exited first or did not within $READY seconds.
ready() {
	i=0
	while [ $i -lt $((READY * 5)) ]; do
		[ -s $T/$1.out ] && return 0
		alive $TPID || return 1
		cat $D/ready.file >/dev/null
		sleep 0.2
		i=$((i + 1))
	done
	fail "not ready after ${READY}s (no header nor event)"
	reap
	return 1
}

# exited NAME STATUS: a tracer that stopped by itself with STATUS: "n/a" if it said in one line
# which kernel it needs (exit 1), a failure otherwise.
exited() {
	lines=$(grep -c . $T/$1.err)
	if [ "$2" = 1 ] && [ "$lines" = 1 ] && grep -qE 'Linux [0-9]+\.[0-9]+' $T/$1.err; then
		R=na
		M="needs $(grep -oE 'Linux [0-9]+\.[0-9]+' $T/$1.err | head -n1)"
	else
		fail "exit $2: $(head -n1 $T/$1.err)"
	fi
}

# gone NAME: the tracer exited before it was ready.
gone() {
	[ "$R" = fail ] && return  # ready() timed out and said so
	wait $TPID
	exited $1 $?
}

# await NAME PATTERN: true once PATTERN (grep -E) is in the output, within $AWAIT seconds.
await() {
	i=0
	until grep -qE -- "$2" $T/$1.out; do
		[ $i -ge $((AWAIT * 5)) ] && return 1
		alive $TPID || { grep -qE -- "$2" $T/$1.out; return; }
		sleep 0.2
		i=$((i + 1))
	done
}

# stop: SIGINT (or $SIG), then wait for the tracer to exit; TSTATUS is its exit status
# (KILLED if it did not exit within $STOP seconds).
stop() {
	kill -${SIG:-INT} $TPID 2>/dev/null
	i=0
	while alive $TPID && [ $i -lt $((STOP * 5)) ]; do
		sleep 0.2
		i=$((i + 1))
	done
	if alive $TPID; then
		reap
		TSTATUS=KILLED
	else
		wait $TPID
		TSTATUS=$?
	fi
}

# traced NAME WORKLOAD MUST MUSTNOT TRACER...: starts TRACER, runs the shell function WORKLOAD
# once it traces, expects MUST (grep -E) in its output and MUSTNOT ("" for none) not, stops it
# with SIGINT (it must then exit 0; with SIG=TERM: die of it, for the Examples, which leave
# SIGINT as they found it, and a background job of a script finds it ignored). WORKLOAD opens what
# must not show before what must, so that once MUST is there, MUSTNOT would be too.
traced() {
	name=$1 work=$2 must=$3 mustnot=$4
	shift 4
	start $name "$@"
	ready $name || { gone $name; return; }
	$work >$T/$name.work 2>&1
	if ! await $name "$must"; then
		if alive $TPID; then
			stop
			fail "'$must' not shown (workload: $(head -n1 $T/$name.work))"
		else
			wait $TPID
			exited $name $?
			[ $R = fail ] && M="$M (exited while tracing)"
		fi
		return
	fi
	stop
	if [ -n "$mustnot" ] && grep -qE -- "$mustnot" $T/$name.out; then
		fail "'$mustnot' shown, must not be"
	elif [ "$TSTATUS" != 0 ] && ! { [ "${SIG:-INT}" = TERM ] && [ "$TSTATUS" = 143 ]; }; then
		fail "exit $TSTATUS after SIG${SIG:-INT}: $(head -n1 $T/$name.err)"
	else
		ok
	fi
}

# --- workloads -------------------------------------------------------------------------

w_default() { $H --name kmx-default openat $D/default.file; }
w_tp() { $H --name kmx-tp openat $D/tp.file; }
w_fp() { $H --name kmx-fp chdir $D/fp openat rel.file && $H --name kmx-fp openat /proc/self/ns/mnt; }
w_lat() { $H --name kmx-lat openat $D/lat.file; }
w_summary() { $H --name kmx-summary openat $D/summary.file; }
w_json() { $H --name kmx-json openat $D/json.file; }
w_uring() { $H --name kmx-uring uring $D/uring.file; $H --name kmx-uring uring-badptr x; }
w_compat() { opener32 $D/compat; }
w_nocompat() { opener32 $D/nocompat && $H --name kmx-nocompat openat $D/nocompat.file; }
w_failed() { cat $D/failed.file >/dev/null && ! cat $D/failed.missing 2>/dev/null; }
w_peer() { cat $D/peer.file >/dev/null; }
w_opens() { cat $D/opens.file >/dev/null; }
w_exec() { $H --name kmx-exec-arg sleep 1; }

# A target for -p: a shell that opens $1-ready (from the shell itself: a redirection of a
# builtin) until $1.go exists, then $1-target once; TARGET is its PID.
pid_target() {
	rm -f $D/$1.go
	sh -c "while [ ! -e $D/$1.go ]; do : <$D/$1-ready.file; sleep 0.2; done; : <$D/$1-target.file; sleep 60" &
	TARGET=$!
}
pid_release() { # another process opens $1-other, then the target opens $1-target
	cat $D/$1-other.file >/dev/null
	touch $D/$1.go
}
w_pid() { pid_release pid; }
w_opens_pid() { pid_release opens-pid; }
end_target() { kill -KILL $TARGET 2>/dev/null; wait $TARGET 2>/dev/null; }

# --- checks ----------------------------------------------------------------------------

c_default() { traced default w_default "$D/default.file" "" opensnoop; }

# fexit mode: native, 32-bit and open_by_handle_at opens, and -v says the mode. Where the kernel
# refuses tracing programs, opensnoop says in one line why it cannot run here: n/a.
w_fexit() { opener32 $D/compat && $H --name kmx-fexit openat $D/fexit.file && $H handle $D/fexit-handle.file; }
c_fexit() {
	traced fexit w_fexit "\"source\":\"openat\".*\"path\":\"$D/fexit.file\"" "" opensnoop -v -j --attach-mode fexit
	# (-v adds libbpf's lines and names its version: opensnoop's one other line must say why.)
	if [ $R = na ] || { [ $R = fail ] && [ "$(grep '^opensnoop: ' $T/fexit.err | grep -vc '^opensnoop: libbpf [0-9]')" = 1 ] &&
		grep -q "^opensnoop: attach mode 'fexit' cannot run here" $T/fexit.err; }; then
		R=na
		M="$(sed -n 's/^opensnoop: .*cannot run here: //p' $T/fexit.err | head -n1)"
		return
	fi
	[ $R = ok ] || return
	if ! grep -q "attach mode fexit" $T/fexit.err; then fail "-v did not say attach mode fexit: $(head -n1 $T/fexit.err)"
	elif ! grep -q "\"compat\":true.*\"path\":\"$D/compat/present\"" $T/fexit.out; then fail "no 32-bit open shown"
	elif ! grep -q "\"source\":\"open_by_handle_at\".*$D/fexit-handle.file" $T/fexit.out; then fail "no open_by_handle_at shown"
	fi
}

# raw mode (the default before 5.17, where fexit and tracepoints mode cannot run), with 32-bit opens.
w_raw() { opener32 $D/compat && $H --name kmx-raw openat $D/raw.file; }
c_raw() {
	traced raw w_raw "\"path\":\"$D/raw.file\"" "" opensnoop -j --attach-mode raw
	[ $R = ok ] && ! grep -q "\"compat\":true.*\"path\":\"$D/compat/present\"" $T/raw.out && fail "no 32-bit open shown"
}
c_no_compat() { traced no-compat w_nocompat "$D/nocompat.file" "$D/nocompat/present" opensnoop --no-compat; }
c_tracepoints() { traced tracepoints w_tp "$D/tp.file" "" opensnoop --attach-mode tracepoints; }
# -F: a relative name joined with the cwd, and a pseudo-file's name (nsfs: "mnt:[N]") as d_path makes it.
c_full_path() {
	traced full-path w_fp "$D/fp/rel.file" "" opensnoop -F
	[ $R = ok ] && ! grep -qE ' 0 mnt:\[[0-9]+\]$' $T/full-path.out && fail "no pseudo name for /proc/self/ns/mnt"
}
c_latency() {
	traced latency w_lat "[0-9]\.[0-9]{3} $D/lat.file" "" opensnoop -L
	[ $R = ok ] && ! head -n1 $T/latency.out | grep -q 'LAT(us)' && fail "no LAT(us) column: $(head -n1 $T/latency.out)"
}
c_summary() { traced summary w_summary "$D/summary.file" "" opensnoop --summary; }
c_json() { traced json w_json "\"path\":\"$D/json.file\"" "" opensnoop -j; }
# An io_uring open, and one whose preparation fails (an unreadable name: EFAULT, reported at its
# completion). On a kernel whose io_uring tracepoints cannot serve, opensnoop says so in one line
# naming the kernel it needs, and traces the rest: n/a, if the rest was traced.
c_io_uring() {
	traced io_uring w_uring "\"source\":\"io_uring\".*\"path\":\"$D/uring.file\"" "" opensnoop -j
	[ $R = fail ] && grep -q "$D/uring.file" $T/io_uring.out && M="$M (shown, but not as source io_uring)"
	[ $R = ok ] && ! grep -q '"errno":14,.*"source":"io_uring".*"path_unreadable":true' $T/io_uring.out &&
		fail "no io_uring open failing at preparation (EFAULT) shown"
	if [ $R = fail ] && [ "$(grep -c . $T/io_uring.err)" = 1 ] &&
		grep -qE '^opensnoop: note: io_uring opens are not traced: .*Linux [0-9]+\.[0-9]+' $T/io_uring.err &&
		grep -q '"source":"openat"' $T/io_uring.out; then
		R=na
		M="needs $(grep -oE 'Linux [0-9]+\.[0-9]+' $T/io_uring.err | head -n1)"
	fi
}
# 32-bit opens in the default mode: fexit and raw trace them; where the default is tracepoints
# (a kernel that refuses tracing programs), -v must say that they need --attach-mode raw (which
# the raw check proves): n/a.
c_compat32() {
	traced compat32 w_compat "\"compat\":true.*\"path\":\"$D/compat/present\"" "" opensnoop -j -v
	[ $R = fail ] && grep -q "$D/compat/present" $T/compat32.out && M="$M (shown, but not as compat)"
	if [ $R = fail ] && grep -q "attach mode tracepoints, 32-bit opens not traced (--attach-mode raw traces them)" \
		$T/compat32.err && ! grep -q "$D/compat/present" $T/compat32.out; then
		R=na M="default mode tracepoints here: --attach-mode raw"
	fi
}
c_failed() { traced failed w_failed "$D/failed.missing" "$D/failed.file" opensnoop -x; }
c_pid() {
	pid_target pid
	traced pid w_pid "$D/pid-target.file" "$D/pid-other.file" opensnoop -p $TARGET
	end_target
}
c_opens() { SIG=TERM traced opens w_opens "$D/opens.file" "" stdbuf -oL opens; }
c_opens_pid() {
	pid_target opens-pid
	SIG=TERM traced opens-pid w_opens_pid "$D/opens-pid-target.file" "$D/opens-pid-other.file" \
		stdbuf -oL opens-pid -p $TARGET
	end_target
}
# The pattern is written so that it does not match itself: grep's own exec shows too.
c_execsnoop() { traced execsnoop w_exec "kmx-exec-[a]rg sleep 1" "" execsnoop; }
c_libbpf_tools() {
	if [ ! -x /opt/kmx/peer/opensnoop ]; then R=na M="libbpf-tools not installed on the host"; return; fi
	traced libbpf-tools w_peer "$D/peer.file" "" stdbuf -oL /opt/kmx/peer/opensnoop
}

# -- COMMAND: traces the command and its child, not another process; passes its status on.
c_command() {
	sh -c "while :; do cat $D/cmd-other.file >/dev/null; sleep 0.2; done" &
	other=$!
	opensnoop -o $T/command.out -- sh -c "cat $D/cmd.file; sh -c 'cat $D/cmd-child.file'; exit 7" \
		>$T/command.work 2>$T/command.err &
	TPID=$!
	i=0
	while alive $TPID && [ $i -lt $(((READY + AWAIT) * 5)) ]; do
		sleep 0.2
		i=$((i + 1))
	done
	if alive $TPID; then
		stop
		fail "still running after $((READY + AWAIT))s"
	else
		wait $TPID
		status=$?
		if [ $status = 7 ] && grep -q "$D/cmd.file" $T/command.out && grep -q "$D/cmd-child.file" $T/command.out; then
			if grep -q "$D/cmd-other.file" $T/command.out; then fail "another process's open shown"; else ok; fi
		elif [ $status = 7 ]; then
			fail "exit 7 passed on, but the command's opens not shown"
		elif [ $status = 1 ]; then
			exited command $status
		else
			fail "exit $status, not the command's 7: $(head -n1 $T/command.err)"
		fi
	fi
	kill -KILL $other
	wait $other 2>/dev/null
}

# The verifier's budget: in each attach mode (fexit where the kernel allows it), with every filter and feature on (all that adds
# code), every program loads and no call chain can use more than 384 of the 512 bytes of stack,
# counted with every frame rounded up to 32 bytes (as 6.1 counts; no BPF private stack). The
# tables go to the console (KMX stats) for the record. Resolving features that need 5.17 are
# checked apart, so that an older kernel still checks the rest.
VERIFIER_BASE="-x -L --slower 0.001 -n kmx -p 1 -u 0 -f O_RDONLY --summary --per-cpu-rings"
VERIFIER_ONLY_BASE="--summary-by comm,pid,errno,cgroup"
VERIFIER_FULL="-F --path / --summary-by comm,path,pid,errno,cgroup"
c_verifier() {
	notes="" unreported=""
	for mode in raw tracepoints fexit; do
		for set in base full; do
			run=verifier-$mode-$set
			extra=$VERIFIER_ONLY_BASE
			[ $set = full ] && extra=$VERIFIER_FULL
			opensnoop --verifier-stats --attach-mode $mode $VERIFIER_BASE $extra >$T/$run.out 2>$T/$run.err
			status=$?
			if [ $status != 0 ]; then
				exited $run $status
				if [ $R = fail ] && grep -q "^opensnoop: attach mode 'fexit' cannot run here" $T/$run.err; then
					R=na M="fexit: $(sed -n 's/^opensnoop: .*cannot run here: //p' $T/$run.err)"
				fi
				[ $R = fail ] && { cp $T/$run.err $T/verifier.err; M="$mode/$set: $M"; return; }
				notes="$notes $mode/$set $M;"
				continue
			fi
			sed "s|^|KMX stats $mode/$set |" $T/$run.out
			over=$(awk 'NR > 1 && $NF != "-" && $NF + 0 > 384 { print $1 " " $NF }' $T/$run.out)
			[ -n "$over" ] && { fail "$mode/$set: stack over 384 of 512 bytes: $over"; return; }
			if awk 'NR > 1 && $NF == "-" { found = 1 } END { exit !found }' $T/$run.out; then
				unreported=1
			fi
		done
	done
	[ -n "$unreported" ] && notes="$notes stack depth not reported by this kernel's verifier (instructions checked only);"
	ok "${notes# }"
}

# opensnoop-agent --metrics: /healthz says it traces, and the workload's count shows on /metrics.
c_agent_metrics() {
	base=http://127.0.0.1:9473
	start agent-metrics opensnoop-agent --metrics 127.0.0.1:9473 --no-events
	i=0
	until wget -q -O /dev/null $base/healthz 2>/dev/null; do
		if ! alive $TPID; then wait $TPID; exited agent-metrics $?; return; fi
		if [ $i -ge $((READY * 5)) ]; then stop; fail "/healthz did not answer 200 within ${READY}s"; return; fi
		sleep 0.2
		i=$((i + 1))
	done
	i=0
	until wget -q -O $T/agent-metrics.out $base/metrics 2>/dev/null &&
		grep -qE '^opensnoop_opens_total\{[^}]*comm="kmx-agent"[^}]*\} [1-9]' $T/agent-metrics.out; do
		if ! alive $TPID; then wait $TPID; exited agent-metrics $?; M="$M (exited while tracing)"; return; fi
		if [ $i -ge $((AWAIT * 5)) ]; then
			stop
			fail "no opensnoop_opens_total{comm=\"kmx-agent\"} on /metrics"
			return
		fi
		$H --name kmx-agent openat $D/agent.file >$T/agent-metrics.work 2>&1
		sleep 0.2
		i=$((i + 1))
	done
	stop
	if [ "$TSTATUS" = 0 ]; then ok; else fail "exit $TSTATUS after SIGINT: $(head -n1 $T/agent-metrics.err)"; fi
}

# --- run -------------------------------------------------------------------------------

echo "KMX kernel $(uname -r)"
begin=$(now)
for check in $CHECKS; do
	R="" M="" SIG=INT
	started=$(now)
	fn=c_$(echo $check | tr -- - _)
	if type $fn >/dev/null 2>&1; then $fn; else fail "no such check"; fi
	[ -n "$R" ] || fail "the check set no result"
	echo "KMX result $check $R $(since $started) $M"
	if [ $R = fail ]; then
		# Its stderr (a verifier log's reason is at its end), then its output and the workload's.
		for f in $T/$check.err $T/$check.out $T/$check.work; do
			[ -s $f ] && head -n200 $f | sed "s|^|KMX detail $check ${f##*.}: |"
		done
	fi
done
echo "KMX done $(since $begin)"
[ -n "$HOST" ] && exit 0
sync
[ $$ = 1 ] && poweroff -f
