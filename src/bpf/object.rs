//! A checked reader for OUR BPF object file (`bpf/esp_fastpath.c` built by `bpf/build.sh`):
//! an ELF64 relocatable file (System V gABI, "ELF-64 Object File Format"), either byte
//! order, `e_machine` EM_BPF. It takes what a raw loader needs and nothing more:
//!
//! - the instructions of the program section `tc` (`struct bpf_insn`, linux/bpf.h);
//! - the `license` section's string;
//! - the legacy map definitions of the `maps` section (five u32 each: type, key size,
//!   value size, max entries, flags), one per symbol in that section;
//! - the relocations (`.reltc`, R_BPF_64_64) that point an `ld_imm64` at a map.
//!
//! Anything else in the program section's relocations (calls to other functions, global
//! data) is refused: our program has none, and a loader that silently skipped one would
//! load a wrong program. Every length and offset is checked; bad input is an
//! [`ObjectError`], never a panic. Pure: no I/O, no unsafe.

use std::fmt;

/// The section that holds the program.
pub const PROGRAM_SECTION: &str = "tc";
/// The section of legacy map definitions.
pub const MAPS_SECTION: &str = "maps";
/// The section of the license string.
pub const LICENSE_SECTION: &str = "license";

/// `code` of the first half of `ld_imm64` (BPF_LD | BPF_IMM | BPF_DW).
pub const LD_IMM64: u8 = 0x18;
/// The size of one `struct bpf_insn`.
pub const INSTRUCTION_SIZE: usize = 8;
/// The size of one legacy map definition (five u32).
pub const MAP_DEFINITION_SIZE: u64 = 20;

const EM_BPF: u16 = 247;
const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;
const SHN_UNDEF: u16 = 0;
const R_BPF_64_64: u32 = 1;
const ELF_HEADER_SIZE: u64 = 64;
const SECTION_HEADER_SIZE: u64 = 64;
const SYMBOL_SIZE: u64 = 24;
const REL_SIZE: u64 = 16;

/// The byte order of an object (ELF `EI_DATA`): clang's `-target bpfel` or `bpfeb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    /// The byte order of the machine this runs on, which the kernel expects.
    pub const fn host() -> ByteOrder {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }
}

impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ByteOrder::Little => "little-endian (bpfel)",
            ByteOrder::Big => "big-endian (bpfeb)",
        })
    }
}

/// One `struct bpf_insn`, decoded from the object's byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub offset: i16,
    pub imm: i32,
}

impl Instruction {
    /// The instruction as the kernel of this machine reads it (host byte order; on a
    /// big-endian host the register bit-fields swap nibbles, as `struct bpf_insn` does).
    pub fn to_host_bytes(self) -> [u8; INSTRUCTION_SIZE] {
        let regs = match ByteOrder::host() {
            ByteOrder::Little => (self.src << 4) | (self.dst & 0x0f),
            ByteOrder::Big => (self.dst << 4) | (self.src & 0x0f),
        };
        let off = self.offset.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3]]
    }
}

/// One legacy map definition and the symbol that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDefinition {
    pub name: String,
    /// The symbol's offset in the `maps` section (relocations name maps by it).
    pub section_offset: u64,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// An `ld_imm64` that must be given a map's file descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRelocation {
    /// Index of the first half of the `ld_imm64` in [`BpfObject::instructions`].
    pub instruction: usize,
    /// Index into [`BpfObject::maps`].
    pub map: usize,
}

/// What the loader needs from our object file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfObject {
    pub byte_order: ByteOrder,
    pub instructions: Vec<Instruction>,
    pub license: String,
    /// Sorted by [`MapDefinition::section_offset`].
    pub maps: Vec<MapDefinition>,
    pub map_relocations: Vec<MapRelocation>,
}

