#!/usr/bin/env python3
"""Start-up and peak RSS only: tracers started in turn, each round starting one further on, the
same way bench.py measures them (the earliest marker open the tracer reported; VmHWM once it is
attached), with nothing else running. For comparing builds or libbpf versions in one run:

    bench/startup.py [--rounds N] [NAME=COMMAND ...]

A setup is NAME=COMMAND (split on spaces; a leading VAR=value sets the environment, e.g.
`new-libbpf=LD_LIBRARY_PATH=/x .build/release/opensnoop`); default: this opensnoop and
libbpf-tools'. Ours is attached when it sends READY=1; libbpf-tools gets bench.py's window.
"""
import argparse, os, statistics, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def setup(spec):
    name, _, command = spec.partition("=")
    words = command.split()
    env = {}
    while words and "=" in words[0] and not words[0].startswith("/"):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    ours = not words[0].startswith("/usr/")
    s = bench.Setup(name, words, ready=ours)
    s.env = env
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("setups", nargs="*")
    args = ap.parse_args()
    specs = args.setups or [f"swift-opensnoop={bench.OURS}", f"libbpf-tools={bench.THEIRS}"]
    setups = [setup(s) for s in specs]
    results = {s.name: ([], []) for s in setups}
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="startup-") as work:
        run_id = 0
        for r in range(args.rounds):
            order = setups[r % len(setups):] + setups[:r % len(setups)]
            for s in order:
                bench.settle()
                run_id += 1
                os.environ.clear()
                os.environ.update(saved, **s.env)
                out = os.path.join(work, "out.txt")
                tracer = bench.Tracer(s, out, work, run_id)
                os.environ.clear()
                os.environ.update(saved)
                tracer.start()
                rss, err = tracer.stop()
                start = tracer.startup()
                if start is None:
                    print(f"{s.name}: no marker shown: {err[:200]}", file=sys.stderr)
                    continue
                results[s.name][0].append(start)
                results[s.name][1].append(rss / 1024)
    print("| setup | start-up s: median (min–max) | peak RSS MiB: median (min–max) |")
    print("|---|---|---|")
    for s in setups:
        starts, rss = results[s.name]
        if not starts:
            print(f"| {s.name} | - | - |")
            continue
        print(f"| {s.name} | {statistics.median(starts):.3f} ({min(starts):.3f}–{max(starts):.3f}) "
              f"| {statistics.median(rss):.1f} ({min(rss):.1f}–{max(rss):.1f}) |")


if __name__ == "__main__":
    main()
