// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-opensnoop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "opensnoop", targets: ["opensnoop"]),
        .executable(name: "opensnoop-agent", targets: ["opensnoop-agent"]),
        .executable(name: "execsnoop", targets: ["execsnoop"]),
        .library(name: "BPFKit", targets: ["BPFKit"]),
        .library(name: "OpenSnoop", targets: ["OpenSnoop"]),
        // Compiles a target's bpf/*.bpf.c and generates a typed skeleton per object.
        .plugin(name: "BPFObjectBuilder", targets: ["BPFObjectBuilder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The only C the Swift code touches: libbpf's API plus a few shims for its macros.
        .target(
            name: "CLibBPF",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // The kernel/user contract: the event layout shared with the BPF program.
        .target(name: "OpenSnoopEvent"),
        // Headers for BPF C programs (vmlinux.h per architecture, bpfkit.h), for any package's
        // bpf/ folder through the plugin; its module exposes nothing to Swift.
        .target(name: "BPFHeaders", exclude: ["bpf"]),
        // Writes the Swift skeleton of a compiled BPF object (pure; used by bpfkit-build).
        .target(name: "BPFSkeletonGenerator", dependencies: ["BPFKit"], swiftSettings: swiftSettings),
        // The plugin's tool: clang -target bpf, strip DWARF, generate the skeleton.
        .executableTarget(
            name: "bpfkit-build",
            dependencies: ["BPFKit", "BPFSkeletonGenerator"],
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "BPFObjectBuilder",
            capability: .buildTool(),
            dependencies: ["bpfkit-build"]
        ),
        // The opensnoop BPF program, compiled and embedded by the package build. `exclude`
        // keeps SwiftPM from taking bpf/*.c for sources of this Swift target (see the plugin).
        .target(
            name: "OpenSnoopBPF",
            dependencies: ["OpenSnoopEvent", "BPFKit"],
            exclude: ["bpf"],
            swiftSettings: swiftSettings,
            plugins: ["BPFObjectBuilder"]
        ),
        // Starts a detached POSIX thread for blocking work, or says why it cannot: the one
        // thread launcher (BPFKit's record streams, TraceOutput's rotations).
        .target(name: "DetachedThreads", swiftSettings: swiftSettings),
        // Generic Swift front end for libbpf: objects, programs, links, maps, ring buffers.
        // Depends on BPFHeaders so that the plugin finds the headers through any target that
        // uses BPFKit, in any package (nothing of BPFHeaders is compiled into it).
        .target(name: "BPFKit", dependencies: ["CLibBPF", "BPFHeaders", "DetachedThreads"], swiftSettings: swiftSettings),
        // The tracer as a library: options, loading, decoding, events.
        .target(
            name: "OpenSnoop",
            dependencies: ["BPFKit", "OpenSnoopBPF", "OpenSnoopEvent"],
            swiftSettings: swiftSettings
        ),
        // Names cgroups by id (path, container id, pod UID), for the fleet fields.
        .target(name: "CgroupIdentity", swiftSettings: swiftSettings),
        // zlib, for compressing rotated output files.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        // Gives the Swift runtime the command line where it cannot find it (no /proc).
        .target(name: "CommandLineCapture"),
        // A tracer's output: byte buffers, safe text, JSON fields, clocks, sinks and rotation,
        // one-line messages on standard error.
        .target(name: "TraceOutput", dependencies: ["CZlib", "DetachedThreads"], swiftSettings: swiftSettings),
        // A command line written the getopt way, read by swift-argument-parser, as exact bytes.
        .target(
            name: "Getopt",
            dependencies: ["CommandLineCapture", "TraceOutput",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
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
        // The opensnoop command (swift-argument-parser): parses and wires, for both binaries.
        .target(
            name: "OpenSnoopTool",
            dependencies: [
                "OpenSnoop", "OpenSnoopFormats", "OpenSnoopSession", "TraceOutput", "TraceLifecycle", "Getopt",
                "CgroupIdentity", "BPFKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
            dependencies: ["ExecSnoopEvent", "BPFKit"],
            exclude: ["bpf"],
            swiftSettings: swiftSettings,
            plugins: ["BPFObjectBuilder"]
        ),
        .executableTarget(
            name: "execsnoop",
            dependencies: [
                "BPFKit", "ExecSnoopBPF", "ExecSnoopEvent", "TraceOutput", "TraceLifecycle", "Getopt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Opens files in every way the tracer must see (used by the integration tests).
        .executableTarget(
            name: "opensnoop-testhelper",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        // Examples/: the tutorial's tracers (README, "Write your own tracer").
        .executableTarget(name: "opens", dependencies: ["BPFKit"], path: "Examples/opens",
                          exclude: ["bpf"], plugins: ["BPFObjectBuilder"]),
        .executableTarget(name: "opens-pid", dependencies: ["BPFKit"], path: "Examples/opens-pid",
                          exclude: ["bpf"], plugins: ["BPFObjectBuilder"]),
        // A small BPF object exercising every map kind, program kind and reader BPFKit offers.
        .target(
            name: "BPFKitTestPrograms",
            dependencies: ["BPFKit"],
            path: "Tests/BPFKitTestPrograms",
            exclude: ["bpf"],
            swiftSettings: swiftSettings,
            plugins: ["BPFObjectBuilder"]
        ),
        .testTarget(
            name: "BPFKitTests",
            dependencies: ["BPFKit", "BPFKitTestPrograms", "BPFSkeletonGenerator", "opens", "opens-pid",
                           "OpenSnoopBPF", "ExecSnoopBPF"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OpenSnoopTests",
            dependencies: ["OpenSnoop", "OpenSnoopFormats", "TraceOutput", "Getopt", "OpenSnoopEvent", "BPFKit",
                           "CgroupIdentity"],
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
