package import BPFKit

/// What a skeleton is made from: the names, sections and global-variable layouts of one
/// compiled BPF object, read with libbpf from its ELF and BTF (no kernel needed).
package struct ObjectDescription {
    /// A program: its function name and ELF section.
    package struct Program: Equatable {
        package var name: String
        package var section: String
        package init(name: String, section: String) { self.name = name; self.section = section }
    }

    /// A global variable of a data section: where it lies and what Swift type mirrors it.
    package struct Global: Equatable {
        package var name: String
        package var offset: Int
        package var shape: BTFInfo.Shape
        package init(name: String, offset: Int, shape: BTFInfo.Shape) {
            self.name = name; self.offset = offset; self.shape = shape
        }
    }

    /// The object's name (the source file's stem).
    package var name: String
    package var programs: [Program]
    /// The maps declared in `SEC(".maps")` (not the internal data-section maps).
    package var maps: [String]
    /// The variables of `.rodata`, `.data` and `.bss`, with each section's size.
    package var globals: [(section: BPFDataSection, size: Int, variables: [Global])]

    package init(name: String, programs: [Program], maps: [String],
                 globals: [(section: BPFDataSection, size: Int, variables: [Global])]) {
        self.name = name
        self.programs = programs
        self.maps = maps
        self.globals = globals
    }

    /// Reads an object's description from its bytes.
    package init(bytes: [UInt8], name: String) throws(BPFError) {
        let object = try BPFObject(bytes: bytes, name: name)
        let btf = object.btfInfo
        self.name = name
        programs = object.programs.map { Program(name: $0.name, section: $0.section) }
        maps = object.maps.filter { !$0.isInternal }.map(\.name)
        var globals: [(section: BPFDataSection, size: Int, variables: [Global])] = []
        for section in [BPFDataSection.rodata, .data, .bss] {
            guard let btf, let map = try? object.dataSectionMap(section) else { continue }
            // A static inside a function (`func.name`, e.g. BPF_SEQ_PRINTF's `___fmt`) is the
            // compiler's, not a global of the program's: no accessor for it.
            let variables = btf.variables(inSection: section.rawValue).filter { !$0.name.contains(".") }.map {
                Global(name: $0.name, offset: $0.offset, shape: btf.shape(of: $0.type))
            }
            if !variables.isEmpty { globals.append((section, map.valueSize, variables)) }
        }
        self.globals = globals
    }
}
