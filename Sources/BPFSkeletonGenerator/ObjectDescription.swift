package import BPFKit

/// What a skeleton is made from: the names, sections and types of one compiled BPF object's
/// programs, maps and global variables, read with libbpf from its ELF and BTF (no kernel needed).
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

    /// A map declared in `SEC(".maps")`: its kind, and its key and value types when BTF gives
    /// them (`__type(key, ...)`; nil for `__uint(key_size, ...)`).
    package struct Map: Equatable {
        package var name: String
        package var type: BPFMapType
        package var keySize: Int
        package var valueSize: Int
        package var key: BTFInfo.Shape?
        package var value: BTFInfo.Shape?
        /// For a map of maps, the key and value types of the maps it holds.
        package var innerKey: BTFInfo.Shape?
        package var innerValue: BTFInfo.Shape?

        package init(name: String, type: BPFMapType, keySize: Int = 0, valueSize: Int = 0,
                     key: BTFInfo.Shape? = nil, value: BTFInfo.Shape? = nil,
                     innerKey: BTFInfo.Shape? = nil, innerValue: BTFInfo.Shape? = nil) {
            self.name = name; self.type = type; self.keySize = keySize; self.valueSize = valueSize
            self.key = key; self.value = value; self.innerKey = innerKey; self.innerValue = innerValue
        }
    }

    /// The object's name (the source file's stem).
    package var name: String
    package var programs: [Program]
    /// The maps declared in `SEC(".maps")` (not the internal data-section maps).
    package var maps: [Map]
    /// The variables of `.rodata`, `.data` and `.bss`, with each section's size.
    package var globals: [(section: BPFDataSection, size: Int, variables: [Global])]
    /// The types named with `BPFKIT_TYPE(...)` in the BPF source.
    package var namedTypes: [BTFInfo.Shape]

    package init(name: String, programs: [Program], maps: [Map],
                 globals: [(section: BPFDataSection, size: Int, variables: [Global])], namedTypes: [BTFInfo.Shape] = []) {
        self.name = name
        self.programs = programs
        self.maps = maps
        self.globals = globals
        self.namedTypes = namedTypes
    }

    /// Reads an object's description from its bytes.
    package init(bytes: [UInt8], name: String) throws(BPFError) {
        let object = try BPFObject(bytes: bytes, name: name)
        let btf = object.btfInfo
        self.name = name
        programs = object.programs.map { Program(name: $0.name, section: $0.section) }
        func shape(_ id: UInt32) -> BTFInfo.Shape? { id == 0 ? nil : btf?.shape(of: id) }
        maps = object.maps.filter { !$0.isInternal }.map { map in
            Map(name: map.name, type: map.type, keySize: map.keySize, valueSize: map.valueSize,
                key: shape(map.btfKeyTypeID), value: shape(map.btfValueTypeID),
                innerKey: map.innerMap.flatMap { shape($0.btfKeyTypeID) },
                innerValue: map.innerMap.flatMap { shape($0.btfValueTypeID) })
        }
        namedTypes = btf?.namedTypes() ?? []
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
