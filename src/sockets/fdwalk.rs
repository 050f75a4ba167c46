//! Socket inode → process in one kernel pass: an eBPF `iter/task_file` program that visits
//! every open file of every process and writes (tgid, inode) for each socket. It replaces
//! a `stat` of each `/proc/PID/fd/N` link (a path walk and a dentry per fd) when the caller
//! may load tracing programs (CAP_BPF and CAP_PERFMON, i.e. root) and the kernel has BTF; the
//! caller falls back to /proc otherwise.
//!
//! The field offsets the program reads (`task_struct.tgid`, `file.f_inode`, `inode.i_mode`,
//! `inode.i_ino`) come from this kernel's own BTF (`/sys/kernel/btf/vmlinux`), so nothing is
//! compiled against one kernel's layout; the verifier checks every access against the same
//! BTF.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::Arc;

use crate::sockets::analyze::{IntBuild, OwnerMap};

use crate::sys::ebpf::{self, EbpfInsn};

/// Where the running kernel's BTF is.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// What the program needs from the kernel's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// BTF id of `bpf_iter_task_file`, the iterator's attach point.
    pub iter_func: u32,
    /// Byte offsets in the iterator's context (`struct bpf_iter__task_file`).
    pub ctx_meta: u16,
    /// `task` in the context.
    pub ctx_task: u16,
    /// `file` in the context.
    pub ctx_file: u16,
    /// `seq` in `struct bpf_iter_meta`.
    pub meta_seq: u16,
    /// `tgid` in `struct task_struct`.
    pub task_tgid: u16,
    /// `f_inode` in `struct file`.
    pub file_inode: u16,
    /// `i_mode` in `struct inode`.
    pub inode_mode: u16,
    /// `i_ino` in `struct inode`.
    pub inode_ino: u16,
}

/// A parsed BTF blob: the type table (offsets of each type record) and the strings.
struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Byte offset in `types` of type id `i + 1`.
    index: Vec<u32>,
}

const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_FUNC: u32 = 12;
const KIND_TYPE_TAG: u32 = 18;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("BTF: {what}"))
}

