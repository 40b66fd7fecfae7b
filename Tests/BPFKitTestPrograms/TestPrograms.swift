/// BPFKit's test object, `bpf/kittest.bpf.c`, compiled into `KittestSkeleton` by the package build.
public typealias BPFKitTestObject = KittestSkeleton
