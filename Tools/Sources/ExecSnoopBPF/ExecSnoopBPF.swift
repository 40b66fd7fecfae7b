// ExecSnoopBPF: execsnoop's kernel side. The BPFObjectBuilder plugin compiles
// bpf/execsnoop.bpf.c and generates `ExecsnoopSkeleton` into this module: its programs, maps
// and read-only globals as typed members, and the object's bytes.