/// Why an object file was refused. `what` names the structure that was being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    /// Not an ELF file (bad magic).
    NotElf,
    /// An ELF file, but not 64-bit, or a version other than 1.
    NotElf64,
    /// `EI_DATA` is neither little- nor big-endian.
    UnknownByteOrder(u8),
    /// `e_machine` is not EM_BPF (247).
    NotBpf(u16),
    /// A structure lies (partly) outside the file, or its offset overflows.
    Truncated { what: &'static str },
    /// A header field has an impossible value (entry size, section index, alignment).
    Malformed { what: &'static str },
    /// A section the program needs is missing.
    MissingSection(&'static str),
    /// The program section is not a whole number of instructions.
    ProgramSize(u64),
    /// A relocation other than R_BPF_64_64 to a map, at this instruction.
    UnsupportedRelocation { instruction: u64, relocation_type: u32 },
    /// A map relocation that does not sit on an `ld_imm64`.
    RelocationNotLdImm64 { instruction: u64 },
    /// A relocation's symbol names no map definition.
    RelocationTarget { instruction: u64 },
    /// The license string is not NUL-terminated UTF-8.
    License,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectError::NotElf => f.write_str("not an ELF file"),
            ObjectError::NotElf64 => f.write_str("not a 64-bit ELF version 1 file"),
            ObjectError::UnknownByteOrder(data) => write!(f, "unknown ELF byte order {data}"),
            ObjectError::NotBpf(machine) => write!(f, "ELF machine {machine} is not BPF (247)"),
            ObjectError::Truncated { what } => write!(f, "{what} lies outside the file"),
            ObjectError::Malformed { what } => write!(f, "malformed {what}"),
            ObjectError::MissingSection(name) => write!(f, "no section `{name}`"),
            ObjectError::ProgramSize(size) => {
                write!(f, "program section of {size} bytes is not a whole number of instructions")
            }
            ObjectError::UnsupportedRelocation { instruction, relocation_type } => {
                write!(f, "unsupported relocation type {relocation_type} at instruction {instruction}")
            }
            ObjectError::RelocationNotLdImm64 { instruction } => {
                write!(f, "map relocation at instruction {instruction} is not on an ld_imm64")
            }
            ObjectError::RelocationTarget { instruction } => {
                write!(f, "relocation at instruction {instruction} names no map")
            }
            ObjectError::License => f.write_str("license is not a NUL-terminated UTF-8 string"),
        }
    }
}

impl std::error::Error for ObjectError {}