impl<'a> Btf<'a> {
    fn parse(blob: &'a [u8]) -> io::Result<Btf<'a>> {
        if blob.get(0..2) != Some(&0xeb9fu16.to_le_bytes()[..]) {
            return Err(bad("not a little-endian BTF blob"));
        }
        let field = |at| {
            u32_at(blob, at)
                .map(|v| v as usize)
                .ok_or_else(|| bad("short header"))
        };
        let hdr = field(4)?;
        let (type_off, type_len, str_off, str_len) =
            (field(8)?, field(12)?, field(16)?, field(20)?);
        let types = blob
            .get(hdr + type_off..hdr + type_off + type_len)
            .ok_or_else(|| bad("type section out of range"))?;
        let strings = blob
            .get(hdr + str_off..hdr + str_off + str_len)
            .ok_or_else(|| bad("string section out of range"))?;
        if types.len() > u32::MAX as usize {
            return Err(bad("type section too large"));
        }
        let mut index = Vec::with_capacity(type_len / 24);
        let mut at = 0;
        while at + 12 <= types.len() {
            index.push(at as u32);
            let info = u32_at(types, at + 4).ok_or_else(|| bad("short type"))?;
            let vlen = (info & 0xffff) as usize;
            let extra = match (info >> 24) & 0x1f {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
                2 | 7..=12 | 16 | 18 => 0,    // PTR, FWD, TYPEDEF..FUNC, FLOAT, TYPE_TAG
                k => return Err(bad(&format!("unknown type kind {k}"))),
            };
            at += 12 + extra;
        }
        Ok(Btf {
            types,
            strings,
            index,
        })
    }

    fn name(&self, off: u32) -> &'a [u8] {
        let rest = self.strings.get(off as usize..).unwrap_or(&[]);
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..end]
    }

    /// (name_off, kind, vlen, kind_flag, size_or_type) of type `id`.
    fn header(&self, id: u32) -> Option<(u32, u32, usize, bool, u32)> {
        let at = *self.index.get((id as usize).checked_sub(1)?)? as usize;
        let info = u32_at(self.types, at + 4)?;
        Some((
            u32_at(self.types, at)?,
            (info >> 24) & 0x1f,
            (info & 0xffff) as usize,
            info >> 31 == 1,
            u32_at(self.types, at + 8)?,
        ))
    }

    /// Is the string at `off` exactly `name`?
    fn is(&self, off: u32, name: &str) -> bool {
        let off = off as usize;
        let n = name.len();
        self.strings.get(off..off + n) == Some(name.as_bytes())
            && self.strings.get(off + n) == Some(&0)
    }

    /// For each (kind, name) wanted, the first type of that kind with that name (a struct
    /// with members, when it is a struct): one pass over the table.
    fn find_all(&self, wanted: &[(u32, &str)]) -> Vec<Option<u32>> {
        let mut found = vec![None; wanted.len()];
        let mut left = wanted.len();
        for (i, &at) in self.index.iter().enumerate() {
            let at = at as usize;
            let (Some(name), Some(info)) = (u32_at(self.types, at), u32_at(self.types, at + 4))
            else {
                break;
            };
            let kind = (info >> 24) & 0x1f;
            if kind != KIND_STRUCT && kind != KIND_FUNC || name == 0 {
                continue;
            }
            for (w, &(k, n)) in wanted.iter().enumerate() {
                if found[w].is_none()
                    && k == kind
                    && (kind != KIND_STRUCT || info & 0xffff > 0)
                    && self.is(name, n)
                {
                    found[w] = Some(i as u32 + 1);
                    left -= 1;
                }
            }
            if left == 0 {
                break;
            }
        }
        found
    }

    /// Skip typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..16 {
            match self.header(id) {
                Some((_, KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_TYPE_TAG, _, _, t)) => {
                    id = t;
                }
                _ => break,
            }
        }
        id
    }

    /// Byte offset of member `field` in struct/union `id`, looking into anonymous members.
    fn member_offset(&self, id: u32, field: &str) -> Option<u32> {
        let (_, kind, vlen, kflag, _) = self.header(id)?;
        if kind != KIND_STRUCT && kind != KIND_UNION {
            return None;
        }
        let at = self.index[id as usize - 1] as usize + 12;
        for m in 0..vlen {
            let rec = at + 12 * m;
            let (name, ty, off) = (
                u32_at(self.types, rec)?,
                u32_at(self.types, rec + 4)?,
                u32_at(self.types, rec + 8)?,
            );
            let bits = if kflag { off & 0xff_ffff } else { off };
            if self.name(name) == field.as_bytes() {
                return (bits % 8 == 0).then_some(bits / 8);
            }
            if name == 0
                && let Some(inner) = self.member_offset(self.resolve(ty), field)
            {
                return Some(bits / 8 + inner);
            }
        }
        None
    }

    fn member(&self, st: (Option<u32>, &str), field: &str) -> io::Result<u16> {
        let id = st.0.ok_or_else(|| bad(&format!("no struct {}", st.1)))?;
        self.member_offset(id, field)
            .and_then(|o| u16::try_from(o).ok())
            .ok_or_else(|| bad(&format!("no {}.{field}", st.1)))
    }
}

impl Layout {
    /// Read the offsets from a BTF blob.
    pub fn from_btf(blob: &[u8]) -> io::Result<Layout> {
        let btf = Btf::parse(blob)?;
        let names = [
            "bpf_iter__task_file",
            "bpf_iter_meta",
            "task_struct",
            "file",
            "inode",
        ];
        let mut wanted: Vec<(u32, &str)> = names.iter().map(|&n| (KIND_STRUCT, n)).collect();
        wanted.push((KIND_FUNC, "bpf_iter_task_file"));
        let f = btf.find_all(&wanted);
        let st = |i: usize| (f[i], names[i]);
        Ok(Layout {
            iter_func: f[5]
                .ok_or_else(|| bad("no bpf_iter_task_file (kernel without task_file iterators)"))?,
            ctx_meta: btf.member(st(0), "meta")?,
            ctx_task: btf.member(st(0), "task")?,
            ctx_file: btf.member(st(0), "file")?,
            meta_seq: btf.member(st(1), "seq")?,
            task_tgid: btf.member(st(2), "tgid")?,
            file_inode: btf.member(st(3), "f_inode")?,
            inode_mode: btf.member(st(4), "i_mode")?,
            inode_ino: btf.member(st(4), "i_ino")?,
        })
    }
}

