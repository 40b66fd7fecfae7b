#!/usr/bin/env python3
"""Peer benchmark: workloads with no tracer, with swift-opensnoop and with libbpf-tools'
opensnoop, alternating in one run (each round runs every setup once, in turn, starting one
setup further on than the round before; each run after a sync and a short pause).

Two workloads, each at 1 and 2 threads:
- the open loop (openat+close, every 8th open failing): ns per open, slowdown against no
  tracer, events captured against opens issued, start-up, peak RSS, and the tracer's CPU per
  event;
- a getppid loop: what an attached tracer costs the system calls it does not trace.

Start-up is measured independently of output buffering: while a tracer starts, the bench opens
a marker name every millisecond, each naming its own launch-relative time; start-up is the
time of the earliest marker the tool reported.

    bench/run.sh [--opens N] [--calls N] [--rounds R] [--threads 1,2]

A row is one `Setup` in OPEN_SETUPS or GETPPID_SETUPS below: add one there to measure a new
mode.
"""
import argparse, json, os, platform, re, signal, socket, statistics, subprocess, sys, tempfile, time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, "Tools", ".build", "release", "opensnoop")
THEIRS = "/usr/sbin/opensnoop"
# Markers are opened this often while a tracer starts; start-up is known to this resolution.
MARKER_INTERVAL = 0.001
# A tracer that does not say when it is attached (libbpf-tools) gets this long to attach.
ATTACH_WINDOW = 1.0
# Pause before each run, after syncing, for the last run's deferred work to end.
SETTLE = 0.3


@dataclass
class Setup:
    name: str
    argv: list = None          # the tracer's command line; None: no tracer
    output: str = "file"       # "file", "null", or "command" (the tracer runs the workload after --)
    json: bool = False         # events are JSON Lines (for counting them)
    shown: str = None          # what the "events" column says instead of a count
    ready: bool = False        # the tracer sends READY=1 to NOTIFY_SOCKET once attached

    @property
    def counts_events(self):
        return self.argv is not None and self.output != "null" and self.shown is None


def ours(name, *args, **kw):
    return Setup(f"swift-opensnoop{name}", [OURS, *args], ready=True, **kw)


def theirs(name, *args, **kw):
    return Setup(f"libbpf-tools opensnoop{name}", [THEIRS, *args], **kw)


FILTERED = "0 shown (filtered)"
OPEN_SETUPS = [
    Setup("no tracer"),
    ours(" > file"),
    ours(" > /dev/null", output="null"),
    ours(", all filtered out", "-n", "no-such-comm", output="null", shown=FILTERED),
    ours(" -- workload > file", output="command"),
    ours(" -F > file", "-F"),
    ours(" -j > file", "-j", json=True),
    ours(" --attach-mode raw > file", "--attach-mode", "raw"),
    ours(" --attach-mode raw, all filtered out", "--attach-mode", "raw", "-n", "no-such-comm", output="null",
         shown=FILTERED),
    ours(" --per-cpu-rings > file", "--per-cpu-rings"),
    ours(" -L > file", "-L"),
    ours(" --summary > file", "--summary", "1", shown="counted in the kernel"),
    ours(" --metrics --no-events", "--metrics", f"127.0.0.1:{20000 + os.getpid() % 20000}", "--no-events",
         output="null", shown="counted in the kernel"),
    theirs(" > file"),
    theirs(" > /dev/null", output="null"),
]
GETPPID_SETUPS = [
    Setup("no tracer"),
    ours(" (default mode: fexit, else open tracepoints)", output="null"),
    ours(" --attach-mode raw (raw sys_exit hook)", "--attach-mode", "raw", output="null"),
    ours(" --attach-mode tracepoints (open tracepoints only)", "--attach-mode", "tracepoints", output="null"),
    theirs("", output="null"),
]


