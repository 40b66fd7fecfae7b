#!/usr/bin/env bash
# Kernel matrix (`make kernel-test`): boots Debian's cloud kernels under qemu, each once, with the
# binaries built on the host in an initramfs, runs the kernel-facing checks of guest.sh inside and
# prints a kernel x check table (also written to $KERNEL_DIR/matrix.md); exits 1 if a check failed.
#
#   KERNELS="5.10 6.1 6.12 6.18 7.x"  series to boot (the newest kernel of each; "7.x": the newest 7;
#                                      "host": this machine's kernel, in a chroot, no qemu)
#   CHECKS="default json ..."         checks to run (default: all of guest.sh's)
#   KERNEL_ACCEL=auto|tcg|kvm          auto: KVM only where /dev/kvm is a real one (not kvm-pvm)
#   KERNEL_JOBS=N                      guests booted at once (default: the number of CPUs, at most 4)
#   GUEST_TIMEOUT=SECONDS              hard limit per guest (default 420)
#   KERNEL_READY=SECONDS               how long a tracer may take to load in a guest (default 90)
#   GUEST_SMP=N                        CPUs of each guest (default 1)
#   GUEST_QEMU_ARGS="..."              more qemu options for each guest
#   KERNEL_REFRESH=1                   refresh the package lists even if they are recent
#   KERNEL_DIR=DIR                     cache and scratch (default .build/kernels)
#   BIN=DIR                            the tools' binaries (default Tools/.build/release)
#   EXAMPLES_BIN=DIR                   BPFKit's examples, opens and opens-pid (default .build/release)
#   KERNEL_FETCH_ONLY=1                only download: print "SERIES VMLINUZ" per kernel and exit
#                                      (the fleet checks boot their systemd guest on one of them)
#
#   KMX_MODE=bench                     `make kernel-bench`: the same kernels (same selection and
#                                      cache) boot with bench-guest.sh as /init instead of the checks:
#                                      the open loop and the getppid loop of bench/workload.c, with
#                                      no tracer, swift-opensnoop in each attach mode and libbpf-tools'
#                                      opensnoop, alternating in one run per kernel; prints per kernel
#                                      the ratios to the untraced run of the same round (also written
#                                      to $KERNEL_DIR/bench.md, the guests' logs in $KERNEL_DIR/bench/).
#                                      About 5-10 minutes for the five kernels (more when the machine
#                                      is busy); not part of `make test` (CI does not run it). Then:
#     BENCH_OPENS=N BENCH_CALLS=N        open loop iterations, getppid loop calls, per run (20000, 800000)
#     BENCH_ROUNDS=R                     rounds, each running every setup once (3)
#     BENCH_ICOUNT=SHIFT|off             qemu -icount shift (0: guest time counts instructions, 1 ns
#                                      each); off: guest time is real time (see below)
#     GUEST_TIMEOUT defaults to 900 there.
#
# How TCG distorts the benchmark's figures (what was seen on a 2-CPU machine, December 2026). The
# guest's code, the syscall path and the JIT-compiled BPF programs alike, is x86 code that qemu
# translates (each block once, then cached) and runs emulated, about 12x slower than the host and
# by no means uniformly so: absolute times mean nothing, and the tables show ratios only.
# - In real time (BENCH_ICOUNT=off) the guest's clock is the host's: whenever qemu's vCPU thread
#   waits for a host CPU, the loop then running gets longer. On this machine, shared with other
#   jobs (load 3-4 on 2 CPUs), one guest's untraced runs spread over 0.50-1.77 of their median,
#   a setup's per-round ratios over 0.45-3.78, and medians came out impossible (fexit's getppid
#   loop at 0.74 on 6.1). So by default the guests run with -icount shift=0: guest time advances
#   1 ns per instruction executed, whatever the host does, and the runs repeat to within 1-2%.
# - What the ratios then compare is instructions executed on the guest's CPU during the loop:
#   the workload's, the kernel's, the BPF programs', interrupts', and the tracer's, since each
#   guest has one CPU and the tracer's reader runs on it, inside the loop's time (the tables give
#   its share; on the 2-CPU host it mostly runs beside the loop). Every instruction costs the same:
#   cache and TLB misses, branch mispredictions, serializing instructions and the syscall
#   instruction itself cost nothing extra, and there are no cross-CPU wakeups. The emulated CPU
#   (-cpu max) reports Meltdown "Not affected" (no page-table isolation) and gets retpolines.
# - So a system call's fixed cost is undercounted: an untraced getppid is ~340 instructions and an
#   untraced openat+close ~10,500 on 6.1 (a ratio of ~31), against ~240 ns and ~1,400-2,300 ns on
#   the host (~6-10). Work added to every system call therefore weighs more in the guest's getppid
#   ratios than on hardware (raw mode 1.47-1.66 here, 1.28 on the host; syscall tracepoints only,
#   tracepoints mode, 1.27-1.40 here, 1.10 there; libbpf-tools 1.43-1.62 here, 1.12 there), while
#   fexit's 1.00 holds exactly. In the open loop swift-opensnoop's ratios come out lower (1.23-1.53,
#   1.40 on the host: the wakeups and the cache misses of reading an event count as instructions
#   only) and libbpf-tools' higher (3.1-3.9, 2.71 on the host: its per-event reader takes 45-50% of
#   the loop's time on the one CPU instead of running beside it).
# - The first untraced runs after boot executed 2-4x the instructions of later ones (the kernel
#   still busy with its start, on 6.12 and 7.x): the guest warms up until two runs agree.
# - A guest without /etc/localtime made libbpf-tools' opensnoop trace itself: glibc's localtime(),
#   which it calls per event, opens the missing file each time, an open it then traced (100% CPU,
#   55% of the events lost, a getppid ratio of 3). The bench's initramfs has the host's.
#
# Downloads go through a private apt configuration ($KERNEL_DIR/apt: its own sources, lists and
# cache; the machine's apt setup is left as it is); each kernel's vmlinuz is kept, so a re-run
# downloads nothing new. Needs (and installs if missing) Debian's qemu-system-x86, busybox-static,
# cpio and gcc-multilib.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

