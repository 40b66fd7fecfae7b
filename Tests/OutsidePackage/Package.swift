// swift-tools-version: 6.2
// Three tools written as an outside user would, on BPFKit alone: an exec tracer on a ring buffer
// (execs), a counter on a hash map read each second (opencount), a TCP tracepoint read as an
// AsyncSequence (tcpstates). BPFKitTests/OutsidePackageTests copies this package, points the
// dependency at the repository and builds and runs the three on the real kernel.
import PackageDescription

let bpfkit: [Target.Dependency] = [.product(name: "BPFKit", package: "swift-opensnoop")]
let builder: [Target.PluginUsage] = [.plugin(name: "BPFObjectBuilder", package: "swift-opensnoop")]

let package = Package(
    name: "bpfkit-tools",
    dependencies: [
        // `name:` makes the product lookup independent of the checkout's directory name.
        .package(name: "swift-opensnoop", path: "../.."),
    ],
    targets: ["execs", "opencount", "tcpstates"].map { name in
        .executableTarget(name: name, dependencies: bpfkit, exclude: ["bpf"], plugins: builder)
    }
)
