// The BPFObjectBuilder plugin's build tool: compiles one `bpf/NAME.bpf.c` with
// `clang -target bpf`, strips its DWARF (BTF stays, so CO-RE works), reads the object with
// libbpf and writes NAME.bpf.swift: the typed skeleton `NameSkeleton` holding the object's bytes.
// A program in a section libbpf does not know is an error at its `SEC(...)` line.
import BPFKit
import BPFSkeletonGenerator
import Foundation

struct Arguments {
    var clang = "", objcopy = "", source = "", object = "", output = "", name = ""
    var includes: [String] = []
    var flagsFiles: [String] = []

    init(_ argv: [String]) throws {
        var it = argv.makeIterator()
        while let flag = it.next() {
            guard let value = it.next() else { throw BuildError("missing value for \(flag)") }
            switch flag {
            case "--clang": clang = value
            case "--objcopy": objcopy = value
            case "--source": source = value
            case "--object": object = value
            case "--output": output = value
            case "--name": name = value
            case "--include": includes.append(value)
            case "--flags-file": flagsFiles.append(value)
            default: throw BuildError("unknown argument \(flag)")
            }
        }
    }
}

struct BuildError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func run(_ tool: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw BuildError("\(URL(fileURLWithPath: tool).lastPathComponent) failed with status \(process.terminationStatus)")
    }
}

/// Extra clang arguments from a `bpf/flags` file: whitespace-separated, `#` starts a comment.
func flags(inFile path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8)
        .split(separator: "\n")
        .flatMap { line in line.prefix { $0 != "#" }.split(whereSeparator: \.isWhitespace).map(String.init) }
}

/// The target architecture macro that libbpf's bpf_tracing.h needs (the host's: the object
/// runs on the machine the tool is built for).
func targetArchDefine() -> String {
    #if arch(x86_64)
    return "-D__TARGET_ARCH_x86"
    #elseif arch(arm64)
    return "-D__TARGET_ARCH_arm64"
    #else
    #error("unsupported architecture for BPF PT_REGS macros")
    #endif
}

do {
    let args = try Arguments(Array(CommandLine.arguments.dropFirst()))
    let unstripped = args.object + ".full"
    let extra = try args.flagsFiles.flatMap(flags(inFile:))
    try run(args.clang, ["-g", "-O2", "-target", "bpf", "-mcpu=v3", targetArchDefine(), "-Wall", "-Werror"]
        + args.includes.flatMap { ["-I", $0] } + extra
        + ["-c", args.source, "-o", unstripped])
    try run(args.objcopy, ["--strip-debug", unstripped, args.object])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: args.object))
    let description = try ObjectDescription(bytes: [UInt8](bytes), name: args.name)
    // A misspelled SEC() is a build error pointing at the source, not a failure at load.
    let unknown = unknownSectionDiagnostics(programs: description.programs, sourcePath: args.source,
                                            sourceText: try String(contentsOfFile: args.source, encoding: .utf8))
    guard unknown.isEmpty else {
        FileHandle.standardError.write(Data(unknown.map { $0 + "\n" }.joined().utf8))
        exit(1)
    }
    let generator = SkeletonGenerator(object: description, base64: bytes.base64EncodedString(),
                                      sourceName: URL(fileURLWithPath: args.source).lastPathComponent)
    try generator.source().write(toFile: args.output, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("bpfkit-build: error: \(error)\n".utf8))
    exit(1)
}
