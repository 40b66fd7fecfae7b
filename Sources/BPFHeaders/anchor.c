/* BPFHeaders is a target for its bpf/ folder (headers for BPF C programs). SwiftPM drops a
 * target that has no source file; this file, which compiles to nothing, keeps it. */
