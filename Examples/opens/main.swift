// opens: prints the PID and path of every file opened on this machine (run it as root).
import BPFKit
import Glibc

do {
    // Load the program compiled from bpf/opens.bpf.c; the kernel's verifier checks it here.
    let tracer = try OpensSkeleton.open().load()
    // Attach trace_openat where its section says: tracepoint syscalls/sys_enter_openat.
    try tracer.attach()
    // Each record in the `events` ring buffer: a 4-byte PID, then a NUL-terminated path.
    let events = try RingBuffer(tracer.maps.events) { record in
        let pid = record.loadUnaligned(as: UInt32.self)
        let path = record.dropFirst(4).prefix { $0 != 0 }
        print(pid, String(decoding: path, as: UTF8.self))
    }
    print("PID PATH")
    while true { try events.poll(timeoutMilliseconds: 100) }
} catch {
    print("opens: \(error)")
    exit(1)
}