KERNELS=${KERNELS:-5.10 6.1 6.12 6.18 7.x}
CHECKS=${CHECKS:-all}
KERNEL_ACCEL=${KERNEL_ACCEL:-auto}
GUEST_TIMEOUT_SET=${GUEST_TIMEOUT:-}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-420}
KERNEL_READY=${KERNEL_READY:-90}
GUEST_SMP=${GUEST_SMP:-1}
GUEST_QEMU_ARGS=${GUEST_QEMU_ARGS:-}
KERNEL_DIR=${KERNEL_DIR:-$ROOT/.build/kernels}
BIN=${BIN:-$ROOT/Tools/.build/release}
EXAMPLES_BIN=${EXAMPLES_BIN:-$ROOT/.build/release}
ncpu=$(nproc)
KERNEL_JOBS=${KERNEL_JOBS:-$((ncpu > 4 ? 4 : ncpu))}
# Checks that show how the machinery fares, not the project: listed, never failing the run.
REFERENCE_CHECKS=" libbpf-tools "

mkdir -p "$KERNEL_DIR"
KERNEL_DIR=$(realpath "$KERNEL_DIR")
KMX_MODE=${KMX_MODE:-test}
case $KMX_MODE in
test)
	NAME=kernel-test GUEST_INIT=Tests/KernelMatrix/guest.sh WORK=$KERNEL_DIR GUEST_ARGS="" ;;
bench)
	BENCH_OPENS=${BENCH_OPENS:-20000} BENCH_CALLS=${BENCH_CALLS:-800000} BENCH_ROUNDS=${BENCH_ROUNDS:-3}
	BENCH_ICOUNT=${BENCH_ICOUNT:-0}
	GUEST_TIMEOUT=${GUEST_TIMEOUT_SET:-900}
	NAME=kernel-bench GUEST_INIT=Tests/KernelMatrix/bench-guest.sh WORK=$KERNEL_DIR/bench
	GUEST_ARGS="kmx.opens=$BENCH_OPENS kmx.calls=$BENCH_CALLS kmx.rounds=$BENCH_ROUNDS" ;;
