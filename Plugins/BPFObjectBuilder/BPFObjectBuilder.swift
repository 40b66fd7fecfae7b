import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` of a target with the toolchain's clang (`-target bpf`), strips
/// its DWARF (BTF stays, so CO-RE works) and generates a typed Swift skeleton per object
/// (`bpf/opens.bpf.c` → `OpensSkeleton`), which embeds the object's bytes.
///
/// Include path, in order: the target's `bpf/` folder; the public headers of every C target it
/// depends on (for a kernel/user contract header); BPFHeaders' `bpf/ARCH/` (`vmlinux.h`) and
/// `bpf/` (`bpfkit.h`), found in the package graph, not copied. Extra clang arguments (`-D`, `-I`)
/// come from an optional `bpf/flags` file (`-Wall -Werror` come first: a `-Wno-error` line there turns
/// warnings back into warnings). Every file under `bpf/` (subfolders too) is an input.
///
/// The target must declare `exclude: ["bpf"]`: SwiftPM would otherwise treat the `.c` files as
/// sources of the Swift target (rejected as mixed languages) and headers as resources.
@main
struct BPFObjectBuilder: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let bpfDir = target.directoryURL.appending(path: "bpf")
        let sources = try FileManager.default.contentsOfDirectory(atPath: bpfDir.path())
            .filter { $0.hasSuffix(".bpf.c") }
            .sorted()
        let contractDirs = target.dependencies.compactMap { dependency -> URL? in
            guard case .target(let dep) = dependency, let clang = dep as? ClangSourceModuleTarget else { return nil }
            return clang.publicHeadersDirectoryURL
        }
        guard let headers = Self.bpfHeaders(of: target) else {
            throw PluginError("BPFHeaders not found: target \(target.name) must depend on BPFKit")
        }
        let headerDirs = [headers.appending(path: Self.architecture), headers]
        let inputs = try Self.files(under: bpfDir) + contractDirs.flatMap { try Self.files(under: $0) }
            + headerDirs.flatMap { try Self.files(under: $0, recursive: false) }
        let flagsFile = bpfDir.appending(path: "flags")
        let hasFlags = FileManager.default.fileExists(atPath: flagsFile.path())
        let clang = try context.tool(named: "clang").url
        let objcopy = try context.tool(named: "llvm-objcopy").url
        let builder = try context.tool(named: "bpfkit-build").url

        return sources.map { source in
            let stem = String(source.dropLast(".bpf.c".count))
            let work = context.pluginWorkDirectoryURL
            let output = work.appending(path: "\(stem).bpf.swift")
            var arguments = [
                "--clang", clang.path(), "--objcopy", objcopy.path(),
                "--source", bpfDir.appending(path: source).path(),
                "--object", work.appending(path: "\(stem).bpf.o").path(),
                "--output", output.path(), "--name", stem,
            ]
            for dir in [bpfDir] + contractDirs + headerDirs { arguments += ["--include", dir.path()] }
            if hasFlags { arguments += ["--flags-file", flagsFile.path()] }
            return .buildCommand(
                displayName: "Compiling BPF program \(source)",
                executable: builder,
                arguments: arguments,
                inputFiles: inputs,
                outputFiles: [output]
            )
        }
    }

    /// The `bpf/` folder of the BPFHeaders target, which BPFKit depends on (so it is among the
    /// dependencies of any target using BPFKit, whichever package it is in).
    static func bpfHeaders(of target: SourceModuleTarget) -> URL? {
        target.recursiveTargetDependencies
            .first { $0.name == "BPFHeaders" }
            .map { $0.directoryURL.appending(path: "bpf") }
    }

    /// The folder of BPFHeaders holding this architecture's `vmlinux.h`.
    static var architecture: String {
        #if arch(arm64)
        "arm64"
        #else
        "x86_64"
        #endif
    }

    /// Every regular file under `dir` (an input of the build command).
    static func files(under dir: URL, recursive: Bool = true) throws -> [URL] {
        guard let enumerator = FileManager.default.enumerator(
            at: dir, includingPropertiesForKeys: [.isRegularFileKey],
            options: recursive ? [] : [.skipsSubdirectoryDescendants])
        else { return [] }
        return enumerator.compactMap { $0 as? URL }.filter {
            (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
        }
    }
}

struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
