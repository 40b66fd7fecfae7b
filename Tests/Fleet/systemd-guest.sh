#!/bin/bash
# Runs inside the qemu guest of Tests/Fleet/systemd-test.sh, as fleet-check.service once the
# system is up (systemd is PID 1): installs nothing itself (the binaries are in /usr/local/bin
# and deploy/opensnoop.service in /etc/systemd/system, as the unit's header says), starts the
# unit the documented way and checks it. Every line for the host starts with "FLEET ".
set -u
say() { echo "FLEET $*"; }
pass() { say "ok $1"; }
fail() { say "FAIL $1${2:+: $2}"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# Waits until "$@" succeeds, at most $WAIT seconds (a TCG guest is ~12x slower than the host).
WAIT=60
until_true() { local i; for ((i = 0; i < WAIT * 5; i++)); do "$@" && return 0; sleep 0.2; done; return 1; }

say "kernel $(uname -r), $(systemctl --version | head -1)"
work=/root/fleet
mkdir -p $work
cp /bin/cat $work/fleetcat
echo present >$work/present
logs=/var/log/opensnoop
events=$logs/opens.jsonl

# --- start: the documented way -----------------------------------------------------------------
start=$(date +%s%N)
if out=$(systemctl enable --now opensnoop 2>&1); then
    pass "systemctl enable --now opensnoop returned 0 after $((($(date +%s%N) - start) / 1000000)) ms (Type=notify: once READY=1)"
else
    fail "systemctl enable --now opensnoop" "$out"
    journalctl -u opensnoop -o cat --no-pager | sed 's/^/FLEET journal /'
    say done
    exit 0
fi
check "the unit is active (running)" test "$(systemctl show -p ActiveState --value opensnoop)/$(systemctl show -p SubState --value opensnoop)" = active/running
pid=$(systemctl show -p MainPID --value opensnoop)
ready=$(($(systemctl show -p ActiveEnterTimestampMonotonic --value opensnoop) - $(systemctl show -p ExecMainStartTimestampMonotonic --value opensnoop)))
say "info exec to READY=1: $((ready / 1000)) ms"
uid=$(awk '/^Uid:/ { print $2 }' /proc/$pid/status)
[ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] && pass "runs as a dynamic user (uid $uid, $(id -nu "$uid" 2>/dev/null))" || fail "dynamic user" "uid $uid"
caps=$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/ { printf "%s=%s ", $1, $2 }' /proc/$pid/status)
# Ambient capabilities must be inheritable too.
[ "$caps" = "CapInh:=000000c000000004 CapPrm:=000000c000000004 CapEff:=000000c000000004 CapBnd:=000000c000000004 CapAmb:=000000c000000004 " ] \
    && pass "capabilities: BPF, PERFMON, DAC_READ_SEARCH only" || fail "capabilities" "$caps"
check "NoNewPrivs 1, a seccomp filter" grep -qzE 'NoNewPrivs:\s*1.*Seccomp:\s*2' /proc/$pid/status
check "/healthz 200" test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9473/healthz)" = 200

# --- opens of another process (its own service, its own cgroup) --------------------------------
files=()
for ((i = 0; i < 40; i++)); do files+=($work/present); done
# The unit (and its cgroup) stays a few seconds after the opens: the agent names a cgroup after
# the event, and one removed before that shows as null.
systemd-run --quiet --wait --unit=fleet-opener -p StandardOutput=null -p StandardError=null \
    /bin/sh -c '"$0" "$@"; sleep 5' $work/fleetcat "${files[@]}" $work/missing $work/missing $work/missing