// eBPF opcodes (BPF_CLASS | BPF_SIZE/OP | BPF_MODE/SRC).
const LDX_DW: u8 = 0x79;
const LDX_W: u8 = 0x61;
const LDX_H: u8 = 0x69;
const STX_W: u8 = 0x63;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const ADD64_K: u8 = 0x07;
const AND64_K: u8 = 0x57;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
/// `bpf_seq_write(seq, data, len)`.
const HELPER_SEQ_WRITE: i32 = 127;
const S_IFMT: i32 = 0o170000;
const S_IFSOCK: i32 = 0o140000;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> EbpfInsn {
    EbpfInsn {
        code,
        regs: dst | src << 4,
        off,
        imm,
    }
}

/// The iterator program: for each (task, file) whose inode is a socket, write the 8 bytes
/// (tgid: u32, inode: u32) to the iterator's output.
pub fn program(l: &Layout) -> Vec<EbpfInsn> {
    let o = |v: u16| v as i16;
    // Jump targets are counted to the `r0 = 0; exit` pair at the end (index 20).
    let to_out = |at: i16| 20 - at - 1;
    vec![
        insn(MOV64_X, 6, 1, 0, 0),               // 0: r6 = ctx
        insn(LDX_DW, 7, 6, o(l.ctx_meta), 0),    // 1: r7 = ctx->meta
        insn(LDX_DW, 2, 6, o(l.ctx_task), 0),    // 2: r2 = ctx->task
        insn(JEQ_K, 2, 0, to_out(3), 0),         // 3: if !task goto out
        insn(LDX_DW, 3, 6, o(l.ctx_file), 0),    // 4: r3 = ctx->file
        insn(JEQ_K, 3, 0, to_out(5), 0),         // 5: if !file goto out
        insn(LDX_W, 4, 2, o(l.task_tgid), 0),    // 6: r4 = task->tgid
        insn(LDX_DW, 5, 3, o(l.file_inode), 0),  // 7: r5 = file->f_inode
        insn(JEQ_K, 5, 0, to_out(8), 0),         // 8: if !inode goto out
        insn(LDX_H, 0, 5, o(l.inode_mode), 0),   // 9: r0 = inode->i_mode
        insn(AND64_K, 0, 0, 0, S_IFMT),          // 10
        insn(JNE_K, 0, 0, to_out(11), S_IFSOCK), // 11: not a socket: out
        insn(LDX_DW, 0, 5, o(l.inode_ino), 0),   // 12: r0 = inode->i_ino
        insn(STX_W, 10, 4, -8, 0),               // 13: fp[-8] = tgid
        insn(STX_W, 10, 0, -4, 0),               // 14: fp[-4] = ino
        insn(LDX_DW, 1, 7, o(l.meta_seq), 0),    // 15: r1 = meta->seq
        insn(MOV64_X, 2, 10, 0, 0),              // 16: r2 = fp
        insn(ADD64_K, 2, 0, 0, -8),              // 17: r2 = fp - 8
        insn(MOV64_K, 3, 0, 0, 8),               // 18: r3 = 8
        insn(CALL, 0, 0, 0, HELPER_SEQ_WRITE),   // 19
        insn(MOV64_K, 0, 0, 0, 0),               // 20 (out): r0 = 0
        insn(EXIT, 0, 0, 0, 0),                  // 21
    ]
}

