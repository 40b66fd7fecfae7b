@testable import BPFKit
import ExecSnoopBPF
import OpenSnoopBPF
import Testing

/// The tools' own skeletons, checked as BPFKit's tests check its test objects (moved here from
/// BPFKitTests/GeneratedTypeTests.swift when the tools became a package of their own).
@Suite("opensnoop's and execsnoop's generated types")
struct SkeletonTypeTests {
    @Test("Every generated struct has its C size and each stored field its C offset")
    func layoutsMatchC() {
        #expect(OpensnoopSkeleton.Types.layoutMismatches() == [])
        #expect(ExecsnoopSkeleton.Types.layoutMismatches() == [])
    }

    @Test("The C layout a view checks a type against, read from BTF, is the one generated for it")
    func checkedLayoutIsGenerated() throws {
        let object = try BPFObject(bytes: OpensnoopSkeleton.objectBytes, name: "opensnoop")
        let btf = try #require(object.btfInfo)
        for (map, generated) in [("scratch", OpensnoopSkeleton.Types.Scratch.bpfLayout),
                                 ("pending_uring", OpensnoopSkeleton.Types.OpensnoopUringOpen.bpfLayout)] {
            #expect(btf.layout(of: try object.map(named: map).btfValueTypeID) == generated, "\(map)")
        }
    }
}