count() { grep -F "\"comm\":\"fleetcat\"" "$1" 2>/dev/null | grep -cF "$2"; }
until_true test "$(count $events "\"path\":\"$work/present\"")" -ge 40
check "40 opens of another process in $events" test "$(count $events "\"path\":\"$work/present\"")" = 40
check "3 failed opens (ENOENT) in it" test "$(count $events "\"path\":\"$work/missing\",")" = 3
# (Below the container's own cgroup when this systemd runs in one.)
check "events carry the opener's cgroup .../system.slice/fleet-opener.service" \
    test "$(grep -F '"comm":"fleetcat"' $events | grep -cE '"cgroup":"(/[^"]*)?/system.slice/fleet-opener.service"')" = "$(count $events '"comm":"fleetcat"')"
owner=$(stat -Lc '%a %U' $logs)/$(stat -c '%a %U' $events)
[ "$owner" = "750 opensnoop/600 opensnoop" ] && pass "LogsDirectory 0750 and events file 0600, both the dynamic user's" || fail "log ownership" "$owner"
ok=$(count $events '"errno_name":null')
enoent=$(count $events '"errno_name":"ENOENT"')
series() { curl -s http://127.0.0.1:9473/metrics | awk -v s="opensnoop_opens_total{comm=\"fleetcat\",result=\"$1\"}" '$1 == s { print int($2) }'; }
until_true test "$(series ok)/$(series ENOENT)" = "$ok/$enoent"
check "/metrics counts them as the events do (ok $ok, ENOENT $enoent)" test "$(series ok)/$(series ENOENT)" = "$ok/$enoent"

# --- reload: reopens the file (what an external logrotate does) --------------------------------
mv $events $events.rotated
systemctl reload opensnoop
echo after >$work/after-reload
systemd-run --quiet --wait --unit=fleet-opener2 -p StandardOutput=null $work/fleetcat $work/after-reload
until_true grep -qF "\"path\":\"$work/after-reload\"" $events
check "after systemctl reload, new events go to a new $events" grep -qF "\"path\":\"$work/after-reload\"" $events
check "and none to the renamed file" test "$(grep -cF after-reload $events.rotated)" = 0
check "reload kept the process (MainPID $pid)" test "$(systemctl show -p MainPID --value opensnoop)" = "$pid"

# --- rotation and compression under the sandbox ------------------------------------------------
mkdir -p /etc/systemd/system/opensnoop.service.d
sed -n 's/^ExecStart=\(.*\)--rotate-size 100\(.*\)/[Service]\nExecStart=\nExecStart=\1--rotate-size 1\2/p' \
    /etc/systemd/system/opensnoop.service >/etc/systemd/system/opensnoop.service.d/rotate.conf
systemctl daemon-reload
systemctl restart opensnoop
many=()
for ((i = 0; i < 4000; i++)); do many+=($work/present); done
systemd-run --quiet --wait --unit=fleet-opener3 -p StandardOutput=null $work/fleetcat "${many[@]}"
until_true test -s $events.1.gz
check "--rotate-size 1 rotates and gzips under the sandbox ($(ls $logs | tr '\n' ' '))" test -s $events.1.gz
rm -r /etc/systemd/system/opensnoop.service.d
systemctl daemon-reload
systemctl restart opensnoop
pid=$(systemctl show -p MainPID --value opensnoop)

# --- stop: nothing left loaded -----------------------------------------------------------------
programs=$(grep -h '^prog_id:' /proc/$pid/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u | tr '\n' ' ')
names=$(for id in $programs; do bpftool prog show id "$id" | awk -F'name ' 'NR == 1 { split($2, a, " "); print a[1] }'; done | sort -u | tr '\n' ' ')
say "info the agent holds programs $programs($names)"
systemctl stop opensnoop
check "systemctl stop: inactive, result success, exit status 0" test \
    "$(systemctl show -p ActiveState --value opensnoop)/$(systemctl show -p Result --value opensnoop)/$(systemctl show -p ExecMainStatus --value opensnoop)" = inactive/success/0
# A program is freed once its last link is released, which the kernel may defer a little.
gone() { local id; for id in $programs; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done; return 0; }
WAIT=20 until_true gone
left=""
for id in $programs; do bpftool prog show id "$id" >/dev/null 2>&1 && left+=" $id"; done
[ -n "$programs" ] && [ -z "$left" ] && pass "no BPF program of the agent left loaded" || fail "programs left" "$left"
loaded=$(bpftool prog show | awk -F'name ' '/name/ { split($2, a, " "); print a[1] }' | sort -u | tr '\n' ' ')
say "info programs loaded now: ${loaded:-none}"
if systemd-detect-virt --quiet --container; then
    say "info in a container on a shared kernel: other tracers' programs may have the agent's names"
else
    stray=""
    for name in $names; do [[ " $loaded " == *" $name "* ]] && stray+=" $name"; done
    check "none loaded under the agent's program names" test -z "$stray"
fi

# --- what systemd says about it ----------------------------------------------------------------
systemd-analyze security --no-pager opensnoop 2>&1 | sed 's/^/FLEET security /'
journalctl -u opensnoop -o cat --no-pager | sed 's/^/FLEET journal /'
say done