/// Reads our object file.
pub fn parse(bytes: &[u8]) -> Result<BpfObject, ObjectError> {
    let magic = bytes.get(..4).ok_or(ObjectError::NotElf)?;
    if magic != b"\x7fELF" {
        return Err(ObjectError::NotElf);
    }
    let ident = bytes.get(4..7).ok_or(ObjectError::NotElf64)?;
    let (class, data, version) = match ident {
        [class, data, version] => (*class, *data, *version),
        _ => return Err(ObjectError::NotElf64),
    };
    if class != 2 || version != 1 {
        return Err(ObjectError::NotElf64);
    }
    let byte_order = match data {
        1 => ByteOrder::Little,
        2 => ByteOrder::Big,
        other => return Err(ObjectError::UnknownByteOrder(other)),
    };
    let elf = Reader { bytes, order: byte_order };
    elf.slice(0, ELF_HEADER_SIZE, "ELF header")?;
    let machine = elf.u16(18, "ELF header")?;
    if machine != EM_BPF {
        return Err(ObjectError::NotBpf(machine));
    }
    let sections = elf.sections()?;
    let names = sections
        .get(usize::from(elf.u16(0x3e, "ELF header")?))
        .ok_or(ObjectError::Malformed { what: "section name table index" })?;
    let find = |name: &'static str| -> Result<Option<(usize, &Section)>, ObjectError> {
        for (index, section) in sections.iter().enumerate() {
            if elf.string(names, section.name)? == name.as_bytes() {
                return Ok(Some((index, section)));
            }
        }
        Ok(None)
    };

    let (program_index, program) = find(PROGRAM_SECTION)?.ok_or(ObjectError::MissingSection(PROGRAM_SECTION))?;
    let instructions = elf.instructions(program)?;

    let (_, license_section) = find(LICENSE_SECTION)?.ok_or(ObjectError::MissingSection(LICENSE_SECTION))?;
    let license_bytes = elf.section_bytes(license_section, "license section")?;
    let license = license_bytes
        .iter()
        .position(|&b| b == 0)
        .and_then(|nul| license_bytes.get(..nul))
        .and_then(|text| std::str::from_utf8(text).ok())
        .ok_or(ObjectError::License)?
        .to_string();

    let symbol_table = sections.iter().find(|s| s.kind == SHT_SYMTAB).ok_or(ObjectError::MissingSection(".symtab"))?;
    let symbol_names =
        sections.get(usize_from(symbol_table.link)?).ok_or(ObjectError::Malformed { what: "symbol table link" })?;
    let symbols = elf.symbols(symbol_table)?;

    let (maps_index, maps) = match find(MAPS_SECTION)? {
        None => (None, Vec::new()),
        Some((index, section)) => {
            let index = u16::try_from(index).map_err(|_| ObjectError::Malformed { what: "maps section index" })?;
            (Some(index), elf.maps(index, section, &symbols, symbol_names)?)
        }
    };

    let mut map_relocations = Vec::new();
    for rel_section in sections.iter().filter(|s| s.kind == SHT_REL && usize_from(s.info).ok() == Some(program_index)) {
        for (offset, symbol_index, relocation_type) in elf.relocations(rel_section)? {
            let instruction = offset / INSTRUCTION_SIZE as u64;
            if relocation_type != R_BPF_64_64 || offset % INSTRUCTION_SIZE as u64 != 0 {
                return Err(ObjectError::UnsupportedRelocation { instruction, relocation_type });
            }
            let index = usize_from(instruction)?;
            let is_ld_imm64 =
                instructions.get(index).is_some_and(|i| i.code == LD_IMM64) && index + 1 < instructions.len();
            if !is_ld_imm64 {
                return Err(ObjectError::RelocationNotLdImm64 { instruction });
            }
            let symbol = symbols.get(usize_from(symbol_index)?).ok_or(ObjectError::RelocationTarget { instruction })?;
            let map = maps
                .iter()
                .position(|m| Some(symbol.section) == maps_index && m.section_offset == symbol.value)
                .ok_or(ObjectError::RelocationTarget { instruction })?;
            map_relocations.push(MapRelocation { instruction: index, map });
        }
    }

    Ok(BpfObject { byte_order, instructions, license, maps, map_relocations })
}

fn usize_from<T: TryInto<usize>>(value: T) -> Result<usize, ObjectError> {
    value.try_into().map_err(|_| ObjectError::Malformed { what: "offset beyond this machine's address space" })
}

#[derive(Debug, Clone, Copy)]
struct Section {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    entry_size: u64,
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    name: u32,
    section: u16,
    value: u64,
    size: u64,
}

#[derive(Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    order: ByteOrder,
}