def build_workload(work):
    exe = os.path.join(work, "workload")
    subprocess.run(["cc", "-O2", "-pthread", "-o", exe, os.path.join(ROOT, "bench", "workload.c")], check=True)
    return exe


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ns(pid):
    """CPU time of all threads of `pid` so far (user and system, from schedstat), in ns."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


class Tracer:
    """A tracer started for one run: attached when `start` returns (READY=1, or the attach
    window passed); `markers` is the prefix of the marker names opened while it started."""

    def __init__(self, setup, out_path, work, run_id):
        self.setup, self.out_path = setup, out_path
        self.markers = os.path.join(work, f"marker{run_id}-")
        self.err = tempfile.TemporaryFile()
        env = dict(os.environ)
        self.sock = None
        if setup.ready:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            name = f"opensnoop-bench-{os.getpid()}-{run_id}"
            self.sock.bind("\0" + name)
            env["NOTIFY_SOCKET"] = "@" + name
        with open(out_path, "wb") as out:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(setup.argv, stdout=out, stderr=self.err, env=env)

    def start(self):
        """Opens a marker each millisecond until the tracer is attached, and a little longer."""
        ready_at = None
        while True:
            now = time.monotonic() - self.t0
            try:
                os.close(os.open(f"{self.markers}{int(now * 1e6)}", os.O_RDONLY))
            except OSError:
                pass
            if self.sock is not None and ready_at is None:
                self.sock.settimeout(MARKER_INTERVAL)
                try:
                    if self.sock.recv(64).startswith(b"READY=1"):
                        ready_at = now
                except socket.timeout:
                    pass
            else:
                time.sleep(MARKER_INTERVAL)
            if ready_at is not None and now > ready_at + 0.05:
                return
            if self.sock is None and now > ATTACH_WINDOW:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.setup.name} exited: {self.stderr()}")
            if now > 30:
                raise RuntimeError(f"{self.setup.name} did not attach in 30 s")

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stop(self):
        """Ends the tracer; returns (peak RSS KiB, stderr)."""
        rss = peak_rss_kib(self.proc.pid)
        time.sleep(0.2)  # let the last events arrive
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        if self.sock is not None:
            self.sock.close()
        return rss, self.stderr()

    def startup(self):
        """Launch-relative time of the earliest marker in the output (None if none is there)."""
        if self.out_path == "/dev/null":
            return None
        pattern = re.compile(re.escape(os.path.basename(self.markers)).encode() + rb"(\d+)")
        with open(self.out_path, "rb") as f:
            times = [int(m.group(1)) for m in pattern.finditer(f.read())]
        return min(times) / 1e6 if times else None


def count_events(out_path, paths, json_lines=False):
    """Counts output lines about one of `paths` (text lines ending in it, JSON records with it),
    and, in JSON Lines, the lost records (`{"lost":N,"lost_total":M}`): JSON output reports
    lost events there, in the stream, not on standard error."""
    keys = [(b'"path":"%s"' % p.encode()) if json_lines else p.encode() for p in paths]
    n, lost = 0, []
    with open(out_path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if json_lines and line.startswith(b'{"lost":'):
                lost.append(line.decode())
            elif any((k in line) if json_lines else line.endswith(k) for k in keys):
                n += 1
    return n, lost


def settle():
    """Lets the previous run's deferred work end (writing back its output file, freeing the
    files its workload opened) before the next run starts: the run after the untraced one had
    its start-up slowed by it."""
    os.sync()
    time.sleep(SETTLE)


def run_once(setup, workload, threads, count, work, run_id):
    """One run of one setup: returns its measurements."""
    settle()
    target = os.path.join(work, "target")
    missing = os.path.join(work, "missing-file")
    out_path = "/dev/null" if setup.output == "null" else os.path.join(work, "out.txt")
    wl = [workload[0], workload[1], str(count), str(threads)] + ([target, missing] if workload[1] == "open" else [])
    result = dict(ns=None, captured=None, startup=None, rss=None, cpu=None, lost=[])
    if setup.output == "command":
        # opensnoop -- workload: attach, run the workload as the traced command, exit with it.
        # The workload's timing line goes to the tracer's stdout (inherited): the last number.
        with open(out_path, "wb") as out:
            proc = subprocess.run(setup.argv + ["--"] + wl, stdout=out, stderr=subprocess.PIPE, timeout=600)
        err = proc.stderr.decode(errors="replace")
        with open(out_path, "rb") as f:
            numbers = [l for l in f.read().split(b"\n") if l.strip().isdigit()]
        elapsed_ns = int(numbers[-1])
    elif setup.argv:
        tracer = Tracer(setup, out_path, work, run_id)
        try:
            tracer.start()
            cpu0 = cpu_ns(tracer.proc.pid)
            res = subprocess.run(wl, capture_output=True, text=True, check=True)
            time.sleep(0.2)  # the last events: read and written before the CPU is taken
            result["cpu"] = (cpu_ns(tracer.proc.pid) - cpu0) / (count * threads)
        finally:
            result["rss"], err = tracer.stop()
        result["startup"] = tracer.startup()
        elapsed_ns = int(res.stdout.strip())
    else:
        res = subprocess.run(wl, capture_output=True, text=True, check=True)
        elapsed_ns, err = int(res.stdout.strip()), ""
    result["lost"] = [l for l in err.splitlines() if "lost" in l.lower()]
    if setup.counts_events:
        result["captured"], lost_records = count_events(out_path, [target, missing], setup.json)
        result["lost"] += lost_records
    result["ns"] = elapsed_ns / count
    return result


def median_or_none(values, fmt):
    values = [v for v in values if v is not None]
    return fmt.format(statistics.median(values)) if values else "-"


def table(setups, results, issued, unit):
    """Prints one markdown table; returns the untraced runs' ns values (for the noise line)."""
    bases = [r["ns"] for r in results["no tracer"]]
    per_event = unit == "open"
    if per_event:
        print(f"| setup | ns/{unit} | slowdown (min–max) | events captured / issued | startup s | peak RSS MiB | tracer CPU ns/event |")
        print("|---|---|---|---|---|---|---|")
    else:
        print(f"| setup | ns/{unit} | slowdown (min–max) |")
        print("|---|---|---|")
    for s in setups:
        rs = results[s.name]
        ns = statistics.median(r["ns"] for r in rs)
        # Slowdown per round against that round's own untraced run (drift cancels out).
        ratios = [r["ns"] / b for r, b in zip(rs, bases)]
        slowdown = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f})"
        row = f"| {s.name} | {ns:,.0f} | {slowdown} |"
        if per_event:
            caps = [r["captured"] for r in rs if r["captured"] is not None]
            cap = s.shown or (f"{min(caps)} / {issued}" if caps else "-")
            lost = sum(len(r["lost"]) for r in rs)
            if lost:
                cap += f" ({lost} lost notices)"
            rss = median_or_none([r["rss"] / 1024 if r["rss"] else None for r in rs], "{:.1f}")
            row += (f" {cap} | {median_or_none([r['startup'] for r in rs], '{:.3f}')} | {rss} |"
                    f" {median_or_none([r['cpu'] for r in rs], '{:,.0f}')} |")
        print(row)
    return bases


