import Foundation
import Glibc
import Testing

/// This repository's root, from this file's path.
private let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The DocC catalog of BPFKit.
private let catalog = root.appendingPathComponent("Sources/BPFKit/BPFKit.docc")

/// The toolchain's tool `name`: beside `swiftc` on PATH (docc and swift-symbolgraph-extract
/// ship with every Swift toolchain).
private func toolchainTool(_ name: String) -> String? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .filter { access("\($0)/swiftc", X_OK) == 0 }
        .map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
}

/// Runs `executable` with TMPDIR in `scratch`; returns its status and what it wrote.
private func run(_ executable: String, _ arguments: [String], scratch: ScratchDirectory) throws -> (status: Int32, output: String) {
    try runLogged(executable, arguments, temporary: scratch.url, scratch: scratch)
}

@Suite("BPFKit's DocC catalog")
struct DocumentationTests {
    /// Converts `catalog` with the symbols of the built BPFKit module, warnings as errors.
    func convert(_ catalog: URL, scratch: ScratchDirectory) throws -> (status: Int32, output: String) {
        let extract = try #require(toolchainTool("swift-symbolgraph-extract"), "no swift-symbolgraph-extract beside swiftc")
        let docc = try #require(toolchainTool("docc"), "no docc beside swiftc")
        let symbols = scratch.url.appendingPathComponent("symbols")
        try FileManager.default.createDirectory(at: symbols, withIntermediateDirectories: true)
        #if arch(arm64)
        let target = "aarch64-unknown-linux-gnu"
        #else
        let target = "x86_64-unknown-linux-gnu"
        #endif
        // The symbols of the module this test was built with: no second build.
        let graph = try run(extract, [
            "-module-name", "BPFKit", "-target", target, "-minimum-access-level", "public",
            "-I", productsDirectory.appendingPathComponent("Modules").path,
            "-I", productsDirectory.appendingPathComponent("CLibBPF.build").path,
            "-output-dir", symbols.path,
        ], scratch: scratch)
        try #require(graph.status == 0, "swift-symbolgraph-extract failed:\n\(graph.output)")
        return try run(docc, [
            "convert", catalog.path, "--additional-symbol-graph-dir", symbols.path,
            "--output-path", scratch.url.appendingPathComponent("BPFKit.doccarchive").path, "--warnings-as-errors",
        ], scratch: scratch)
    }

    @Test("The catalog converts with no warning: every symbol and article link resolves", .timeLimit(.minutes(5)))
    func catalogConverts() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let articles = try FileManager.default.contentsOfDirectory(atPath: catalog.path).filter { $0.hasSuffix(".md") }
        #expect(Set(articles).isSuperset(of: ["BPFKit.md", "YourFirstTracer.md", "SharingAStructWithC.md", "WorkingWithMaps.md",
                                              "RingBuffersAndAsyncSequence.md", "TestingProgramsWithRun.md", "LoggingAndErrors.md"]))
        let result = try convert(catalog, scratch: scratch)
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("warning:") && !result.output.contains("error:"), "\(result.output)")

        // The check is live: a link to nothing fails the conversion, naming it.
        let broken = scratch.url.appendingPathComponent("broken/BPFKit.docc")
        try FileManager.default.createDirectory(at: broken.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: catalog, to: broken)
        let article = broken.appendingPathComponent("WorkingWithMaps.md")
        let text = try String(contentsOf: article, encoding: .utf8)
        try (text + "\nSee ``BPFHashMap/noSuchMethod()``.\n").write(to: article, atomically: true, encoding: .utf8)
        let failed = try convert(broken, scratch: scratch)
        #expect(failed.status != 0 && failed.output.contains("noSuchMethod()"), "\(failed.output)")
    }
}
