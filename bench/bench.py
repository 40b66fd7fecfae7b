#!/usr/bin/env python3
"""Peer benchmark: an open-heavy workload with no tracer, with swift-opensnoop and with
libbpf-tools' opensnoop, alternating in one run. Prints, per setup: ns per open, slowdown
against no tracer, events in the output against opens issued, startup time and peak RSS.

    bench/run.sh [--opens N] [--rounds R]
"""
import argparse, os, platform, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, ".build", "release", "opensnoop")
THEIRS = "/usr/sbin/opensnoop"


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


def start_tracer(argv, out_path, marker):
    """Starts a tracer; returns (process, startup seconds): launch until a marker open shows."""
    out = open(out_path, "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
    out.close()
    while True:
        try:
            os.close(os.open(marker, os.O_RDONLY))
        except OSError:
            pass
        if out_path != "/dev/null":
            with open(out_path, "rb") as f:
                if marker.encode() in f.read():
                    return proc, time.monotonic() - t0
        elif time.monotonic() - t0 > 1.0:
            # Output discarded: the marker can't be seen; give it a fixed settle time.
            return proc, float("nan")
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited: {proc.stderr.read().decode()}")
        if time.monotonic() - t0 > 30:
            raise RuntimeError(f"{argv[0]} did not start")
        time.sleep(0.002)


def stop_tracer(proc):
    rss = peak_rss_kib(proc.pid)
    time.sleep(0.2)  # let the last events arrive
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return rss, err.decode()


def count_events(out_path, paths, json_lines=False):
    """Counts output lines about one of `paths`: text lines ending in it, JSON records with it."""
    if out_path == "/dev/null":
        return None
    keys = [(b'"path":"%s"' % p.encode()) if json_lines else p.encode() for p in paths]
    n = 0
    with open(out_path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if any((k in line) if json_lines else line.endswith(k) for k in keys):
                n += 1
    return n


def run_once(setup, workload, opens, threads, work):
    target = os.path.join(work, "target")
    missing = os.path.join(work, "missing-file")
    marker = os.path.join(work, f"marker-{time.monotonic_ns()}")
    open(marker, "w").close()
    out_path = "/dev/null" if setup.get("devnull") else os.path.join(work, "out.txt")
    wl = [workload, str(opens), str(threads), target, missing]
    proc = startup = None
    if setup.get("command_mode"):
        # opensnoop -- workload: attach, run the workload as the traced command, exit with it.
        # The workload's timing line goes to the tracer's stdout (inherited): the last number.
        with open(out_path, "wb") as out:
            proc = subprocess.run(setup["argv"] + ["--"] + wl, stdout=out, stderr=subprocess.PIPE, timeout=600)
        err = proc.stderr.decode()
        with open(out_path, "rb") as f:
            numbers = [l for l in f.read().split(b"\n") if l.strip().isdigit()]
        elapsed_ns = int(numbers[-1])
        rss = 0
    else:
        if setup.get("argv"):
            proc, startup = start_tracer(setup["argv"], out_path, marker)
        res = subprocess.run(wl, capture_output=True, text=True, check=True)
        elapsed_ns = int(res.stdout.strip())
        rss, err = stop_tracer(proc) if proc else (0, "")
    captured = count_events(out_path, [target, missing], setup.get("json", False)) if setup.get("argv") else None
    lost = [l for l in err.splitlines() if "lost" in l.lower()]
    return dict(ns=elapsed_ns / opens, captured=captured, issued=opens * threads, startup=startup,
                rss=rss, lost=lost)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opens", type=int, default=200_000, help="opens per thread")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    for exe in (OURS, THEIRS):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench: {exe} missing (make build; apt-get install libbpf-tools)")
    work = tempfile.mkdtemp(prefix="opensnoop-bench-")
    open(os.path.join(work, "target"), "w").close()
    workload = build_workload(work)
    setups = [
        dict(name="no tracer"),
        dict(name="swift-opensnoop > file", argv=[OURS]),
        dict(name="swift-opensnoop > /dev/null", argv=[OURS], devnull=True),
        dict(name="swift-opensnoop, all filtered out", argv=[OURS, "-n", "no-such-comm"], devnull=True),
        dict(name="swift-opensnoop -- workload > file", argv=[OURS], command_mode=True),
        dict(name="swift-opensnoop -F > file", argv=[OURS, "-F"]),
        dict(name="swift-opensnoop -j > file", argv=[OURS, "-j"], json=True),
        dict(name="libbpf-tools opensnoop > file", argv=[THEIRS]),
        dict(name="libbpf-tools opensnoop > /dev/null", argv=[THEIRS], devnull=True),
    ]
    print(f"# {platform.node()}: Linux {platform.release()}, {os.cpu_count()} CPUs; "
          f"{args.opens} opens per thread, every 8th failing; median of {args.rounds} rounds "
          f"(slowdown: median of per-round ratios to that round's untraced run)")
    for threads in (1, 2):
        results = {s["name"]: [] for s in setups}
        for _ in range(args.rounds):
            for s in setups:
                results[s["name"]].append(run_once(s, workload, args.opens, threads, work))
        bases = [r["ns"] for r in results["no tracer"]]
        print(f"\n## {threads} thread(s)")
        print(f"| setup | ns/open | slowdown | events captured / issued | startup s | peak RSS MiB |")
        print(f"|---|---|---|---|---|---|")
        for s in setups:
            rs = results[s["name"]]
            ns = statistics.median(r["ns"] for r in rs)
            # Slowdown per round against that round's own untraced run (drift cancels out).
            slowdown = statistics.median(r["ns"] / b for r, b in zip(rs, bases))
            caps = [r["captured"] for r in rs if r["captured"] is not None]
            cap = f"{min(caps)} / {rs[0]['issued']}" if caps else "-"
            if s["name"].startswith("swift-opensnoop, all filtered"):
                cap = "0 shown (filtered)"
            starts = [r["startup"] for r in rs if r["startup"] is not None and r["startup"] == r["startup"]]
            start = f"{statistics.median(starts):.3f}" if starts else "-"
            rss = max(r["rss"] for r in rs) / 1024
            lost = sum(len(r["lost"]) for r in rs)
            note = f" ({lost} lost notices)" if lost else ""
            print(f"| {s['name']} | {ns:,.0f} | {slowdown:.2f}x | {cap}{note} | {start} | "
                  f"{rss:.1f} |" if rss else f"| {s['name']} | {ns:,.0f} | {slowdown:.2f}x | {cap}{note} | {start} | - |")


if __name__ == "__main__":
    main()