*) echo "KMX_MODE=$KMX_MODE: test or bench" >&2; exit 2 ;;
esac
say() { printf '%s\n' "$NAME: $*" >&2; }
die() { say "$*"; exit 2; }
start_time=$SECONDS

# The Debian packages this needs (beyond the build's), installed if missing, as
# scripts/install-deps.sh does for the build.
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v busybox >/dev/null || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
[ -e /usr/lib/gcc/x86_64-linux-gnu/"$(gcc -dumpversion 2>/dev/null)"/32/libgcc.a ] || missing+=(gcc-multilib)
if [ ${#missing[@]} -gt 0 ]; then
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
BUSYBOX=$(command -v busybox)
# The tools (Tools/ package) from $BIN, BPFKit's examples (root package) from $EXAMPLES_BIN.
product_path() {
	case $1 in
	opens | opens-pid) printf '%s\n' "$EXAMPLES_BIN/$1" ;;
	*) printf '%s\n' "$BIN/$1" ;;
	esac
}
for product in opensnoop opensnoop-agent execsnoop opens opens-pid opensnoop-testhelper; do
	[ "${KERNEL_FETCH_ONLY:-0}" = 1 ] || [ -x "$(product_path $product)" ] ||
		die "$(product_path $product) missing: build it first (make kernel-test does)"
done

# --- kernels: a private apt configuration, the newest package of each series ------------------

APT=$KERNEL_DIR/apt
mkdir -p "$APT/etc/sources.list.d" "$APT/etc/preferences.d" "$APT/etc/apt.conf.d" \
	"$APT/state/lists/partial" "$APT/cache/archives/partial" "$KERNEL_DIR/vmlinuz"
# The machine's Debian mirrors, as its own apt sources name them (nothing else is reachable).
read -r MIRROR SECURITY < <(scripts/debian-mirrors.sh) || die "no Debian mirror found"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
{
	for suite in bullseye bookworm trixie trixie-backports; do
		echo "deb [arch=amd64 signed-by=$KEYRING] $MIRROR $suite main"
	done
	for suite in bullseye-security bookworm-security trixie-security; do
		echo "deb [arch=amd64 signed-by=$KEYRING] $SECURITY $suite main"
	done
} >"$APT/etc/sources.list.new"
cat >"$APT/apt.conf" <<EOF
Dir::Etc::SourceList "$APT/etc/sources.list";
Dir::Etc::SourceParts "$APT/etc/sources.list.d";
Dir::Etc::Preferences "$APT/etc/preferences";
Dir::Etc::PreferencesParts "$APT/etc/preferences.d";
Dir::State "$APT/state";
Dir::State::status "$APT/state/status";
Dir::Cache "$APT/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
Acquire::IndexTargets::deb::CNF::DefaultEnabled "false";
EOF
touch "$APT/state/status"
export APT_CONFIG=$APT/apt.conf

download_start=$SECONDS
stamp=$APT/state/updated
if [ -z "$(tr ' ' '\n' <<<"$KERNELS" | grep -vx host)" ]; then
	:  # only this machine's kernel: nothing to download
