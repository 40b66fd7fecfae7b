#!/usr/bin/env bash
# The agent image, built here and run under podman with deploy/daemonset.yaml's own security
# context (Tests/Fleet/podman-args.py turns the DaemonSet into podman arguments): opens made by a
# process on the host, outside the container, must reach the mounted log directory and
# /metrics; /healthz must answer; stopping the container must leave no BPF program loaded.
#   make build && Tests/Fleet/image-test.sh          (root; podman, runc, mmdebstrap, curl, bpftool)
#   BIN=DIR Tests/Fleet/image-test.sh                 (the image made from the binaries in DIR)
# Prints "N passed, N failed" last; exits 1 when a check failed. Leaves no container, cgroup,
# mount or temporary directory behind (the image localhost/opensnoop:latest stays).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$SECONDS
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() {
    echo "image-test: $((SECONDS - started)) s"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

if [ "$(id -u)" != 0 ]; then fail "needs root (loads BPF programs, runs rootful podman)"; finish; fi
for tool in podman runc mmdebstrap curl bpftool python3; do
    command -v $tool >/dev/null || { fail "$tool is not installed"; finish; }
done

# Podman as this machine needs it, and why:
# - runc: crun 1.8 (Debian 12's) refuses hybrid cgroups whose v2 hierarchy has a controller
#   ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"; here v2 has
#   hugetlb); runc runs them. Kubernetes nodes mostly run runc (containerd's default) anyway.
# - cgroupfs: there is no systemd here to create the container's scopes.
# - ulimits: rootful podman 4.3 asks for nofile 1048576 and nproc above what this process's hard
#   limits allow, and a container without CAP_SYS_RESOURCE cannot raise them (crun/runc:
#   "setrlimit: Operation not permitted"); 1024 files is the low end of what runtimes give.
# The container's network is its own (the pod's), its port published on 127.0.0.1 only.
# DAEMONSET=FILE checks another variant of it.
daemonset=${DAEMONSET:-deploy/daemonset.yaml}
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
limits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

scratch=$repo/.build/tmp/image-test-$$
cid=none
cid2=none
export TMPDIR=$scratch/tmp
mkdir -p "$scratch/log" "$TMPDIR"
name=opensnoop-image-test-$$
# The cgroup2 mount: the file system type follows the " - " separator in mountinfo.
cgroup2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
[ -n "$cgroup2" ] || { fail "no cgroup2 mount"; finish; }
hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cgtop=$cgroup2/opensnoop-image-test-$$
cgroup=$cgtop/machine.slice/libpod-$hex.scope
tmp_before=$(ls -A /tmp /var/tmp 2>/dev/null)

cleanup() {
    "${podman[@]}" rm --force --ignore --time 0 "$name" >/dev/null 2>&1
    "${podman[@]}" rm --force --ignore --time 0 "$name-rd" >/dev/null 2>&1
    for dir in "$cgroup" "$cgtop/machine.slice" "$cgtop"; do [ -d "$dir" ] && rmdir "$dir"; done
    rm -rf "$scratch"
}
trap cleanup EXIT

# --- the image ---------------------------------------------------------------------------------
t=$SECONDS
if out=$(deploy/build-image.sh localhost/opensnoop:latest 2>&1); then
    pass "image built ($((SECONDS - t)) s): ${out##*$'\n'}"
else
    fail "deploy/build-image.sh" "$out"; finish
fi
size=$(podman image inspect --format '{{.Size}}' localhost/opensnoop:latest)
echo "     image size $((size / 1000000)) MB"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if ! mapfile -t runargs < <(python3 Tests/Fleet/podman-args.py "$daemonset" "$scratch/log" "$port"); then
    fail "the DaemonSet could not be turned into podman arguments"; finish
fi
[ "${#runargs[@]}" -gt 5 ] || { fail "podman-args.py printed nothing"; finish; }
echo "     podman run ${runargs[*]}"

# Waits until /healthz answers 200 (the DaemonSet's readiness probe), at most $1 seconds.
ready() {
    local i
    for ((i = 0; i < $1 * 5; i++)); do
        [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$2/healthz")" = 200 ] && return 0
        [ "$("${podman[@]}" inspect -f '{{.State.Running}}' "$3" 2>/dev/null)" = true ] || return 1
        sleep 0.2
    done
    return 1
}

t=$SECONDS
if ! "${podman[@]}" run -d --name "$name" "${limits[@]}" "${runargs[@]}" >/dev/null 2>"$scratch/run.err"; then
    fail "podman run" "$(cat "$scratch/run.err")"; finish
fi
if ready 30 "$port" "$name"; then
    pass "the container is ready: /healthz 200 after $((SECONDS - t)) s"
else
    fail "/healthz never answered 200" "$("${podman[@]}" logs "$name" 2>&1 | tail -5)"; finish
fi
pid=$("${podman[@]}" inspect -f '{{.State.Pid}}' "$name")
cid=$("${podman[@]}" inspect -f '{{.Id}}' "$name")

# --- the security context in effect ------------------------------------------------------------
status=$(cat /proc/$pid/status)
caps=$(awk '/^Cap(Prm|Eff|Bnd|Amb|Inh):/ { printf "%s=%s ", $1, $2 }' <<<"$status")
# CAP_DAC_READ_SEARCH (2), CAP_PERFMON (38), CAP_BPF (39): 0xc000000004; nothing else.
expected="CapInh:=0000000000000000 CapPrm:=000000c000000004 CapEff:=000000c000000004 CapBnd:=000000c000000004 CapAmb:=0000000000000000 "
[ "$caps" = "$expected" ] && pass "capabilities: BPF, PERFMON, DAC_READ_SEARCH only" || fail "capabilities" "$caps"
grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$status" && pass "no privilege escalation (NoNewPrivs 1)" || fail "NoNewPrivs"
# Seccomp mode 0 (none) for Unconfined, 2 (a filter) for RuntimeDefault.
profile=$(python3 -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
print(c.get("securityContext", {}).get("seccompProfile", {}).get("type", "Unconfined"))' "$daemonset")
[ "$profile" = Unconfined ] && mode=0 || mode=2
grep -q "^Seccomp:[[:space:]]*$mode\$" <<<"$status" && pass "seccomp $profile, as the DaemonSet asks (mode $mode)" \
    || fail "seccomp $profile" "$(grep Seccomp: <<<"$status")"
root_options=$(awk '$5 == "/" { print $6 }' /proc/$pid/mountinfo)
[[ ,$root_options, == *,ro,* ]] && pass "root file system read-only" || fail "root file system" "$root_options"
log_options=$(awk '$5 == "/var/log/opensnoop" { print $6 }' /proc/$pid/mountinfo)
[[ ,$log_options, == *,rw,* ]] && pass "log directory mounted read-write" || fail "log mount" "$log_options"
cg_options=$(awk '$5 == "/sys/fs/cgroup" { print $6 }' /proc/$pid/mountinfo)
[[ ,$cg_options, == *,ro,* ]] && pass "host cgroup tree mounted read-only" || fail "cgroup mount" "$cg_options"
[ "$(readlink /proc/$pid/ns/pid)" = "$(readlink /proc/self/ns/pid)" ] && pass "host PID namespace" || fail "PID namespace"
[ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] && pass "own network namespace (no hostNetwork)" || fail "network namespace"

# --- opens made on the host, outside the container ---------------------------------------------
command=imgt$$
command=${command:0:15}
cp /bin/cat "$scratch/$command"
echo present >"$scratch/present"
mkdir -p "$cgroup"
files=()
for ((i = 0; i < 40; i++)); do files+=("$scratch/present"); done
files+=("$scratch/missing" "$scratch/missing" "$scratch/missing")
# In a cgroup named as Podman's systemd driver names a container's: the agent names it from
# inside its container (open_by_handle_at on the mounted cgroup2 tree, CAP_DAC_READ_SEARCH).
sh -c 'echo $$ >"$1/cgroup.procs" && echo $$ >"$2" && shift 2 && exec "$@"' sh "$cgroup" "$scratch/opener.pid" \
    "$scratch/$command" "${files[@]}" >/dev/null 2>&1
opener=$(cat "$scratch/opener.pid")
events=$scratch/log/opens.jsonl
summary() {
    python3 - "$events" "$command" "$scratch" <<'EOF'
import json, sys
events, comm, scratch = sys.argv[1:]
mine = []
for line in open(events):
    record = json.loads(line)
    if record.get("comm") == comm:
        mine.append(record)
ok = sum(1 for r in mine if r["fd"] is not None and r["fd"] >= 0)
enoent = sum(1 for r in mine if r["errno_name"] == "ENOENT")
present = sum(1 for r in mine if r["path"] == scratch + "/present" and r["fd"] >= 0)
missing = sum(1 for r in mine if r["path"] == scratch + "/missing" and r["errno_name"] == "ENOENT")
pids = sorted({r["pid"] for r in mine})
cgroups = sorted({str(r.get("cgroup")) for r in mine})
containers = sorted({str(r.get("container_id")) for r in mine})
print(ok, enoent, present, missing, ",".join(map(str, pids)), ",".join(cgroups), ",".join(containers))
EOF
}
seen=""
for ((i = 0; i < 50; i++)); do
    if [ -s "$events" ]; then
        read -r ok enoent present missing pids cgroups containers < <(summary)
        [ "${present:-0}" -ge 40 ] && [ "${missing:-0}" -ge 3 ] && { seen=yes; break; }
    fi
    sleep 0.2
done
if [ -n "$seen" ]; then
    pass "a host process's opens are in the mounted log directory ($present of $scratch/present, $missing ENOENT)"
else
    fail "events in $events" "present=${present:-none} missing=${missing:-none}"
fi
[ "$present" = 40 ] && [ "$missing" = 3 ] && pass "exactly 40 + 3 events for the files opened" || fail "event counts" "$present $missing"
[ "$pids" = "$opener" ] && pass "events carry the host's PID ($opener)" || fail "PIDs" "$pids (expected $opener)"
[ "$cgroups" = "/opensnoop-image-test-$$/machine.slice/libpod-$hex.scope" ] && pass "events carry the process's cgroup path" \
    || fail "cgroup" "$cgroups"
[ "$containers" = "$hex" ] && pass "events carry its container id" || fail "container_id" "$containers"
mode=$(stat -c '%a %U' "$events")
[ "$mode" = "600 root" ] && pass "events file mode 0600, owned by root on the host" || fail "events file" "$mode"

# --- /metrics ----------------------------------------------------------------------------------
# The kernel's counts are exported once a second: wait for them to match the events.
value() { awk -v series="$1" '$1 == series { print int($2) }' <<<"$metrics"; }
for ((i = 0; i < 50; i++)); do
    metrics=$(curl -s -m 5 "http://127.0.0.1:$port/metrics")
    m_ok=$(value "opensnoop_opens_total{comm=\"$command\",result=\"ok\"}")
    m_enoent=$(value "opensnoop_opens_total{comm=\"$command\",result=\"ENOENT\"}")
    [ "$m_ok" = "$ok" ] && [ "$m_enoent" = "$enoent" ] && break
    sleep 0.2
done
[ -n "$m_ok" ] && [ "$m_ok" = "$ok" ] && [ "$m_enoent" = "$enoent" ] \
    && pass "/metrics counts them as the events do: ok $m_ok, ENOENT $m_enoent" \
    || fail "/metrics opens_total" "metrics ok=$m_ok ENOENT=$m_enoent, events ok=$ok ENOENT=$enoent"
grep -q '^# TYPE opensnoop_opens_total counter$' <<<"$metrics" && pass "/metrics exposition has opens_total as a counter" \
    || fail "/metrics TYPE line"
[ "$(value opensnoop_events_lost_total)" = 0 ] && pass "no events lost" || fail "events lost" "$(value opensnoop_events_lost_total)"
[ "$(curl -s -m 5 "http://127.0.0.1:$port/healthz" -o /dev/null -w '%{http_code}')" = 200 ] && pass "/healthz 200 while tracing" \
    || fail "/healthz"
memory=$(cat /sys/fs/cgroup/memory/libpod_parent/libpod-$cid/memory.max_usage_in_bytes 2>/dev/null)
echo "     agent RSS $(( $(value process_resident_memory_bytes) / 1048576 )) MiB, container cgroup peak (v1)" \
     "$(( ${memory:-0} / 1048576 )) MiB; the DaemonSet's limit is 128 MiB"

# --- stopping ----------------------------------------------------------------------------------
programs=$(grep -h '^prog_id:' /proc/$pid/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u)
links=$(grep -h '^link_id:' /proc/$pid/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u)
[ -n "$programs" ] && pass "the agent holds $(wc -w <<<"$programs") BPF programs, $(wc -w <<<"$links") links" || fail "no BPF program fds in the agent"
"${podman[@]}" stop --time 10 "$name" >/dev/null
code=$("${podman[@]}" inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] && pass "podman stop (SIGTERM): exit status 0" || fail "exit status" "$code: $("${podman[@]}" logs "$name" 2>&1 | tail -3)"
# A program is freed once its last link is released, which the kernel may defer a little.
for ((i = 0; i < 100; i++)); do
    left=""
    for id in $programs; do bpftool prog show id "$id" >/dev/null 2>&1 && left+=" $id"; done
    [ -z "$left" ] && break
    sleep 0.2
done
[ -z "$left" ] && pass "no BPF program left loaded after stop" || fail "programs still loaded" "$left"
errors=$("${podman[@]}" logs "$name" 2>&1 | grep -v '^$')
[ -z "$errors" ] && pass "nothing on stderr" || fail "stderr" "$errors"
"${podman[@]}" rm "$name" >/dev/null

# --- the same pod under a RuntimeDefault seccomp profile as containerd's has it -----------------
# containerd's and Docker's default profiles allow bpf() under CAP_BPF and perf_event_open() under
# CAP_PERFMON (containerd#7301, moby#43987); podman 4.3's (containers-common) only under
# CAP_SYS_ADMIN. The profile here is podman's with containerd's two rules instead of its own.
python3 - "$scratch/runtime-default.json" <<'EOF'
import json, sys
profile = json.load(open("/usr/share/containers/seccomp.json"))
for rule in profile["syscalls"]:
    if {"bpf", "perf_event_open"} & set(rule["names"]):
        rule["names"] = [n for n in rule["names"] if n not in ("bpf", "perf_event_open")]
profile["syscalls"] = [r for r in profile["syscalls"] if r["names"]]
profile["syscalls"] += [{"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}},
                        {"names": ["perf_event_open"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_PERFMON"]}}]
json.dump(profile, open(sys.argv[1], "w"))
EOF
port2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mapfile -t runargs < <(python3 Tests/Fleet/podman-args.py "$daemonset" "$scratch/log" "$port2" "$scratch/runtime-default.json")
if "${podman[@]}" run -d --name "$name-rd" "${limits[@]}" "${runargs[@]}" >/dev/null 2>"$scratch/run.err" \
    && ready 30 "$port2" "$name-rd"; then
    cid2=$("${podman[@]}" inspect -f '{{.Id}}' "$name-rd")
    filter=$(awk '/^Seccomp:/ { print $2 }' /proc/$("${podman[@]}" inspect -f '{{.State.Pid}}' "$name-rd")/status)
    [ "$filter" = 2 ] && pass "under a containerd-like RuntimeDefault seccomp filter too: /healthz 200" \
        || fail "RuntimeDefault: no seccomp filter" "$filter"
else
    fail "RuntimeDefault seccomp" "$(cat "$scratch/run.err"; "${podman[@]}" logs "$name-rd" 2>&1 | tail -3)"
fi
"${podman[@]}" stop --time 10 "$name-rd" >/dev/null 2>&1
"${podman[@]}" rm -f "$name-rd" >/dev/null 2>&1

# --- nothing left behind -----------------------------------------------------------------------
cleanup
trap - EXIT
leftover=$("${podman[@]}" ps -a --filter "name=$name" --format '{{.Names}}')
mounts=$(grep -E "$name|image-test-$$|libpod-$hex" /proc/self/mountinfo)
dirs=$(ls -d "$scratch" "$cgtop" /sys/fs/cgroup/*/libpod_parent/libpod-$cid /sys/fs/cgroup/*/libpod_parent/libpod-$cid2 2>/dev/null)
new_tmp=$(comm -13 <(sort <<<"$tmp_before") <(ls -A /tmp /var/tmp 2>/dev/null | sort) | grep -E 'podman|buildah|libpod|container|storage|opensnoop')
[ -z "$leftover$mounts$dirs$new_tmp" ] && pass "no container, mount, cgroup or temporary directory left" \
    || fail "left behind" "$leftover $mounts $dirs $new_tmp"
finish
