//! What a binary is, from its first bytes, and which platform it can run on.

use std::fmt;

use super::Platform;

/// ELF `e_machine` of x86-64.
const EM_X86_64: u16 = 62;
/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;
/// Mach-O `cputype` of x86-64 (`CPU_TYPE_X86 | CPU_ARCH_ABI64`).
const CPU_X86_64: u32 = 0x0100_0007;
/// Mach-O `cputype` of arm64 (`CPU_TYPE_ARM | CPU_ARCH_ABI64`).
const CPU_ARM64: u32 = 0x0100_000c;
/// PE machine of x86-64.
const PE_AMD64: u16 = 0x8664;

/// What a file is, as far as bundling cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryKind {
    /// An ELF file.
    Elf {
        /// `ELFCLASS64`.
        bits64: bool,
        /// `ELFDATA2LSB`.
        little_endian: bool,
        /// `e_machine`.
        machine: u16,
    },
    /// A thin Mach-O file (little-endian).
    MachO {
        /// `MH_MAGIC_64` rather than `MH_MAGIC`.
        bits64: bool,
        /// Its `cputype`.
        cputype: u32,
    },
    /// A universal ("fat") Mach-O: one slice per CPU type.
    Universal {
        /// The `cputype` of each slice.
        cputypes: Vec<u32>,
    },
    /// A PE (Windows) executable.
    Pe {
        /// The COFF header's machine.
        machine: u16,
    },
    /// A script starting with `#!`, which `exec` runs through its interpreter.
    Script,
    /// Anything else, described.
    Other(String),
}

/// Tells what `head` (a file's first bytes; 64 KiB is plenty) is.
pub fn sniff(head: &[u8]) -> BinaryKind {
    let u16_le = |at: usize| head.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_le = |at: usize| head.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u32_be = |at: usize| head.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if head.is_empty() {
        return BinaryKind::Other("an empty file".into());
    }
    if head.starts_with(b"#!") {
        return BinaryKind::Script;
    }
    if head.starts_with(b"\x7fELF") {
        let (bits64, little_endian) = (head.get(4) == Some(&2), head.get(5) == Some(&1));
        let machine = head.get(18..20).map(|b| if little_endian { [b[0], b[1]] } else { [b[1], b[0]] });
        return match machine {
            Some(m) => BinaryKind::Elf { bits64, little_endian, machine: u16::from_le_bytes(m) },
            None => BinaryKind::Other("a truncated ELF file".into()),
        };
    }
    if head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) || head.starts_with(&[0xce, 0xfa, 0xed, 0xfe]) {
        return match u32_le(4) {
            Some(cputype) => BinaryKind::MachO { bits64: head[0] == 0xcf, cputype },
            None => BinaryKind::Other("a truncated Mach-O file".into()),
        };
    }
    if head.starts_with(&[0xfe, 0xed, 0xfa, 0xcf]) || head.starts_with(&[0xfe, 0xed, 0xfa, 0xce]) {
        return BinaryKind::Other("a big-endian Mach-O file".into());
    }
    if head.starts_with(&[0xca, 0xfe, 0xba, 0xbe]) || head.starts_with(&[0xca, 0xfe, 0xba, 0xbf]) {
        // fat_header, then fat_arch (20 bytes) or fat_arch_64 (32 bytes)
        // entries, all big-endian, each starting with the cputype. Java class
        // files share the magic, with a version >= 45 where the count is.
        let stride = if head[3] == 0xbe { 20 } else { 32 };
        let count = u32_be(4).unwrap_or(0) as usize;
        let cputypes: Option<Vec<u32>> =
            (1..=32).contains(&count).then(|| (0..count).map(|i| u32_be(8 + i * stride)).collect()).flatten();
        return match cputypes {
            Some(cputypes) => BinaryKind::Universal { cputypes },
            None => BinaryKind::Other("a file starting with cafebabe that is not a universal Mach-O".into()),
        };
    }
    if head.starts_with(b"MZ") {
        let signature = |at: usize| at.checked_add(4).and_then(|end| head.get(at..end)) == Some(&b"PE\0\0"[..]);
        let pe = u32_le(0x3c).map(|at| at as usize).filter(|&at| signature(at));
        return match pe.and_then(|at| u16_le(at + 4)) {
            Some(machine) => BinaryKind::Pe { machine },
            None => BinaryKind::Other("a DOS (MZ) file without a PE header".into()),
        };
    }
    let start: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    BinaryKind::Other(format!("not an executable format this tool knows (it starts with {})", start.join(" ")))
}

fn elf_machine(machine: u16) -> String {
    match machine {
        EM_X86_64 => "x86-64".into(),
        EM_AARCH64 => "aarch64".into(),
        3 => "i386".into(),
        40 => "arm".into(),
        243 => "riscv".into(),
        other => format!("machine {other}"),
    }
}

fn cpu(cputype: u32) -> String {
    match cputype {
        CPU_X86_64 => "x86-64".into(),
        CPU_ARM64 => "arm64".into(),
        other => format!("CPU type {other:#x}"),
    }
}

impl fmt::Display for BinaryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elf { bits64, little_endian, machine } => write!(
                f,
                "an ELF {}-bit {}-endian {} executable",
                if *bits64 { 64 } else { 32 },
                if *little_endian { "little" } else { "big" },
                elf_machine(*machine)
            ),
            Self::MachO { bits64, cputype } => {
                write!(f, "a Mach-O {}-bit {} executable", if *bits64 { 64 } else { 32 }, cpu(*cputype))
            }
            Self::Universal { cputypes } => {
                write!(f, "a universal Mach-O with {}", cputypes.iter().map(|c| cpu(*c)).collect::<Vec<_>>().join(", "))
            }
            Self::Pe { machine } => match *machine {
                PE_AMD64 => f.write_str("a PE x86-64 executable"),
                0xaa64 => f.write_str("a PE arm64 executable"),
                0x14c => f.write_str("a PE i386 executable"),
                other => write!(f, "a PE executable for machine {other:#06x}"),
            },
            Self::Script => f.write_str("a #! script"),
            Self::Other(what) => f.write_str(what),
        }
    }
}

