// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

// The tracers built on BPFKit: opensnoop, opensnoop-agent, execsnoop, and their libraries and
// tests. A package of its own so that their dependencies (SwiftNIO, swift-prometheus) stay here:
// a package that depends on BPFKit (the repository's root package) fetches none of them. BPFKit comes from the root package, by path; `name:` gives it the
// identity "swift-opensnoop" whatever the checkout's directory is called.
let package = Package(
    name: "swift-opensnoop-tools",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "opensnoop", targets: ["opensnoop"]),
        .executable(name: "opensnoop-agent", targets: ["opensnoop-agent"]),
        .executable(name: "execsnoop", targets: ["execsnoop"]),
        .library(name: "OpenSnoop", targets: ["OpenSnoop"]),
    ],
    dependencies: [
        .package(name: "swift-opensnoop", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The kernel/user contract: the event layout shared with the BPF program.
        .target(name: "OpenSnoopEvent"),
        // The opensnoop BPF program, compiled and embedded by the package build. `exclude`
        // keeps SwiftPM from taking bpf/*.c for sources of this Swift target (see the plugin).
        .target(
            name: "OpenSnoopBPF",
            dependencies: ["OpenSnoopEvent", .product(name: "BPFKit", package: "swift-opensnoop")],
            exclude: ["bpf"],
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BPFObjectBuilder", package: "swift-opensnoop")]
        ),
        // The tracer as a library: options, loading, decoding, events.
        .target(
            name: "OpenSnoop",
            dependencies: ["OpenSnoopBPF", "OpenSnoopEvent", .product(name: "BPFKit", package: "swift-opensnoop")],
            swiftSettings: swiftSettings
        ),
        // Names cgroups by id (path, container id, pod UID), for the fleet fields.
        .target(name: "CgroupIdentity", swiftSettings: swiftSettings),
        // zlib, for compressing rotated output files. No pkgConfig: SwiftPM puts zlib.pc's
        // -L/usr/lib/<triple> before every other -L, and the release build's static libbpf
        // (Makefile) would lose to the system's libbpf.so there.
        .systemLibrary(name: "CZlib"),
        // Gives the Swift runtime the command line where it cannot find it (no /proc).
        .target(name: "CommandLineCapture"),
        // A tracer's output: byte buffers, safe text, JSON fields, clocks, sinks and rotation,
        // one-line messages on standard error.
        .target(
            name: "TraceOutput",
            dependencies: ["CZlib", .product(name: "DetachedThreads", package: "swift-opensnoop")],
            swiftSettings: swiftSettings
        ),
        // A command line read the getopt way, as exact bytes, and the --help made from its options.
        .target(name: "Getopt", dependencies: ["CommandLineCapture", "TraceOutput"], swiftSettings: swiftSettings),
        // A tracer process's life: stop signals in, readiness (sd_notify) out, the loop that ends on them.
        .target(name: "TraceLifecycle", dependencies: ["TraceOutput"], swiftSettings: swiftSettings),
        // opensnoop's formats: text columns, JSON Lines, summary tables, cgroup fields.
        .target(
            name: "OpenSnoopFormats",
            dependencies: ["OpenSnoop", "TraceOutput", "CgroupIdentity"],
            swiftSettings: swiftSettings
        ),
        // opensnoop's session: the loop from reader to formatter to sink, the traced command,
        // where snapshots go (the metrics endpoint it feeds).
        .target(
            name: "OpenSnoopSession",
            dependencies: ["OpenSnoop", "OpenSnoopFormats", "TraceOutput", "TraceLifecycle"],
            swiftSettings: swiftSettings
        ),
        // --metrics: the Prometheus endpoint (the only target that needs SwiftNIO).
        .target(
            name: "OpenSnoopMetrics",
            dependencies: [
                "OpenSnoop", "OpenSnoopSession", "TraceOutput",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The opensnoop command: reads the command line and wires, for both binaries.
        .target(
            name: "OpenSnoopTool",
            dependencies: [
                "OpenSnoop", "OpenSnoopFormats", "OpenSnoopSession", "TraceOutput", "TraceLifecycle", "Getopt",
                "CgroupIdentity", .product(name: "BPFKit", package: "swift-opensnoop"),
            ],
            swiftSettings: swiftSettings
        ),
        // The plain tracer: no HTTP stack linked in.
        .executableTarget(name: "opensnoop", dependencies: ["OpenSnoopTool"], swiftSettings: swiftSettings),
        // The tracer with --metrics served in-process (SwiftNIO): what node agents run.
        .executableTarget(name: "opensnoop-agent", dependencies: ["OpenSnoopTool", "OpenSnoopMetrics"],
                          swiftSettings: swiftSettings),
        // execsnoop: the exec record shared by its BPF program and user space; the BPF program
        // (compiled and embedded by the plugin as `ExecsnoopSkeleton`); the command.
        .target(name: "ExecSnoopEvent"),
        .target(
            name: "ExecSnoopBPF",
            dependencies: ["ExecSnoopEvent", .product(name: "BPFKit", package: "swift-opensnoop")],
            exclude: ["bpf"],
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BPFObjectBuilder", package: "swift-opensnoop")]
        ),
        .executableTarget(
            name: "execsnoop",
            dependencies: [
                "ExecSnoopBPF", "ExecSnoopEvent", "TraceOutput", "TraceLifecycle", "Getopt",
                .product(name: "BPFKit", package: "swift-opensnoop"),
            ],
            swiftSettings: swiftSettings
        ),
        // Opens files in every way the tracer must see (used by the integration tests).
        .executableTarget(
            name: "opensnoop-testhelper",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .testTarget(
            name: "OpenSnoopTests",
            dependencies: ["OpenSnoop", "OpenSnoopFormats", "TraceOutput", "Getopt", "OpenSnoopEvent",
                           "CgroupIdentity", "OpenSnoopBPF", "ExecSnoopBPF",
                           .product(name: "BPFKit", package: "swift-opensnoop")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExecSnoopTests",
            dependencies: ["execsnoop", "ExecSnoopEvent", "TraceOutput", "TraceLifecycle"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["OpenSnoop", "TraceOutput", "CgroupIdentity", "opensnoop", "opensnoop-agent", "opensnoop-testhelper", "execsnoop"],
            swiftSettings: swiftSettings
        ),
    ]
)
