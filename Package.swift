// swift-tools-version: 6.2
// 6.2: the skeletons bpfkit-build generates use InlineArray (SE-0453), new in Swift 6.2.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

// BPFKit, the Swift front end for libbpf, and what it needs: nothing else. The tracers built on
// it (opensnoop, opensnoop-agent, execsnoop) and their dependencies (SwiftNIO,
// swift-prometheus) are the package in Tools/, so that a package depending on this one resolves,
// fetches and builds nothing BPFKit does not use.
let package = Package(
    name: "swift-opensnoop",
    platforms: [.macOS(.v15)],
    products: [
        // Generic Swift front end for libbpf (the library an outside package uses).
        .library(name: "BPFKit", targets: ["BPFKit"]),
        // Compiles a target's bpf/*.bpf.c and generates a typed skeleton per object.
        .plugin(name: "BPFObjectBuilder", targets: ["BPFObjectBuilder"]),
        // The one thread launcher, which BPFKit uses; a product only because the tools package
        // (Tools/: TraceOutput's rotations) uses it too. Not part of BPFKit's API.
        .library(name: "DetachedThreads", targets: ["DetachedThreads"]),
    ],
    targets: [
        // The only C the Swift code touches: libbpf's API plus a few shims for its macros.
        .target(
            name: "CLibBPF",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
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
        // Starts a detached POSIX thread for blocking work, or says why it cannot: the one
        // thread launcher (BPFKit's record streams, TraceOutput's rotations).
        .target(name: "DetachedThreads", swiftSettings: swiftSettings),
        // Generic Swift front end for libbpf: objects, programs, links, maps, ring buffers.
        // Depends on BPFHeaders so that the plugin finds the headers through any target that
        // uses BPFKit, in any package (nothing of BPFHeaders is compiled into it).
        .target(name: "BPFKit", dependencies: ["CLibBPF", "BPFHeaders", "DetachedThreads"], swiftSettings: swiftSettings),
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
            dependencies: ["BPFKit", "BPFKitTestPrograms", "BPFSkeletonGenerator", "opens", "opens-pid"],
            swiftSettings: swiftSettings
        ),
    ]
)
