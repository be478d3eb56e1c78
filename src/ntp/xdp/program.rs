//! The XDP program, as eBPF instructions built here rather than compiled by clang: it is a
//! few dozen instructions, and building it in Rust keeps clang, libbpf and an object file out
//! of the build and the image.
//!
//! What it does, per received frame: an untagged Ethernet frame carrying IPv4 (no options, not
//! a fragment) or IPv6 (UDP as the first next header) to UDP port `port` gets the monotonic
//! time in nanoseconds written into 8 bytes of XDP metadata just before the frame, and is
//! redirected to the AF_XDP socket of its receive queue. Everything else, and everything on a
//! queue without a socket, passes on to the kernel's own stack unchanged.

/// Helpers the program calls (include/uapi/linux/bpf.h).
const HELPER_KTIME_GET_NS: i32 = 5;
const HELPER_REDIRECT_MAP: i32 = 51;
const HELPER_XDP_ADJUST_META: i32 = 54;
const XDP_PASS: i32 = 2;
/// Bytes of metadata the program puts before the frame: one u64 receive time.
pub const METADATA_LEN: usize = 8;

/// Offsets in `struct xdp_md`.
const MD_DATA: i16 = 0;
const MD_DATA_END: i16 = 4;
const MD_DATA_META: i16 = 8;
const MD_RX_QUEUE_INDEX: i16 = 16;

const ETH_HEADER: i32 = 14;
const IPV4_HEADER: i32 = 20;
const IPV6_HEADER: i32 = 40;
const UDP_HEADER: i32 = 8;

/// The program for UDP destination `port`, with `xsk_map_fd` the XSKMAP indexed by queue.
pub fn ntp_redirect(port: u16, xsk_map_fd: i32) -> Vec<u64> {
    // Frames hold network byte order; a 16-bit load reads it little-endian on the targets
    // we build for (x86-64 and AArch64), so compare against byte-swapped constants.
    let be16 = |v: u16| i32::from(v.swap_bytes());
    let mut a = Assembler::default();
    let (pass, ipv4, matched, redirect) = (a.label(), a.label(), a.label(), a.label());
    a.mov_reg(6, 1); // r6 = ctx, kept across helper calls
    a.load(Size::W, 2, 6, MD_DATA);
    a.load(Size::W, 3, 6, MD_DATA_END);
    a.mov_reg(4, 2);
    a.add_imm(4, ETH_HEADER);
    a.jump_reg(Jump::Greater, 4, 3, pass);
    a.load(Size::H, 5, 2, 12); // EtherType
    a.jump_imm(Jump::Equal, 5, be16(0x0800), ipv4);
    a.jump_imm(Jump::NotEqual, 5, be16(0x86dd), pass);
    // IPv6: UDP must be the first next header.
    a.mov_reg(4, 2);
    a.add_imm(4, ETH_HEADER + IPV6_HEADER + UDP_HEADER);
    a.jump_reg(Jump::Greater, 4, 3, pass);
    a.load(Size::B, 5, 2, (ETH_HEADER + 6) as i16);
    a.jump_imm(Jump::NotEqual, 5, 17, pass);
    a.load(Size::H, 5, 2, (ETH_HEADER + IPV6_HEADER + 2) as i16);
    a.jump_imm(Jump::NotEqual, 5, be16(port), pass);
    a.jump(matched);
    a.bind(ipv4);
    a.mov_reg(4, 2);
    a.add_imm(4, ETH_HEADER + IPV4_HEADER + UDP_HEADER);
    a.jump_reg(Jump::Greater, 4, 3, pass);
    a.load(Size::B, 5, 2, ETH_HEADER as i16);
    a.jump_imm(Jump::NotEqual, 5, 0x45, pass); // version 4, no options
    a.load(Size::B, 5, 2, (ETH_HEADER + 9) as i16);
    a.jump_imm(Jump::NotEqual, 5, 17, pass);
    a.load(Size::H, 5, 2, (ETH_HEADER + 6) as i16);
    a.jump_imm(Jump::AnyBitSet, 5, be16(0x3fff), pass); // more-fragments or an offset
    a.load(Size::H, 5, 2, (ETH_HEADER + IPV4_HEADER + 2) as i16);
    a.jump_imm(Jump::NotEqual, 5, be16(port), pass);
    a.bind(matched);
    // Stamp the receive time into metadata. Without room for it the frame is still
    // redirected: user space sees an empty stamp and falls back to its own reading.
    a.mov_reg(1, 6);
    a.mov_imm(2, -(METADATA_LEN as i32));
    a.call(HELPER_XDP_ADJUST_META);
    a.jump_imm(Jump::NotEqual, 0, 0, redirect);
    a.load(Size::W, 7, 6, MD_DATA_META);
    a.load(Size::W, 3, 6, MD_DATA);
    a.mov_reg(4, 7);
    a.add_imm(4, METADATA_LEN as i32);
    a.jump_reg(Jump::Greater, 4, 3, redirect);
    a.call(HELPER_KTIME_GET_NS);
    a.store_reg(Size::DW, 7, 0, 0);
    a.bind(redirect);
    a.load(Size::W, 2, 6, MD_RX_QUEUE_INDEX);
    a.load_map_fd(1, xsk_map_fd);
    a.mov_imm(3, XDP_PASS); // what happens when the queue has no socket
    a.call(HELPER_REDIRECT_MAP);
    a.exit();
    a.bind(pass);
    a.mov_imm(0, XDP_PASS);
    a.exit();
    a.finish()
}

