#!/usr/bin/env bash
# deploy/opensnoop.service under a real systemd: boots a Debian root file system (systemd as
# PID 1) in a qemu guest, with the release binaries in /usr/local/bin and the unit in
# /etc/systemd/system as its header says, and runs Tests/Fleet/systemd-guest.sh there:
# `systemctl enable --now` reaches READY, another process's opens reach /var/log/opensnoop/ and
# /metrics, `systemctl reload` reopens the file, rotation works in the sandbox, `systemctl stop`
# leaves no BPF program loaded; prints `systemd-analyze security opensnoop`.
#   make build && Tests/Fleet/systemd-test.sh     (root; qemu-system-x86, mmdebstrap, e2fsprogs)
#   FLEET_SUITE=bookworm|trixie    the guest's Debian (default bookworm: systemd 252)
#   FLEET_KERNEL=7.x|6.1|PATH      the guest's kernel: the newest Debian cloud kernel of a series
#                                  (7.x, 6.19 ... from trixie-backports, 6.1 from bookworm), or a vmlinuz;
#                =host             no qemu: the same root file system booted by podman (systemd as PID 1
#                                  in a privileged container, its own network) on this machine's kernel
#   FLEET_TIMEOUT=SECONDS          the guest's time limit (default 600)
#   BIN=DIR                        the binaries to install (default Tools/.build/release)
# Kernels come from the kernel matrix's download (Tests/KernelMatrix/run.sh, its private apt
# configuration and cache in .build/kernels); the machine's apt setup is left alone. The root
# file system is cached as .build/fleet/systemd-SUITE.tar. Prints "N passed, N failed" last; exits 1 when a check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$SECONDS
suite=${FLEET_SUITE:-bookworm}
series=${FLEET_KERNEL:-7.x}
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() { echo "systemd-test: $((SECONDS - started)) s"; echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }

[ "$(id -u)" = 0 ] || { fail "needs root (mmdebstrap, files owned by root in the guest's image)"; finish; }
for tool in qemu-system-x86_64 mmdebstrap mkfs.ext4; do
    command -v $tool >/dev/null || { fail "$tool is not installed"; finish; }
done
bin=${BIN:-$repo/Tools/.build/release}
for binary in opensnoop opensnoop-agent; do
    [ -x "$bin/$binary" ] || { fail "$bin/$binary is missing: run 'make build' first"; finish; }
done
cache=$repo/.build/fleet
export TMPDIR=$repo/.build/tmp
mkdir -p "$cache" "$TMPDIR"
scratch=$(mktemp -d "$TMPDIR/systemd-test.XXXXXX")
[ "${FLEET_KEEP:-0}" = 1 ] || trap 'rm -rf "$scratch"' EXIT   # FLEET_KEEP=1 keeps the guest's files

# --- the kernel --------------------------------------------------------------------------------
if [ "$series" = host ]; then
    for tool in podman runc; do command -v $tool >/dev/null || { fail "$tool is not installed"; finish; }; done
    vmlinuz=""
elif [ -f "$series" ]; then
    vmlinuz=$series