elif ! cmp -s "$APT/etc/sources.list.new" "$APT/etc/sources.list" || [ "${KERNEL_REFRESH:-0}" = 1 ] ||
	[ -z "$(find "$stamp" -mmin -360 2>/dev/null)" ]; then
	mv "$APT/etc/sources.list.new" "$APT/etc/sources.list"
	say "updating the package lists (private apt configuration in $APT)"
	if apt-get -qq update >"$APT/update.log" 2>&1; then
		touch "$stamp"
	elif ls "$APT"/state/lists/*Packages* >/dev/null 2>&1; then
		say "apt-get update failed, using the lists from before: $(tail -n1 "$APT/update.log")"
	else
		cat "$APT/update.log" >&2
		die "apt-get update failed"
	fi
else
	rm -f "$APT/etc/sources.list.new"
fi

# The suites a series comes from: each Debian release's own kernel with its security updates;
# the newer ones from trixie-backports.
suites_of() {
	case $1 in
	5.10) echo "bullseye bullseye-security" ;;
	6.1) echo "bookworm bookworm-security" ;;
	6.12) echo "trixie trixie-security" ;;
	*) echo "trixie-backports" ;;
	esac
}

# "version package" of every cloud kernel package of each suite, from its Packages list (read
# again only when apt-get update changed it).
mkdir -p "$APT/cloud"
apt-get indextargets --format '$(FILENAME) $(RELEASE)' 'Identifier: Packages' |
	while read -r file release; do
		[ -e "$file" ] || continue
		[ "$APT/cloud/$release" -nt "$file" ] && continue
		/usr/lib/apt/apt-helper cat-file "$file" | awk '
			/^Package: / { p = $2 } /^Version: / { v = $2 }
			/^$/ { if (p ~ /^linux-(image|binary)-[0-9].*-cloud-amd64(-unsigned)?$/) print v, p; p = "" }
			END { if (p ~ /^linux-(image|binary)-[0-9].*-cloud-amd64(-unsigned)?$/) print v, p }' |
			sort -u >"$APT/cloud/$release.new"
		mv "$APT/cloud/$release.new" "$APT/cloud/$release"
	done

# "version package" of the series' packages in its suites.
candidates() {
	local series=$1 pattern suite
	pattern=${series//./\\.}
	pattern=${pattern/\\.x/\\.[0-9]+}
	for suite in $(suites_of "$series"); do
		[ -e "$APT/cloud/$suite" ] || continue
		grep -E " linux-(image|binary)-$pattern\\.[0-9][^ ]*-cloud-amd64(-unsigned)?\$" "$APT/cloud/$suite" || true
	done | sort -u
}

# The newest version of the series, and the package holding its vmlinuz: linux-binary-* (from
# 6.19, when linux-image-* became a metapackage), else the signed image, else the unsigned one.
pick() {
	local series=$1 best="" version package
	local -a lines
	mapfile -t lines < <(candidates "$series")
	[ ${#lines[@]} -gt 0 ] || return 1
	for line in "${lines[@]}"; do
		version=${line%% *}
		if [ -z "$best" ] || dpkg --compare-versions "$version" gt "$best"; then best=$version; fi
	done
	for kind in binary image image-unsigned; do
		for line in "${lines[@]}"; do
			version=${line%% *} package=${line#* }
			[ "$version" = "$best" ] || continue
			case $kind:$package in
			binary:linux-binary-*) ;;
			image:linux-image-*-cloud-amd64) ;;
			image-unsigned:linux-image-*-unsigned) ;;
			*) continue ;;
			esac
			echo "$package $version"
			return 0
		done
	done
	return 1
}

declare -A PACKAGE VERSION VMLINUZ RELEASE
for series in $KERNELS; do
	if [ "$series" = host ]; then
		PACKAGE[$series]=host VERSION[$series]=$(uname -r) RELEASE[$series]="host $(uname -r)"
		continue
	fi
	picked=$(pick "$series") || die "no cloud kernel package for series $series in $(suites_of "$series")"
	package=${picked% *} version=${picked#* }
	dir=$KERNEL_DIR/vmlinuz/${package}_$version
	if [ ! -s "$dir/vmlinuz" ]; then
		say "$series: downloading $package $version"
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp/deb"
		(cd "$dir.tmp/deb" && apt-get -qq download "$package=$version" >/dev/null)
		deb=$(echo "$dir.tmp"/deb/*.deb)
		# boot/vmlinuz-RELEASE, or usr/lib/modules/RELEASE/vmlinuz (linux-binary-*, from 6.19).
		members=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
		image=$(grep -m1 -E '^\./(boot/vmlinuz-[^/]+|usr/lib/modules/[^/]+/vmlinuz)$' <<<"$members") ||
			die "$package $version holds no vmlinuz"
		config=$(grep -m1 -E '^\./(boot/config-[^/]+|usr/lib/modules/[^/]+/config)$' <<<"$members") || config=""
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" "$image" ${config:+"$config"}
		mv "$dir.tmp/$image" "$dir.tmp/vmlinuz"
		[ -z "$config" ] || mv "$dir.tmp/$config" "$dir.tmp/config"
		sed -E 's|^\./boot/vmlinuz-||; s|^\./usr/lib/modules/([^/]+)/vmlinuz$|\1|' <<<"$image" >"$dir.tmp/release"
		rm -rf "$dir.tmp/deb" "$dir.tmp/boot" "$dir.tmp/usr" "$dir"
		mv "$dir.tmp" "$dir"
	fi
	PACKAGE[$series]=$package VERSION[$series]=$version VMLINUZ[$series]=$dir/vmlinuz
	RELEASE[$series]=$(cat "$dir/release")
	say "$series: $package $version"
done
download_seconds=$((SECONDS - download_start))
if [ "${KERNEL_FETCH_ONLY:-0}" = 1 ]; then
	for series in $KERNELS; do echo "$series ${VMLINUZ[$series]:-}"; done
	exit 0
fi

# --- the initramfs: busybox, the binaries, their libraries, guest.sh as /init ----------------

build_start=$SECONDS
INITRD=$WORK/initramfs.cpio.gz
STAGE=$WORK/initramfs
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,tmp,run,opt/kmx/bin,opt/kmx/peer,etc}
cp "$BUSYBOX" "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"
for product in opensnoop opensnoop-agent execsnoop opens opens-pid opensnoop-testhelper; do
	cp "$(product_path $product)" "$STAGE/opt/kmx/bin/"
done
# A static 32-bit opener for the compat checks.
gcc -m32 -static -O2 -o "$STAGE/opt/kmx/bin/opener32" Tools/Tests/Programs/opener.c 2>"$KERNEL_DIR/opener32.log" ||
	die "gcc -m32 -static failed (Debian: gcc-multilib): $(head -n3 "$KERNEL_DIR/opener32.log")"
# stdbuf: line-buffered output for the tracers that leave stdio's buffering as it is.
cp "$(command -v stdbuf)" "$STAGE/opt/kmx/bin/"
libstdbuf=""
for candidate in /usr/libexec/coreutils/libstdbuf.so /usr/lib/*/coreutils/libstdbuf.so; do
	[ -e "$candidate" ] && libstdbuf=$candidate && break
