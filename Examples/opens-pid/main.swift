// opens-pid: like opens; `-p PID` traces one process only, filtered in the kernel.
import BPFKit
import Glibc

let arguments = CommandLine.arguments
let flag = arguments.firstIndex(of: "-p")
guard let pid = flag.map({ arguments.dropFirst($0 + 1).first.flatMap { UInt32($0) } }) ?? 0 else {
    print("usage: opens-pid [-p PID]")
    exit(2)
}
do {
    // Open the object, set its read-only global before load, then load and attach.
    let program = try OpensPidSkeleton.open()
    program.rodata.targPid = pid
    let tracer = try program.load()
    try tracer.attach()
    let events = try RingBuffer(spans: tracer.maps.events) { record in
        guard let event = OpensPidSkeleton.Types.Event(loading: record) else { return }
        print(event.pid, event.path)
    }
    let stop = StopSignals()  // Ctrl-C and SIGTERM end the loop, and the program normally
    while !stop.received { try events.poll(timeoutMilliseconds: 100) }
} catch {
    print("opens-pid: \(error)")
    exit(1)
}