else
    # The kernel matrix's download (its private apt configuration and cache).
    fetched=$(KERNELS=$series KERNEL_FETCH_ONLY=1 Tests/KernelMatrix/run.sh 2>"$scratch/fetch.log" | tail -1)
    vmlinuz=${fetched#* }
    [ -s "$vmlinuz" ] || { fail "no cloud kernel of series $series" "$(tail -3 "$scratch/fetch.log")"; finish; }
fi
echo "     kernel ${vmlinuz:-$(uname -r) (this machine)}"

# --- the root file system: Debian with systemd, the binaries and the unit installed -----------
rootfs=$cache/systemd-$suite.tar
if [ ! -s "$rootfs" ]; then
    t=$SECONDS
    read -r mirror security_mirror < <(scripts/debian-mirrors.sh) || { fail "no Debian mirror in this machine's apt sources"; finish; }
    security="deb $security_mirror $suite-security main"
    # systemd as init (dbus for systemd-run); the agent's libraries; curl and bpftool for the checks; procps for
    # /bin/kill (the unit's ExecReload), present on every Debian system.
    if ! mmdebstrap --quiet --variant=essential --format=tar \
        --include=systemd,systemd-sysv,dbus,libnss-systemd,libbpf1,libelf1,zlib1g,libstdc++6,curl,bpftool,procps \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='echo fleet >"$1/etc/hostname"' \
        --customize-hook='systemctl --root="$1" mask serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service' \
        "$suite" "$rootfs.new.tar" "deb $mirror $suite main" "$security" >"$scratch/mmdebstrap.log" 2>&1; then
        fail "mmdebstrap $suite" "$(tail -5 "$scratch/mmdebstrap.log")"; finish
    fi
    mv "$rootfs.new.tar" "$rootfs"
    pass "root file system $suite made ($((SECONDS - t)) s, $(($(stat -c %s "$rootfs") / 1048576)) MiB)"
fi
mkdir "$scratch/root"
tar -x -C "$scratch/root" -f "$rootfs"
install -m 0755 "$bin/opensnoop" "$bin/opensnoop-agent" "$scratch/root/usr/local/bin/"
install -m 0644 deploy/opensnoop.service "$scratch/root/etc/systemd/system/opensnoop.service"
install -m 0755 Tests/Fleet/systemd-guest.sh "$scratch/root/usr/local/sbin/fleet-check"
cat >"$scratch/root/etc/systemd/system/fleet-check.service" <<'EOF'
[Unit]
Description=Tests/Fleet/systemd-guest.sh, then power off
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/fleet-check
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
EOF
systemctl --root="$scratch/root" enable fleet-check.service >/dev/null 2>&1
t=$SECONDS
if [ "$series" = host ]; then
    # systemd needs CAP_SYS_ADMIN to build the unit's sandbox (namespaces, mounts): privileged.
    # runc, cgroupfs and the ulimits for the reasons given in image-test.sh. A terminal (-t)
    # makes /dev/console, where the guest's output goes. systemd ignores SIGTERM: on a timeout
    # the container is removed.
    timeout -k 10 "${FLEET_TIMEOUT:-600}" podman --runtime runc --cgroup-manager=cgroupfs run --rm -t \
        --name "fleet-systemd-$$" --privileged --systemd=always --network=none \
        --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --rootfs "$scratch/root" /sbin/init \
        </dev/null >"$scratch/console.log" 2>&1
    status=$?
    podman rm -f --time 0 "fleet-systemd-$$" >/dev/null 2>&1
else
    # An ext4 image made from the directory: no loop device, nothing mounted on the host.
    mkfs.ext4 -q -L root -d "$scratch/root" "$scratch/root.img" 1G || { fail "mkfs.ext4"; finish; }
    rm -rf "$scratch/root"
    # TCG: /dev/kvm here is Firecracker's kvm-pvm, on which stock kernels do not boot. NVMe and
    # ext4 are built into Debian's cloud kernels: no initramfs. One vCPU: with two, 7.3 once died
    # at boot of an int3 in code the kernel was patching on the other vCPU (multi-threaded TCG's
    # cross-modified code); the kernel matrix boots with one too.
    timeout "${FLEET_TIMEOUT:-600}" qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 1 -m 1024 \
        -display none -monitor none -no-reboot -serial "file:$scratch/console.log" \
        -kernel "$vmlinuz" -append "console=ttyS0 root=/dev/nvme0n1 rw rootfstype=ext4 panic=-1 systemd.show_status=error" \
        -drive "file=$scratch/root.img,if=none,id=root,format=raw" -device nvme,drive=root,serial=fleet
    status=$?
fi
tr -d '\r' <"$scratch/console.log" | sed 's/\x1b\[[0-9;]*m//g' >"$scratch/console.txt"
cp "$scratch/console.txt" "$cache/systemd-console.txt"   # the whole console, kept for a look
echo "     guest: $((SECONDS - t)) s, exit status $status"
# The guest's lines as the console shows them: "[ time] fleet-check[PID]: FLEET ...".
grep -o 'FLEET .*' "$scratch/console.txt" >"$scratch/fleet.txt"
# Of systemd-analyze security, the overall exposure and what it counts against the unit.
grep -E '^FLEET (info|journal|kernel) |^FLEET security .*(✗|Overall)' "$scratch/fleet.txt" | sed 's/^FLEET /     /'
while read -r line; do
    case $line in
    "FLEET ok "*) pass "${line#FLEET ok }" ;;
    "FLEET FAIL "*) fail "${line#FLEET FAIL }" ;;
    esac
done < <(grep -E '^FLEET (ok|FAIL) ' "$scratch/fleet.txt")
if grep -q '^FLEET done' "$scratch/fleet.txt"; then
    pass "the guest ran every check and powered off"
else
    fail "the guest did not finish" "$(tail -20 "$scratch/console.txt"; echo "(all of it: $cache/systemd-console.txt)")"
fi
left=$(grep -F "$scratch" /proc/self/mountinfo; pgrep -f "$scratch"; podman ps -a --filter "name=fleet-systemd-$$" --format '{{.Names}}' 2>/dev/null)
[ -z "$left" ] && pass "no process, container or mount left" || fail "left behind" "$left"
finish