#[derive(Clone, Copy)]
enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    fn code(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }
}

#[derive(Clone, Copy)]
enum Jump {
    Equal,
    NotEqual,
    Greater,
    AnyBitSet,
}

impl Jump {
    fn code(self) -> u8 {
        match self {
            Jump::Equal => 0x10,
            Jump::Greater => 0x20,
            Jump::AnyBitSet => 0x40,
            Jump::NotEqual => 0x50,
        }
    }
}

#[derive(Clone, Copy)]
struct Label(usize);

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_STX: u8 = 0x03;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const SOURCE_REG: u8 = 0x08;
const ALU_ADD: u8 = 0x00;
const ALU_MOV: u8 = 0xb0;
const JMP_ALWAYS: u8 = 0x00;
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;
const PSEUDO_MAP_FD: u8 = 1;

/// A minimal eBPF assembler: instructions as `struct bpf_insn` in little-endian u64s, and
/// forward jumps to labels patched in [`Assembler::finish`].
#[derive(Default)]
struct Assembler {
    code: Vec<u64>,
    labels: Vec<Option<usize>>,
    jumps: Vec<(usize, Label)>,
}

fn encode(code: u8, dst: u8, src: u8, offset: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from(dst & 0xf) | u64::from(src & 0xf) << 4) << 8
        | u64::from(offset as u16) << 16
        | u64::from(imm as u32) << 32
}

impl Assembler {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    fn mov_reg(&mut self, dst: u8, src: u8) {
        self.code.push(encode(CLASS_ALU64 | ALU_MOV | SOURCE_REG, dst, src, 0, 0));
    }

    fn mov_imm(&mut self, dst: u8, imm: i32) {
        self.code.push(encode(CLASS_ALU64 | ALU_MOV, dst, 0, 0, imm));
    }

    fn add_imm(&mut self, dst: u8, imm: i32) {
        self.code.push(encode(CLASS_ALU64 | ALU_ADD, dst, 0, 0, imm));
    }

    fn load(&mut self, size: Size, dst: u8, base: u8, offset: i16) {
        self.code.push(encode(CLASS_LDX | MODE_MEM | size.code(), dst, base, offset, 0));
    }

    fn store_reg(&mut self, size: Size, base: u8, offset: i16, src: u8) {
        self.code.push(encode(CLASS_STX | MODE_MEM | size.code(), base, src, offset, 0));
    }

    /// A 64-bit immediate load of a map, by file descriptor: two instruction slots.
    fn load_map_fd(&mut self, dst: u8, fd: i32) {
        self.code.push(encode(CLASS_LD | MODE_IMM | Size::DW.code(), dst, PSEUDO_MAP_FD, 0, fd));
        self.code.push(0);
    }

