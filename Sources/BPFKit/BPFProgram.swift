internal import CLibBPF
internal import Glibc

/// One program of a `BPFObject`. Valid as long as the object it came from (it keeps it alive).
public struct BPFProgram {
    let object: BPFObject
    let pointer: OpaquePointer

    /// The program's function name.
    public var name: String { String(cString: bpf_program__name(pointer)) }

    /// The ELF section, e.g. `tracepoint/syscalls/sys_exit_openat`.
    public var section: String { String(cString: bpf_program__section_name(pointer)) }

    /// Whether `BPFObject.load()` loads this program. Switch off what the kernel lacks.
    public var autoload: Bool {
        get { bpf_program__autoload(pointer) }
        nonmutating set { bpf_program__set_autoload(pointer, newValue) }
    }

    /// Attaches the loaded program where its section says; detached when the link is released.
    public func attach() throws -> BPFLink {
        errno = 0
        guard let link = bpf_program__attach(pointer) else {
            let code = errno != 0 ? errno : EINVAL
            throw BPFError.system("attach \(name) (\(section))", errno: code)
        }
        return BPFLink(pointer: link, program: self)
    }
}

/// An attached program. Releasing the last reference detaches it (deinit destroys the link).
public final class BPFLink {
    private let pointer: OpaquePointer
    /// The program this link attaches (kept alive with its object).
    public let program: BPFProgram

    init(pointer: OpaquePointer, program: BPFProgram) {
        self.pointer = pointer
        self.program = program
    }

    deinit {
        bpf_link__destroy(pointer)
    }
}
