// tcpstates: prints each TCP state change of an IPv4 socket on this machine (run it as root).
import BPFKit
import Glibc

typealias Change = TcpstatesSkeleton.Types.TcpChange
let names = ["?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
             "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"]

func state(_ value: UInt8) -> String { Int(value) < names.count ? names[Int(value)] : "\(value)" }
func address(_ bytes: InlineArray<4, UInt8>, _ port: UInt16) -> String {
    "\(bytes[0]).\(bytes[1]).\(bytes[2]).\(bytes[3]):\(port)"
}

do {
    let tracer = try TcpstatesSkeleton.open().load()
    try tracer.attach()
    // Records as an AsyncSequence of copies, read on a thread of their own.
    let changes = try BPFRecordStream(ringBuffers: [tracer.maps.changes.handle()]) { record in
        Change(loading: record) ?? .zeroed
    }
    print("SOURCE DESTINATION OLD NEW")
    for try await change in changes {
        print(address(change.saddr, change.sport), address(change.daddr, change.dport),
              state(change.oldstate), state(change.newstate))
    }
} catch {
    print("tcpstates: \(error)")
    exit(1)
}
