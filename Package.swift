// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-opensnoop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "opensnoop", targets: ["opensnoop"]),
        .library(name: "BPFKit", targets: ["BPFKit"]),
        .library(name: "OpenSnoop", targets: ["OpenSnoop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The only C the Swift code touches: libbpf's API plus a few shims for its macros.
        .target(
            name: "CLibBPF",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // The kernel/user contract: the event layout shared with the BPF program.
        .target(name: "OpenSnoopEvent"),
        // Turns a compiled BPF object into Swift source (used by BPFObjectBuilder).
        .executableTarget(name: "bpf-embed", swiftSettings: swiftSettings),
        // Compiles bpf/*.bpf.c with clang -target bpf at build time.
        .plugin(
            name: "BPFObjectBuilder",
            capability: .buildTool(),
            dependencies: ["bpf-embed"]
        ),
        // The opensnoop BPF program, compiled and embedded by the package build.
        .target(
            name: "OpenSnoopBPF",
            dependencies: ["OpenSnoopEvent"],
            exclude: ["bpf"],
            swiftSettings: swiftSettings,
            plugins: ["BPFObjectBuilder"]
        ),
        // Generic Swift front end for libbpf: objects, programs, links, maps, ring buffers.
        .target(name: "BPFKit", dependencies: ["CLibBPF"], swiftSettings: swiftSettings),
        // The tracer as a library: options, loading, decoding, events.
        .target(
            name: "OpenSnoop",
            dependencies: ["BPFKit", "OpenSnoopBPF", "OpenSnoopEvent"],
            swiftSettings: swiftSettings
        ),
        // A tracer's output plumbing: byte buffers, safe text, sinks, clocks, signals, getopt.
        .target(name: "TraceOutput", swiftSettings: swiftSettings),
        // The opensnoop tool's formats, session loop and command launcher.
        .target(
            name: "OpenSnoopCLI",
            dependencies: ["OpenSnoop", "TraceOutput"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "opensnoop",
            dependencies: [
                "OpenSnoop", "OpenSnoopCLI", "TraceOutput",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
            dependencies: ["OpenSnoop", "OpenSnoopCLI", "TraceOutput", "OpenSnoopEvent", "BPFKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["OpenSnoop", "TraceOutput", "opensnoop", "opensnoop-testhelper"],
            swiftSettings: swiftSettings
        ),
    ]
)