done
[ -n "$libstdbuf" ] || die "no libstdbuf.so (coreutils' stdbuf)"
cp --parents "$libstdbuf" "$STAGE/"
if [ -x /usr/sbin/opensnoop ]; then cp /usr/sbin/opensnoop "$STAGE/opt/kmx/peer/"; fi
# Every shared library ldd names, at the same path (the loader too).
for file in "$STAGE"/opt/kmx/bin/* "$STAGE"/opt/kmx/peer/* "$STAGE/bin/busybox" ${libstdbuf:+"$STAGE$libstdbuf"}; do
	ldd "$file" 2>/dev/null | grep -oE '/[^ ]+' || true
done | sort -u | while read -r lib; do
	[ -e "$STAGE$lib" ] || cp -L --parents "$lib" "$STAGE/"
done
if [ "$KMX_MODE" = bench ]; then
	# The benchmark's workload, static: it needs no library in the guest.
	gcc -static -O2 -pthread -o "$STAGE/opt/kmx/bin/workload" bench/workload.c 2>"$WORK/workload.log" ||
		die "gcc -static failed: $(head -n3 "$WORK/workload.log")"
	# A time zone file, as a real system has: without one, glibc's localtime() tries to open
	# /etc/localtime again on each call, and libbpf-tools' opensnoop (which calls it per event)
	# traced its own failed opens, a feedback loop that kept it at 100% CPU.
	if [ -e /etc/localtime ]; then cp -L /etc/localtime "$STAGE/etc/localtime"; fi
fi
cp "$GUEST_INIT" "$STAGE/init"
cp Tests/KernelMatrix/guest-setup.sh "$STAGE/opt/kmx/guest-setup.sh"
chmod 755 "$STAGE/init"
mknod "$STAGE/dev/console" c 5 1 2>/dev/null || true
(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -1 >"$INITRD")
say "initramfs: $(du -h "$INITRD" | cut -f1) ($((SECONDS - build_start)) s)"

# --- boot each kernel once --------------------------------------------------------------------

accel=$KERNEL_ACCEL
if [ "$accel" = auto ]; then
	accel=tcg
	# kvm-pvm (Firecracker's nested KVM) cannot boot a stock kernel; a real KVM needs vmx or svm.
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
		accel=kvm
	fi
fi
cpu=max
[ "$accel" = kvm ] && cpu=host
if [ "$KMX_MODE" = bench ]; then
	if [ "$BENCH_ICOUNT" = off ] || [ "$accel" != tcg ]; then
		BENCH_CLOCK="guest time is real time ($accel as fast as it runs)"
	else
		GUEST_QEMU_ARGS="$GUEST_QEMU_ARGS -icount shift=$BENCH_ICOUNT,sleep=on"
		BENCH_CLOCK="-icount shift=$BENCH_ICOUNT: guest time counts the instructions executed ($((1 << BENCH_ICOUNT)) ns each), whatever the host's load"
	fi
fi
say "booting $(wc -w <<<"$KERNELS") kernels with accel=$accel, $KERNEL_JOBS at a time, at most ${GUEST_TIMEOUT}s each"

LOGS=$WORK/logs
mkdir -p "$LOGS"
checks_arg=$(tr ' ' , <<<"$CHECKS")
boot() { # boot SERIES: one guest, its console in logs/SERIES.log, its time in logs/SERIES.time
	local series=$1 log=$LOGS/$1.log began=$SECONDS status=0
	if [ "$series" = host ]; then
		# This machine's kernel: guest.sh in a chroot of the initramfs, its mounts in a private
		# mount namespace (gone when it ends).
		timeout --kill-after=10 "$GUEST_TIMEOUT" unshare --mount --propagation private --fork -- \
			chroot "$STAGE" /bin/busybox env KMX_HOST=1 KMX_CHECKS="$checks_arg" KMX_READY="$KERNEL_READY" \
			$(tr a-z A-Z <<<"$GUEST_ARGS" | sed 's/KMX\./KMX_/g') \
			/bin/busybox sh /init </dev/null >"$log" 2>&1 || status=$?
		echo "$((SECONDS - began)) $status" >"$LOGS/$series.time"
		say "$series: checks finished in $((SECONDS - began)) s"
		return
	fi
	# shellcheck disable=SC2086
	timeout --kill-after=10 "$GUEST_TIMEOUT" qemu-system-x86_64 -machine "q35,accel=$accel" -cpu $cpu $GUEST_QEMU_ARGS \
		-m 1G -smp "$GUEST_SMP" -nographic -no-reboot -nic none -monitor none -serial stdio \
		-kernel "${VMLINUZ[$series]}" -initrd "$INITRD" \
		-append "console=ttyS0 panic=-1 loglevel=3 kmx.checks=$checks_arg kmx.ready=$KERNEL_READY${GUEST_ARGS:+ $GUEST_ARGS}" \
		</dev/null >"$log" 2>&1 || status=$?
	echo "$((SECONDS - began)) $status" >"$LOGS/$series.time"
	say "$series: guest finished in $((SECONDS - began)) s$([ $status = 124 ] && echo " (timed out)")"
}
boot_start=$SECONDS
load_start=$(cut -d' ' -f1 /proc/loadavg)
running=0
for series in $KERNELS; do
	rm -f "$LOGS/$series.log" "$LOGS/$series.time"
	if [ "$running" -ge "$KERNEL_JOBS" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	boot "$series" &
	running=$((running + 1))
done
wait
boot_seconds=$((SECONDS - boot_start))

if [ "$KMX_MODE" = bench ]; then
	args=()
	for series in $KERNELS; do args+=("$series" "$LOGS/$series.log" "$LOGS/$series.time"); done
	KMX_SETUP="$BENCH_CLOCK; guests of $GUEST_SMP CPU, $KERNEL_JOBS at a time on this machine's $ncpu CPUs (load average $load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end)" \
		python3 Tests/KernelMatrix/bench-report.py "$accel" "${args[@]}" >"$KERNEL_DIR/bench.md"
	echo
	cat "$KERNEL_DIR/bench.md"
	echo "downloads ${download_seconds}s, guests ${boot_seconds}s, total $((SECONDS - start_time))s; tables in $KERNEL_DIR/bench.md"
	exit 0
fi

# --- results ----------------------------------------------------------------------------------

declare -A CELL
failed=0
all_checks=()
for series in $KERNELS; do
	log=$LOGS/$series.log
	while read -r _ _ check result seconds message; do
		[[ " ${all_checks[*]} " == *" $check "* ]] || all_checks+=("$check")
		case $result in
		ok) CELL[$series/$check]=ok ;;
		na) CELL[$series/$check]="n/a (${message})" ;;
		*)
			CELL[$series/$check]=FAIL
			[[ $REFERENCE_CHECKS == *" $check "* ]] || failed=1
			;;
		esac
	done < <(tr -d '\r' <"$log" | grep -a '^KMX result ')
done
# Checks asked for but never reported (the guest died or timed out) fail.
if [ "$CHECKS" = all ]; then
	expected=$(sed -n 's/^ALL="\(.*\)"$/\1/p' Tests/KernelMatrix/guest.sh)
else
	expected=$CHECKS
fi
for check in $expected; do
	[[ " ${all_checks[*]} " == *" $check "* ]] || all_checks+=("$check")
done
for series in $KERNELS; do
	for check in "${all_checks[@]}"; do
		if [ -z "${CELL[$series/$check]:-}" ]; then
			CELL[$series/$check]="FAIL (no result)"
			[[ $REFERENCE_CHECKS == *" $check "* ]] || failed=1
		fi
	done
done

{
	printf '| check |'
	for series in $KERNELS; do printf ' %s |' "${RELEASE[$series]}"; done
	printf '\n|---|'
	for _ in $KERNELS; do printf -- '---|'; done
	printf '\n'
	for check in "${all_checks[@]}"; do
		label=$check
		[[ $REFERENCE_CHECKS == *" $check "* ]] && label="$check (reference)"
		printf '| %s |' "$label"
		for series in $KERNELS; do printf ' %s |' "${CELL[$series/$check]}"; done
		printf '\n'
	done
	printf '\nKernels (Debian packages):'
	for series in $KERNELS; do printf ' %s %s;' "${PACKAGE[$series]}" "${VERSION[$series]}"; done
	printf ' accel=%s.\n' "$accel"
} >"$KERNEL_DIR/matrix.md"

echo
cat "$KERNEL_DIR/matrix.md"
echo
for series in $KERNELS; do
	log=$LOGS/$series.log
	read -r secs status <"$LOGS/$series.time" || secs=? status=?
	guest=$(tr -d '\r' <"$log" | sed -n 's/^KMX done //p' | head -n1)
	note=""
	[ "$status" = 124 ] && note=" TIMED OUT after ${GUEST_TIMEOUT}s"
	[ -z "$guest" ] && [ -z "$note" ] && note=" (the guest did not finish: see $log)"
	where="in qemu"
	[ "$series" = host ] && where="in all"
	echo "${RELEASE[$series]}: ${secs}s $where, checks ${guest:-?}s$note"
	declare -A said=()
	while read -r _ _ check _ _ message; do
		if [ -n "${said[$message]:-}" ]; then
			echo "  FAIL $check: as ${said[$message]}"
			continue
		fi
		said[$message]=$check
		echo "  FAIL $check: $message"
		details=$(tr -d '\r' <"$log" | grep -a "^KMX detail $check " | sed "s/^KMX detail $check /    /")
		# The first lines of its stderr and the last (where a verifier log says why), the first
		# of its output and of the workload's.
		{
			grep '^    err: ' <<<"$details" | awk '{ line[NR] = $0 } END {
				for (i = 1; i <= NR; i++) if (i <= 2 || i > NR - 3) print line[i]; else if (i == 3) print "    err: ..." }'
			grep '^    out: ' <<<"$details" | head -n3
			grep '^    work: ' <<<"$details" | head -n3
		} || true
	done < <(tr -d '\r' <"$log" | grep -a '^KMX result [^ ]* fail ')
	unset said
done
# What the verifier reported in each guest (the verifier check's tables), for the record.
for series in $KERNELS; do
	tr -d '\r' <"$LOGS/$series.log" | sed -n 's/^KMX stats //p' >"$KERNEL_DIR/verifier-${RELEASE[$series]// /-}.txt"
done
echo "downloads ${download_seconds}s, guests ${boot_seconds}s, total $((SECONDS - start_time))s; table in $KERNEL_DIR/matrix.md"
exit $failed
