// OpenSnoopBPF: opensnoop's kernel side. The BPFObjectBuilder plugin compiles
// bpf/opensnoop.bpf.c and generates `OpensnoopSkeleton` into this module: every program, map
// and global of the object as a typed member, and the object's bytes.
