// execs: prints every successful exec on this machine (run it as root).
import BPFKit
import Glibc

do {
    let tracer = try ExecsSkeleton.open().load()
    try tracer.attach()
    // Each record arrives as a RawSpan, which cannot outlive the call: copy what you keep.
    let events = try RingBuffer(spans: tracer.maps.events) { record in
        // A copy of the record in the type generated from `struct exec_event`.
        guard let event = ExecsSkeleton.Types.ExecEvent(loading: record) else { return }
        print(event.pid, event.ppid, event.comm, event.filename)
    }
    print("PID PPID COMM FILENAME")
    let stop = StopSignals()  // Ctrl-C and SIGTERM end the loop, and the program normally
    while !stop.received { try events.poll(timeoutMilliseconds: 100) }
} catch {
    print("execs: \(error)")
    exit(1)
}
