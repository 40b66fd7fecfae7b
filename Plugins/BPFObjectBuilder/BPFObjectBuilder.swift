import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` of a target with the toolchain's clang (`-target bpf`),
/// strips its DWARF (BTF stays, so CO-RE still works) and embeds the object as Swift source.
///
/// Include paths: the `bpf/` folder itself (for `vmlinux.h`) and the public headers of every
/// C target the target depends on (for the kernel/user contract header).
@main
struct BPFObjectBuilder: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let bpfDir = target.directoryURL.appending(path: "bpf")
        let sources = try FileManager.default.contentsOfDirectory(atPath: bpfDir.path())
            .filter { $0.hasSuffix(".bpf.c") }
            .sorted()
        let headerDirs = target.dependencies.compactMap { dependency -> URL? in
            guard case .target(let dep) = dependency, let clang = dep as? ClangSourceModuleTarget
            else { return nil }
            return clang.publicHeadersDirectoryURL
        }
        let headers = try ([bpfDir] + headerDirs).flatMap { dir in
            try FileManager.default.contentsOfDirectory(atPath: dir.path())
                .filter { $0.hasSuffix(".h") }
                .map { dir.appending(path: $0) }
        }
        let clang = try context.tool(named: "clang").url
        let objcopy = try context.tool(named: "llvm-objcopy").url
        let embed = try context.tool(named: "bpf-embed").url

        return sources.map { source in
            let input = bpfDir.appending(path: source)
            let stem = String(source.dropLast(".bpf.c".count))
            let work = context.pluginWorkDirectoryURL
            let output = work.appending(path: "\(stem).bpf.swift")
            var arguments = [
                "--clang", clang.path(), "--objcopy", objcopy.path(),
                "--source", input.path(), "--object", work.appending(path: "\(stem).bpf.o").path(),
                "--output", output.path(), "--name", stem,
                "--include", bpfDir.path(),
            ]
            for dir in headerDirs { arguments += ["--include", dir.path()] }
            return .buildCommand(
                displayName: "Compiling BPF program \(source)",
                executable: embed,
                arguments: arguments,
                inputFiles: [input] + headers,
                outputFiles: [output]
            )
        }
    }
}