/// Is this process in the initial pid namespace? The program reads `task->tgid`, the pid as
/// the initial namespace numbers it; elsewhere the /proc walk gives the pids this process sees.
fn in_initial_pid_ns() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("NSpid:"))
                .map(|l| l.split_whitespace().count() == 2)
        })
        .unwrap_or(false)
}

/// Every socket open in every process: (tgid, inode) pairs in task order (ascending pid),
/// from one pass of the iterator. An error means the caller should walk /proc instead (not
/// root, no BTF, an older kernel, a verifier that refuses the program).
pub fn walk() -> io::Result<Vec<(u32, u32)>> {
    if !in_initial_pid_ns() {
        return Err(io::Error::other("not in the initial pid namespace"));
    }
    let layout = match ebpf::map_file(VMLINUX_BTF) {
        Ok(m) => Layout::from_btf(&m)?,
        Err(_) => Layout::from_btf(&std::fs::read(VMLINUX_BTF)?)?,
    };
    let prog = ebpf::load_iter_program(&program(&layout), layout.iter_func)?;
    let mut iter = ebpf::open_iter(&prog)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut have = 0usize;
    loop {
        let n = match iter.read(&mut buf[have..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        have += n;
        let whole = have - have % 8;
        out.extend(buf[..whole].chunks_exact(8).map(|rec| {
            (
                u32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]),
                u32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]),
            )
        }));
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
    Ok(out)
}

/// The owners of `inodes` among the (pid, inode) pairs of [`walk`]: the lowest pid when a
/// socket is shared, its command from /proc/PID/comm.
pub fn owners_from(pairs: &[(u32, u32)], inodes: &HashSet<u32, IntBuild>) -> OwnerMap {
    let mut pids: HashMap<u32, u32, IntBuild> = HashMap::default();
    for &(pid, ino) in pairs {
        if inodes.contains(&ino) {
            let e = pids.entry(ino).or_insert(pid);
            *e = (*e).min(pid);
        }
    }
    let mut comms: HashMap<u32, Arc<str>, IntBuild> = HashMap::default();
    pids.into_iter()
        .map(|(ino, pid)| {
            let comm = comms
                .entry(pid)
                .or_insert_with(|| crate::sockets::gather::command(pid))
                .clone();
            (ino, (pid, comm))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_jumps_land_on_the_exit_pair() {
        let l = Layout {
            iter_func: 1,
            ctx_meta: 0,
            ctx_task: 8,
            ctx_file: 24,
            meta_seq: 0,
            task_tgid: 2000,
            file_inode: 168,
            inode_mode: 0,
            inode_ino: 64,
        };
        let p = program(&l);
        assert_eq!(p.len(), 22);
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JEQ_K || ins.code == JNE_K {
                assert_eq!(i as i16 + 1 + ins.off, 20, "jump at {i}");
            }
        }
        assert_eq!(p[20].code, MOV64_K);
        assert_eq!(p[21].code, EXIT);
        assert_eq!(p[6].off, 2000);
    }

    #[test]
    #[allow(clippy::print_stderr)]
    fn the_running_kernels_layout_is_read_when_it_has_btf() {
        let Ok(blob) = std::fs::read(VMLINUX_BTF) else {
            eprintln!("skipped: no {VMLINUX_BTF}");
            return;
        };
        let l = Layout::from_btf(&blob).expect("layout");
        // The iterator context is fixed by the kernel's ABI: meta, task, fd, file.
        assert_eq!(
            (l.ctx_meta, l.ctx_task, l.ctx_file, l.meta_seq),
            (0, 8, 24, 0)
        );
        assert!(l.task_tgid > 0 && l.file_inode > 0 && l.inode_ino > 0);
        assert!(l.iter_func > 0);
    }

    #[test]
    fn a_blob_that_is_not_btf_is_refused() {
        assert!(Layout::from_btf(b"not btf at all, not at all").is_err());
        assert!(Layout::from_btf(&[0x9f, 0xeb, 1, 0]).is_err());
    }
}