    fn jump_imm(&mut self, kind: Jump, dst: u8, imm: i32, to: Label) {
        self.jumps.push((self.code.len(), to));
        self.code.push(encode(CLASS_JMP | kind.code(), dst, 0, 0, imm));
    }

    fn jump_reg(&mut self, kind: Jump, dst: u8, src: u8, to: Label) {
        self.jumps.push((self.code.len(), to));
        self.code.push(encode(CLASS_JMP | kind.code() | SOURCE_REG, dst, src, 0, 0));
    }

    fn jump(&mut self, to: Label) {
        self.jumps.push((self.code.len(), to));
        self.code.push(encode(CLASS_JMP | JMP_ALWAYS, 0, 0, 0, 0));
    }

    fn call(&mut self, helper: i32) {
        self.code.push(encode(CLASS_JMP | JMP_CALL, 0, 0, 0, helper));
    }

    fn exit(&mut self) {
        self.code.push(encode(CLASS_JMP | JMP_EXIT, 0, 0, 0, 0));
    }

    /// Patches every jump's offset (counted from the instruction after it).
    fn finish(mut self) -> Vec<u64> {
        for &(at, label) in &self.jumps {
            let target = self.labels[label.0].unwrap_or_else(|| panic!("label {} never bound", label.0));
            let offset = target as i64 - at as i64 - 1;
            let offset = i16::try_from(offset).unwrap_or_else(|_| panic!("jump too far: {offset}"));
            self.code[at] = (self.code[at] & !(0xffff << 16)) | u64::from(offset as u16) << 16;
        }
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opcode(insn: u64) -> u8 {
        insn as u8
    }
    fn offset(insn: u64) -> i16 {
        (insn >> 16) as u16 as i16
    }
    fn imm(insn: u64) -> i32 {
        (insn >> 32) as u32 as i32
    }

    #[test]
    fn encodes_instructions_as_the_kernel_lays_them_out() {
        // r0 = 2; exit — the bytes of `struct bpf_insn` as clang emits them.
        assert_eq!(encode(CLASS_ALU64 | ALU_MOV, 0, 0, 0, 2).to_le_bytes(), [0xb7, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(encode(CLASS_JMP | JMP_EXIT, 0, 0, 0, 0).to_le_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        // r5 = *(u16 *)(r2 + 12)
        assert_eq!(encode(0x69, 5, 2, 12, 0).to_le_bytes(), [0x69, 0x25, 12, 0, 0, 0, 0, 0]);
        // if r4 > r3 goto -3
        assert_eq!(encode(0x2d, 4, 3, -3, 0).to_le_bytes(), [0x2d, 0x34, 0xfd, 0xff, 0, 0, 0, 0]);
    }

    #[test]
    fn every_jump_lands_inside_the_program_and_both_paths_exit() {
        let code = ntp_redirect(123, 7);
        let mut exits = 0;
        for (i, &insn) in code.iter().enumerate() {
            let op = opcode(insn);
            if op & 0x07 == CLASS_JMP && op & 0xf0 != JMP_CALL && op & 0xf0 != JMP_EXIT {
                let target = i as i64 + 1 + i64::from(offset(insn));
                assert!(target > i as i64 && (target as usize) < code.len(), "jump at {i} to {target}");
            }
            if op == CLASS_JMP | JMP_EXIT {
                exits += 1;
            }
        }
        assert_eq!(exits, 2);
        assert_eq!(code.len(), 47, "docs/guide.md quotes the program's length");
        assert_eq!(opcode(*code.last().unwrap()), CLASS_JMP | JMP_EXIT);
    }

    #[test]
    fn matches_the_port_in_network_byte_order_and_names_the_map() {
        let code = ntp_redirect(123, 7);
        let port_checks = code.iter().filter(|&&i| opcode(i) == 0x55 && imm(i) == 0x7b00).count();
        assert_eq!(port_checks, 2, "IPv4 and IPv6 both compare the port 123 as big-endian");
        let map = code.iter().position(|&i| opcode(i) == 0x18).expect("a map load");
        assert_eq!((code[map] >> 12) & 0xf, u64::from(PSEUDO_MAP_FD));
        assert_eq!(imm(code[map]), 7);
    }
}
