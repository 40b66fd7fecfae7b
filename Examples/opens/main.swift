// opens: prints the PID and path of every file opened on this machine (run it as root).
import BPFKit
import Glibc

do {
    // Load the program compiled from bpf/opens.bpf.c; the kernel's verifier checks it here.
    let tracer = try OpensSkeleton.open().load()
    // Attach trace_openat where its section says: tracepoint syscalls/sys_enter_openat.
    try tracer.attach()
    // Each record in the `events` ring buffer is a `struct event`, generated in Swift from the
    // object's BTF: `pid` is a UInt32, `path` a char array that prints as a string.
    let events = try RingBuffer(spans: tracer.maps.events) { record in
        guard let event = OpensSkeleton.Types.Event(loading: record) else { return }
        print(event.pid, event.path)
    }
    // Ctrl-C and SIGTERM end the loop, and the program with it, instead of killing the process.
    let stop = StopSignals()
    print("PID PATH")
    while !stop.received { try events.poll(timeoutMilliseconds: 100) }
} catch {
    print("opens: \(error)")
    exit(1)
}
