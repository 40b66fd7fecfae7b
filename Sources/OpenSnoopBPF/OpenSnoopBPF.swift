/// The opensnoop BPF program, compiled from `bpf/opensnoop.bpf.c` by the package build.
public enum OpenSnoopBPF {
    /// The BPF object file (ELF with BTF), ready for `BPFObject(bytes:)`.
    public static var objectBytes: [UInt8] { OpensnoopSkeleton.objectBytes }
}