def noise_line(bases, unit):
    med = statistics.median(bases)
    spread = (max(bases) - min(bases)) / med * 100
    print(f"\nNoise: the untraced {unit} loop took {min(bases):,.0f}–{max(bases):,.0f} ns/{unit} across rounds "
          f"(median {med:,.0f}, spread {spread:.0f}% of it).")


def binary_line():
    def size(path):
        return os.path.getsize(path)

    def stripped_size(path):
        with tempfile.NamedTemporaryFile() as tmp:
            subprocess.run(["strip", "-o", tmp.name, path], check=True)
            return os.path.getsize(tmp.name)

    def libraries(path):
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        names = [l.split()[0] for l in out.splitlines() if "=>" in l]
        return ", ".join(n.split(".so")[0] for n in names)

    ours = libraries(OURS)
    linked = "Swift runtime" + ("" if "libbpf" in ours else " and libbpf")
    print(f"\nBinaries: swift-opensnoop {stripped_size(OURS) / 2**20:.1f} MiB stripped "
          f"({size(OURS) / 2**20:.1f} MiB as built; {linked} linked in; needs {ours}); "
          f"libbpf-tools opensnoop {stripped_size(THEIRS) / 2**10:.0f} KiB stripped (libbpf linked in; needs {libraries(THEIRS)}).")


def other_tracers():
    """Names of BPF programs on syscall and scheduler hooks loaded now (other people's tracers slow
    every system call the workload makes)."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True).stdout
    try:
        progs = json.loads(out or "[]")
    except ValueError:
        return []
    kinds = {"tracing", "raw_tracepoint", "tracepoint", "kprobe", "perf_event"}
    return sorted(p.get("name", "?") for p in progs if p.get("type") in kinds)


def machine_line(args):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libbpf-tools"],
                             capture_output=True, text=True).stdout or "?"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {platform.node()}: Linux {platform.release()}, {os.cpu_count()} CPUs ({model}), "
          f"load average {os.getloadavg()[0]:.2f} at start; swift-opensnoop {commit or '?'}, libbpf-tools {version}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    others = other_tracers()
    print(f"# BPF tracing programs already loaded at start (other tracers on this machine): "
          f"{len(others)}{' (' + ', '.join(others) + ')' if others else ''}")
    print(f"# open loop: {args.opens} openat+close per thread, every 8th failing; getppid loop: {args.calls} calls "
          f"per thread; median of {args.rounds} rounds, setups alternating within each round, each round starting one further on "
          f"(slowdown: median, min and max of per-round ratios to that round's untraced run)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opens", type=int, default=200_000, help="opens per thread")
    ap.add_argument("--calls", type=int, default=2_000_000, help="getppid calls per thread")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    for exe in (OURS, THEIRS):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench: {exe} missing (make build; apt-get install libbpf-tools)")
    started = time.monotonic()
    machine_line(args)
    run_id = 0
    with tempfile.TemporaryDirectory(prefix="opensnoop-bench-") as work:
        open(os.path.join(work, "target"), "w").close()
        exe = build_workload(work)
        for threads in (int(t) for t in args.threads.split(",")):
            for workload, setups, count, unit, title in (
                    ("open", OPEN_SETUPS, args.opens, "open", "open loop"),
                    ("getppid", GETPPID_SETUPS, args.calls, "call", "getppid loop: the cost to everything else")):
                results = {s.name: [] for s in setups}
                for round_index in range(args.rounds):
                    # Each round starts one setup further on: whatever the run after the
                    # untraced one pays, it is not always the same setup that pays it.
                    start = round_index % len(setups)
                    for s in setups[start:] + setups[:start]:
                        run_id += 1
                        results[s.name].append(run_once(s, (exe, workload), threads, count, work, run_id))
                print(f"\n## {threads} thread(s): {title}")
                noise_line(table(setups, results, count * threads, unit), unit)
    binary_line()
    print(f"\nRun took {(time.monotonic() - started) / 60:.1f} min; load average {os.getloadavg()[0]:.2f} at the end.")


if __name__ == "__main__":
    main()