impl Platform {
    /// Whether a binary of this kind runs on this platform. Scripts (`#!`)
    /// run anywhere but on Windows, where the host runs the file itself.
    pub fn accepts(self, kind: &BinaryKind) -> bool {
        let elf =
            |want| matches!(kind, BinaryKind::Elf { bits64: true, little_endian: true, machine } if *machine == want);
        let mach = |want| match kind {
            BinaryKind::MachO { bits64: true, cputype } => *cputype == want,
            BinaryKind::Universal { cputypes } => cputypes.contains(&want),
            _ => false,
        };
        match self {
            Self::WindowsAmd64 => matches!(kind, BinaryKind::Pe { machine: PE_AMD64 }),
            _ if *kind == BinaryKind::Script => true,
            Self::LinuxAmd64 => elf(EM_X86_64),
            Self::LinuxArm64 => elf(EM_AARCH64),
            Self::DarwinAmd64 => mach(CPU_X86_64),
            Self::DarwinArm64 => mach(CPU_ARM64),
        }
    }

    /// What [`accepts`](Self::accepts) wants, in words.
    pub fn needs(self) -> &'static str {
        match self {
            Self::LinuxAmd64 => "an ELF 64-bit little-endian x86-64 executable (e_machine 62) or a #! script",
            Self::LinuxArm64 => "an ELF 64-bit little-endian aarch64 executable (e_machine 183) or a #! script",
            Self::DarwinAmd64 => "a Mach-O 64-bit x86-64 executable, a universal Mach-O with x86-64, or a #! script",
            Self::DarwinArm64 => "a Mach-O 64-bit arm64 executable, a universal Mach-O with arm64, or a #! script",
            Self::WindowsAmd64 => "a PE x86-64 executable (machine 0x8664)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b
    }

    fn macho(cputype: u32) -> Vec<u8> {
        let mut b = vec![0xcf, 0xfa, 0xed, 0xfe];
        b.extend(cputype.to_le_bytes());
        b.resize(32, 0);
        b
    }

    fn fat(cputypes: &[u32]) -> Vec<u8> {
        let mut b = vec![0xca, 0xfe, 0xba, 0xbe];
        b.extend((cputypes.len() as u32).to_be_bytes());
        for c in cputypes {
            b.extend(c.to_be_bytes());
            b.extend([0; 16]);
        }
        b
    }

    fn pe(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 0x90];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        b
    }

    #[test]
    fn each_platform_takes_its_own_format() {
        use Platform::*;
        let cases: [(Vec<u8>, &[Platform]); 9] = [
            (elf(62), &[LinuxAmd64]),
            (elf(183), &[LinuxArm64]),
            (elf(3), &[]),
            (macho(CPU_X86_64), &[DarwinAmd64]),
            (macho(CPU_ARM64), &[DarwinArm64]),
            (fat(&[CPU_X86_64, CPU_ARM64]), &[DarwinAmd64, DarwinArm64]),
            (fat(&[CPU_ARM64]), &[DarwinArm64]),
            (pe(0x8664), &[WindowsAmd64]),
            (b"#!/bin/sh\necho hi\n".to_vec(), &[LinuxAmd64, LinuxArm64, DarwinAmd64, DarwinArm64]),
        ];
        for (bytes, platforms) in cases {
            let kind = sniff(&bytes);
            for p in Platform::ALL {
                assert_eq!(p.accepts(&kind), platforms.contains(&p), "{kind} on {p}");
            }
        }
    }

    #[test]
    fn descriptions() {
        assert_eq!(sniff(&elf(183)).to_string(), "an ELF 64-bit little-endian aarch64 executable");
        assert_eq!(sniff(&pe(0x8664)).to_string(), "a PE x86-64 executable");
        assert_eq!(sniff(&pe(0xaa64)).to_string(), "a PE arm64 executable");
        assert_eq!(sniff(&fat(&[CPU_X86_64, CPU_ARM64])).to_string(), "a universal Mach-O with x86-64, arm64");
        assert_eq!(sniff(&macho(CPU_ARM64)).to_string(), "a Mach-O 64-bit arm64 executable");
        let mut be = elf(62);
        be[5] = 2;
        be[18..20].copy_from_slice(&62u16.to_be_bytes());
        assert_eq!(sniff(&be).to_string(), "an ELF 64-bit big-endian x86-64 executable");
        assert!(!Platform::LinuxAmd64.accepts(&sniff(&be)));
    }

    #[test]
    fn broken_and_unknown_files_are_described_not_accepted() {
        let java = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52];
        let mut no_pe = pe(0x8664);
        no_pe[0x3c..0x40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        for bytes in [&b""[..], b"\x7fELF\x02", b"MZ", &no_pe, &java, b"\xcf\xfa\xed\xfe", &[0x42; 100]] {
            let kind = sniff(bytes);
            assert!(matches!(kind, BinaryKind::Other(_)), "{bytes:?}: {kind:?}");
            assert!(Platform::ALL.iter().all(|p| !p.accepts(&kind)));
        }
        assert_eq!(
            sniff(&[0x42; 10]).to_string(),
            "not an executable format this tool knows (it starts with 42 42 42 42)"
        );
        assert!(!Platform::WindowsAmd64.accepts(&BinaryKind::Script));
    }
}
