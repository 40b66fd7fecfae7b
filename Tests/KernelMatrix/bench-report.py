#!/usr/bin/env python3
"""The kernel matrix benchmark's tables (run.sh, KMX_MODE=bench): reads each guest's console log
(bench-guest.sh's "KMX ..." lines) and prints markdown: per kernel, each setup's time for the open
loop and the getppid loop as a ratio to the untraced run of the same round (median over rounds,
min–max), and the events each tracer wrote against the opens issued. Ratios only: the guests run
under TCG (run.sh's header says how that distorts them).

    bench-report.py ACCEL SERIES LOG TIMEFILE [SERIES LOG TIMEFILE ...]
"""
import os, statistics, sys

LABELS = {
    "none": "no tracer",
    "raw": "swift-opensnoop --attach-mode raw",
    "tracepoints": "swift-opensnoop --attach-mode tracepoints --no-compat",
    "fexit": "swift-opensnoop --attach-mode fexit",
    "libbpf-tools": "libbpf-tools opensnoop",
}


def parse(log):
    kernel, config, done, cpu = None, "", None, []
    runs = {}   # setup -> {round: (open_ns, getppid_ns, events, opens, lost)}
    na = {}
    try:
        text = open(log, "rb").read().decode(errors="replace").replace("\r", "")
    except OSError:
        text = ""
    for line in text.splitlines():
        if not line.startswith("KMX "):
            continue
        words = line.split()
        if words[1] == "kernel":
            kernel = words[2]
        elif words[1] == "cpu":
            cpu.append(" ".join(words[2:]))
        elif words[1] == "config":
            config = " ".join(words[2:])
        elif words[1] == "na":
            na[words[2]] = " ".join(words[3:])
        elif words[1] == "done":
            done = words[2]
        elif words[1] == "bench" and len(words) >= 8:
            rnd, setup = int(words[2]), words[3]
            events = None if words[6] == "-" else int(words[6])
            lost = int(words[8]) if len(words) > 8 else 0
            # The tracer's CPU time during each loop, as a share of the loop's time.
            share = None
            if len(words) > 13:
                share = (int(words[12]) / int(words[4]), int(words[13]) / int(words[5]))
            runs.setdefault(setup, {})[rnd] = (int(words[4]), int(words[5]), events, int(words[7]), lost, share)
    return kernel, config, done, cpu, runs, na


def spread(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main():
    accel, rest = sys.argv[1], sys.argv[2:]
    print(f"# Kernel matrix benchmark (qemu accel={accel}): ratios to the untraced run of the same round")
    print()
    print("Median over rounds (min–max); each round ran every setup once, in turn, starting one setup "
          "further on than the round before. Absolute times are not shown: under TCG they mean nothing "
          "(Tests/KernelMatrix/run.sh's header says how TCG distorts even the ratios); "
          f"{os.environ.get('KMX_SETUP', '')}.")
    summary = []
    for i in range(0, len(rest), 3):
        series, log, timefile = rest[i:i + 3]
        kernel, config, done, cpu, runs, na = parse(log)
        try:
            secs, status = open(timefile).read().split()
        except (OSError, ValueError):
            secs, status = "?", "?"
        print()
        print(f"## {kernel or series}")
        print()
        note = f"guest {secs} s" + (", TIMED OUT" if status == "124" else "") + \
            (f", benchmark {done} s" if done else ", the benchmark did not finish")
        print(f"{config}; {note}." + (f" Emulated CPU: {'; '.join(cpu)}." if cpu else ""))
        print()
        base = runs.get("none", {})
        if not base:
            print(f"No untraced runs: nothing to compare (see {log}).")
            continue
        print("| setup | open loop | getppid loop | events captured / opens issued | tracer CPU / loop time (open, getppid) |")
        print("|---|---|---|---|---|")
        row_summary = {}
        for setup, label in LABELS.items():
            if setup in na and setup not in runs:
                print(f"| {label} | n/a | n/a | {na[setup]} | - |")
                row_summary[setup] = "n/a"
                continue
            rs = runs.get(setup, {})
            rounds = sorted(r for r in rs if r in base)
            if not rounds:
                continue
            if setup == "none":
                # The untraced runs against their own median: how much a round moves by itself.
                mo = statistics.median(base[r][0] for r in rounds)
                mg = statistics.median(base[r][1] for r in rounds)
                o = f"1 (runs {min(base[r][0] for r in rounds) / mo:.2f}–{max(base[r][0] for r in rounds) / mo:.2f} of their median)"
                g = f"1 (runs {min(base[r][1] for r in rounds) / mg:.2f}–{max(base[r][1] for r in rounds) / mg:.2f})"
                print(f"| {label} | {o} | {g} | - | - |")
                continue
            o = [rs[r][0] / base[r][0] for r in rounds]
            g = [rs[r][1] / base[r][1] for r in rounds]
            caps = [rs[r][2] for r in rounds]
            opens = rs[rounds[0]][3]
            cap = f"{min(caps)} / {opens}" if min(caps) == max(caps) else f"{min(caps)}–{max(caps)} / {opens}"
            lost = sum(rs[r][4] for r in rounds)
            if lost:
                cap += f" ({lost} lost notices)"
            note = f" (n/a in a later round: {na[setup]})" if setup in na else ""
            shares = [rs[r][5] for r in rounds if rs[r][5] is not None]
            cpu = "-"
            if shares:
                cpu = (f"{statistics.median(x[0] for x in shares) * 100:.0f}%, "
                       f"{statistics.median(x[1] for x in shares) * 100:.0f}%")
            print(f"| {label} | {spread(o)}x | {spread(g)}x | {cap}{note} | {cpu} |")
            row_summary[setup] = f"{statistics.median(o):.2f} / {statistics.median(g):.2f}"
        summary.append((kernel or series, row_summary))
    if len(summary) > 1:
        print()
        print("## All kernels: median ratios, open loop / getppid loop")
        print()
        print("| setup | " + " | ".join(k for k, _ in summary) + " |")
        print("|---|" + "---|" * len(summary))
        for setup, label in LABELS.items():
            if setup == "none":
                continue
            print(f"| {label} | " + " | ".join(rs.get(setup, "-") for _, rs in summary) + " |")


if __name__ == "__main__":
    main()
