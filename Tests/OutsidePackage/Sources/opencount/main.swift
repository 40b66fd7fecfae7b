// opencount: each second, the openat(2) calls of each process in that second (run it as root).
import BPFKit
import Glibc

do {
    let counter = try OpencountSkeleton.open().load()
    try counter.attach()
    // A BPFHashMap<Types.Process, UInt64>: key and value types as the C map declares them.
    let counts = counter.typed.counts
    print("SECOND PID COMM OPENS")
    for second in 1... {
        sleep(1)
        // drain() takes each entry out as it reads it: every open is counted exactly once.
        for (process, opens) in try counts.drain().sorted(by: { $0.value > $1.value }) {
            print(second, process.pid, process.comm, opens)
        }
    }
} catch {
    print("opencount: \(error)")
    exit(1)
}