impl<'a> Reader<'a> {
    fn slice(&self, offset: u64, len: u64, what: &'static str) -> Result<&'a [u8], ObjectError> {
        let end = offset.checked_add(len).ok_or(ObjectError::Truncated { what })?;
        let (start, end) = (usize::try_from(offset), usize::try_from(end));
        match (start, end) {
            (Ok(start), Ok(end)) => self.bytes.get(start..end).ok_or(ObjectError::Truncated { what }),
            _ => Err(ObjectError::Truncated { what }),
        }
    }

    fn array<const N: usize>(&self, offset: u64, what: &'static str) -> Result<[u8; N], ObjectError> {
        let bytes = self.slice(offset, N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        if self.order == ByteOrder::Big {
            out.reverse();
        }
        Ok(out) // now little-endian
    }

    fn u16(&self, offset: u64, what: &'static str) -> Result<u16, ObjectError> {
        self.array(offset, what).map(u16::from_le_bytes)
    }

    fn u32(&self, offset: u64, what: &'static str) -> Result<u32, ObjectError> {
        self.array(offset, what).map(u32::from_le_bytes)
    }

    fn u64(&self, offset: u64, what: &'static str) -> Result<u64, ObjectError> {
        self.array(offset, what).map(u64::from_le_bytes)
    }

    fn sections(&self) -> Result<Vec<Section>, ObjectError> {
        let table = self.u64(0x28, "ELF header")?;
        let entry_size = self.u16(0x3a, "ELF header")?;
        let count = self.u16(0x3c, "ELF header")?;
        if u64::from(entry_size) != SECTION_HEADER_SIZE {
            return Err(ObjectError::Malformed { what: "section header size" });
        }
        (0..u64::from(count))
            .map(|i| {
                let at = i
                    .checked_mul(SECTION_HEADER_SIZE)
                    .and_then(|o| o.checked_add(table))
                    .ok_or(ObjectError::Truncated { what: "section header" })?;
                self.slice(at, SECTION_HEADER_SIZE, "section header")?;
                Ok(Section {
                    name: self.u32(at, "section header")?,
                    kind: self.u32(at + 4, "section header")?,
                    offset: self.u64(at + 24, "section header")?,
                    size: self.u64(at + 32, "section header")?,
                    link: self.u32(at + 40, "section header")?,
                    info: self.u32(at + 44, "section header")?,
                    entry_size: self.u64(at + 56, "section header")?,
                })
            })
            .collect()
    }

    fn section_bytes(&self, section: &Section, what: &'static str) -> Result<&'a [u8], ObjectError> {
        self.slice(section.offset, section.size, what)
    }

    /// The NUL-terminated string at `offset` of a string table section.
    fn string(&self, table: &Section, offset: u32) -> Result<&'a [u8], ObjectError> {
        let strings = self.section_bytes(table, "string table")?;
        let tail = strings.get(usize_from(offset)?..).ok_or(ObjectError::Truncated { what: "string" })?;
        let nul = tail.iter().position(|&b| b == 0).ok_or(ObjectError::Truncated { what: "string" })?;
        tail.get(..nul).ok_or(ObjectError::Truncated { what: "string" })
    }

    fn instructions(&self, program: &Section) -> Result<Vec<Instruction>, ObjectError> {
        self.section_bytes(program, "program section")?;
        if program.size % INSTRUCTION_SIZE as u64 != 0 || program.size == 0 {
            return Err(ObjectError::ProgramSize(program.size));
        }
        (0..program.size / INSTRUCTION_SIZE as u64)
            .map(|i| {
                let at = program.offset + i * INSTRUCTION_SIZE as u64;
                let [code, regs] = self
                    .slice(at, 2, "instruction")?
                    .try_into()
                    .map_err(|_| ObjectError::Truncated { what: "instruction" })?;
                let (dst, src) = match self.order {
                    ByteOrder::Little => (regs & 0x0f, regs >> 4),
                    ByteOrder::Big => (regs >> 4, regs & 0x0f),
                };
                Ok(Instruction {
                    code,
                    dst,
                    src,
                    offset: self.u16(at + 2, "instruction")? as i16,
                    imm: self.u32(at + 4, "instruction")? as i32,
                })
            })
            .collect()
    }

    fn symbols(&self, table: &Section) -> Result<Vec<Symbol>, ObjectError> {
        if table.entry_size != SYMBOL_SIZE || table.size % SYMBOL_SIZE != 0 {
            return Err(ObjectError::Malformed { what: "symbol table entry size" });
        }
        self.section_bytes(table, "symbol table")?;
        (0..table.size / SYMBOL_SIZE)
            .map(|i| {
                let at = table.offset + i * SYMBOL_SIZE;
                Ok(Symbol {
                    name: self.u32(at, "symbol")?,
                    section: self.u16(at + 6, "symbol")?,
                    value: self.u64(at + 8, "symbol")?,
                    size: self.u64(at + 16, "symbol")?,
                })
            })
            .collect()
    }

    fn maps(
        &self,
        section: u16,
        maps: &Section,
        symbols: &[Symbol],
        names: &Section,
    ) -> Result<Vec<MapDefinition>, ObjectError> {
        let mut definitions = Vec::new();
        for symbol in symbols.iter().filter(|s| s.section == section && s.section != SHN_UNDEF) {
            if symbol.size != 0 && symbol.size < MAP_DEFINITION_SIZE {
                return Err(ObjectError::Malformed { what: "map definition size" });
            }
            let end = symbol
                .value
                .checked_add(MAP_DEFINITION_SIZE)
                .ok_or(ObjectError::Truncated { what: "map definition" })?;
            if end > maps.size {
                return Err(ObjectError::Truncated { what: "map definition" });
            }
            let at = maps.offset.checked_add(symbol.value).ok_or(ObjectError::Truncated { what: "map definition" })?;
            let name = self.string(names, symbol.name)?;
            definitions.push(MapDefinition {
                name: String::from_utf8_lossy(name).into_owned(),
                section_offset: symbol.value,
                map_type: self.u32(at, "map definition")?,
                key_size: self.u32(at + 4, "map definition")?,
                value_size: self.u32(at + 8, "map definition")?,
                max_entries: self.u32(at + 12, "map definition")?,
                map_flags: self.u32(at + 16, "map definition")?,
            });
        }
        definitions.sort_by_key(|m| m.section_offset);
        definitions.dedup_by_key(|m| m.section_offset);
        Ok(definitions)
    }

    /// (offset, symbol index, type) of each `Elf64_Rel`.
    fn relocations(&self, table: &Section) -> Result<Vec<(u64, u64, u32)>, ObjectError> {
        if table.size % REL_SIZE != 0 {
            return Err(ObjectError::Malformed { what: "relocation section size" });
        }
        self.section_bytes(table, "relocation section")?;
        (0..table.size / REL_SIZE)
            .map(|i| {
                let at = table.offset + i * REL_SIZE;
                let offset = self.u64(at, "relocation")?;
                let info = self.u64(at + 8, "relocation")?;
                Ok((offset, info >> 32, (info & 0xffff_ffff) as u32))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small object shaped as clang emits ours: null, .strtab, tc, .reltc, maps,
    /// license, .symtab; three instructions, an `ld_imm64` of map `esp_sa` at 0.
    struct Builder {
        order: ByteOrder,
        relocation_type: u32,
        relocation_offset: u64,
        map_symbol_value: u64,
    }

    impl Builder {
        fn new(order: ByteOrder) -> Builder {
            Builder { order, relocation_type: R_BPF_64_64, relocation_offset: 0, map_symbol_value: 0 }
        }

        fn put(&self, out: &mut Vec<u8>, value: u64, size: usize) {
            let le = value.to_le_bytes();
            let bytes = &le[..size];
            match self.order {
                ByteOrder::Little => out.extend_from_slice(bytes),
                ByteOrder::Big => out.extend(bytes.iter().rev()),
            }
        }

        fn instruction(&self, out: &mut Vec<u8>, code: u8, dst: u8, src: u8, offset: i16, imm: i32) {
            out.push(code);
            out.push(match self.order {
                ByteOrder::Little => (src << 4) | dst,
                ByteOrder::Big => (dst << 4) | src,
            });
            self.put(out, u64::from(offset as u16), 2);
            self.put(out, u64::from(imm as u32), 4);
        }

        fn build(&self) -> Vec<u8> {
            let strtab = b"\0.strtab\0tc\0.reltc\0maps\0license\0.symtab\0esp_sa\0".to_vec();
            let name = |s: &str| {
                strtab.windows(s.len() + 1).position(|w| &w[..s.len()] == s.as_bytes() && w[s.len()] == 0).unwrap()
                    as u64
            };
            let mut program = Vec::new();
            self.instruction(&mut program, LD_IMM64, 1, 0, 0, 0);
            self.instruction(&mut program, 0, 0, 0, 0, 0);
            self.instruction(&mut program, 0x95, 0, 0, 0, 0); // exit
            let mut rel = Vec::new();
            self.put(&mut rel, self.relocation_offset, 8);
            self.put(&mut rel, (6 << 32) | u64::from(self.relocation_type), 8); // symbol 6: esp_sa
            let mut maps = Vec::new();
            for v in [5u64, 12, 32, 4096, 0] {
                self.put(&mut maps, v, 4);
            }
            let license = b"Dual MIT/GPL\0".to_vec();
            let mut symtab = vec![0u8; 24 * 6]; // null and five local symbols
            self.put(&mut symtab, name("esp_sa"), 4);
            symtab.push(0x11); // GLOBAL OBJECT
            symtab.push(0);
            self.put(&mut symtab, 4, 2); // section 4: maps
            self.put(&mut symtab, self.map_symbol_value, 8);
            self.put(&mut symtab, 20, 8);

            // (name, type, flags, contents, link, info, entsize)
            type SectionSpec<'a> = (&'a str, u32, u64, &'a [u8], u32, u32, u64);
            let sections: Vec<SectionSpec<'_>> = vec![
                ("", 0, 0, &[], 0, 0, 0),
                (".strtab", 3, 0, &strtab, 0, 0, 0),
                ("tc", 1, 6, &program, 0, 0, 0),
                (".reltc", SHT_REL, 0, &rel, 6, 2, 16),
                ("maps", 1, 3, &maps, 0, 0, 0),
                ("license", 1, 3, &license, 0, 0, 0),
                (".symtab", SHT_SYMTAB, 0, &symtab, 1, 6, 24),
            ];
            let mut out = vec![0x7f, b'E', b'L', b'F', 2, if self.order == ByteOrder::Little { 1 } else { 2 }, 1];
            out.resize(16, 0);
            self.put(&mut out, 1, 2); // ET_REL
            self.put(&mut out, u64::from(EM_BPF), 2);
            self.put(&mut out, 1, 4);
            self.put(&mut out, 0, 8); // entry
            self.put(&mut out, 0, 8); // phoff
            let shoff_at = out.len();
            self.put(&mut out, 0, 8); // shoff, patched below
            self.put(&mut out, 0, 4); // flags
            self.put(&mut out, 64, 2);
            self.put(&mut out, 0, 2);
            self.put(&mut out, 0, 2);
            self.put(&mut out, 64, 2);
            self.put(&mut out, sections.len() as u64, 2);
            self.put(&mut out, 1, 2); // shstrndx
            let mut offsets = Vec::new();
            for (_, _, _, contents, ..) in &sections {
                offsets.push(out.len() as u64);
                out.extend_from_slice(contents);
            }
            let shoff = out.len() as u64;
            let mut field = Vec::new();
            self.put(&mut field, shoff, 8);
            out[shoff_at..shoff_at + 8].copy_from_slice(&field);
            for ((section_name, kind, flags, contents, link, info, entsize), offset) in sections.iter().zip(offsets) {
                self.put(&mut out, if section_name.is_empty() { 0 } else { name(section_name) }, 4);
                self.put(&mut out, u64::from(*kind), 4);
                self.put(&mut out, *flags, 8);
                self.put(&mut out, 0, 8);
                self.put(&mut out, offset, 8);
                self.put(&mut out, contents.len() as u64, 8);
                self.put(&mut out, u64::from(*link), 4);
                self.put(&mut out, u64::from(*info), 4);
                self.put(&mut out, 8, 8);
                self.put(&mut out, *entsize, 8);
            }
            out
        }
    }

    fn expected(order: ByteOrder) -> BpfObject {
        BpfObject {
            byte_order: order,
            instructions: vec![
                Instruction { code: LD_IMM64, dst: 1, src: 0, offset: 0, imm: 0 },
                Instruction { code: 0, dst: 0, src: 0, offset: 0, imm: 0 },
                Instruction { code: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
            ],
            license: "Dual MIT/GPL".to_string(),
            maps: vec![MapDefinition {
                name: "esp_sa".to_string(),
                section_offset: 0,
                map_type: 5,
                key_size: 12,
                value_size: 32,
                max_entries: 4096,
                map_flags: 0,
            }],
            map_relocations: vec![MapRelocation { instruction: 0, map: 0 }],
        }
    }

    #[test]
    fn reads_both_byte_orders() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            assert_eq!(parse(&Builder::new(order).build()), Ok(expected(order)), "{order}");
        }
    }

    #[test]
    fn host_bytes_put_the_registers_where_the_kernel_reads_them() {
        let bytes = Instruction { code: 0xbf, dst: 6, src: 1, offset: -2, imm: 7 }.to_host_bytes();
        assert_eq!(bytes[0], 0xbf);
        if cfg!(target_endian = "little") {
            assert_eq!(bytes, [0xbf, 0x16, 0xfe, 0xff, 7, 0, 0, 0]);
        } else {
            assert_eq!(bytes, [0xbf, 0x61, 0xff, 0xfe, 0, 0, 0, 7]);
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let whole = Builder::new(order).build();
            for len in 0..whole.len() {
                assert!(parse(&whole[..len]).is_err(), "{order}: {len} of {} bytes parsed", whole.len());
            }
        }
    }

    #[test]
    fn every_corrupt_byte_is_handled_without_a_panic() {
        let whole = Builder::new(ByteOrder::Little).build();
        for at in 0..whole.len() {
            for value in [0x00, 0xff, 0x80] {
                let mut corrupt = whole.clone();
                corrupt[at] = value;
                let _ = parse(&corrupt); // must return, whatever it says
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_bpf_elf64() {
        let whole = Builder::new(ByteOrder::Little).build();
        assert_eq!(parse(b"\x7fELX"), Err(ObjectError::NotElf));
        let mut elf32 = whole.clone();
        elf32[4] = 1;
        assert_eq!(parse(&elf32), Err(ObjectError::NotElf64));
        let mut order = whole.clone();
        order[5] = 3;
        assert_eq!(parse(&order), Err(ObjectError::UnknownByteOrder(3)));
        let mut machine = whole.clone();
        machine[18] = 62; // x86-64
        assert_eq!(parse(&machine), Err(ObjectError::NotBpf(62)));
        let mut section_size = whole;
        section_size[0x3a] = 40;
        assert_eq!(parse(&section_size), Err(ObjectError::Malformed { what: "section header size" }));
    }

    #[test]
    fn refuses_relocations_it_cannot_apply() {
        let mut builder = Builder::new(ByteOrder::Little);
        builder.relocation_type = 10; // R_BPF_64_32, a call
        assert_eq!(
            parse(&builder.build()),
            Err(ObjectError::UnsupportedRelocation { instruction: 0, relocation_type: 10 })
        );

        let mut builder = Builder::new(ByteOrder::Big);
        builder.relocation_offset = 16; // the exit, not an ld_imm64
        assert_eq!(parse(&builder.build()), Err(ObjectError::RelocationNotLdImm64 { instruction: 2 }));

        let mut builder = Builder::new(ByteOrder::Little);
        builder.relocation_offset = 3; // inside an instruction
        assert!(matches!(parse(&builder.build()), Err(ObjectError::UnsupportedRelocation { .. })));

        let mut builder = Builder::new(ByteOrder::Little);
        builder.map_symbol_value = 8; // the definition runs past the section's 20 bytes
        assert_eq!(parse(&builder.build()), Err(ObjectError::Truncated { what: "map definition" }));
    }
}
