//! The unsafe edge of eBPF iterators: load a tracing program given as raw instructions,
//! attach it to a kernel iterator (`BPF_TRACE_ITER`) and open a readable iterator fd. Used by
//! `netlab sockets` to walk every process's fd table in one kernel pass (`iter/task_file`).
//! The program itself is built (and its field offsets read from the kernel's BTF) in safe
//! code: `crate::sockets::fdwalk`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_ITER: u32 = 28;
/// `union bpf_attr` as this kernel ABI knows it (every command's struct fits in it).
const ATTR_SIZE: usize = 144;

/// One eBPF instruction, as the kernel reads it (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EbpfInsn {
    /// Opcode.
    pub code: u8,
    /// Destination register (low nibble) and source register (high nibble).
    pub regs: u8,
    /// Offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

fn put_u32(attr: &mut [u8; ATTR_SIZE], at: usize, v: u32) {
    attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; ATTR_SIZE], at: usize, v: u64) {
    attr[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn bpf(cmd: libc::c_long, attr: &mut [u8; ATTR_SIZE]) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a live, zero-padded buffer of the size passed, laid out as the
    // command's `union bpf_attr` member; every pointer stored in it outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), ATTR_SIZE) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(r).map_err(|_| io::Error::other("bpf: bad fd"))?;
    // SAFETY: the kernel just returned this new fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Load `insns` as a `BPF_PROG_TYPE_TRACING` program for the iterator whose BTF function
/// (`bpf_iter_<target>`) has id `attach_btf_id` in vmlinux. On a verifier refusal the error
/// carries the last line of the verifier's log.
pub fn load_iter_program(insns: &[EbpfInsn], attach_btf_id: u32) -> io::Result<OwnedFd> {
    if cfg!(target_endian = "big") {
        // `struct bpf_insn` puts the register nibbles the other way round there.
        return Err(io::Error::other(
            "eBPF iterator: big-endian host not supported",
        ));
    }
    let raw: Vec<u8> = insns
        .iter()
        .flat_map(|i| {
            let mut b = [0u8; 8];
            b[0] = i.code;
            b[1] = i.regs;
            b[2..4].copy_from_slice(&i.off.to_ne_bytes());
            b[4..8].copy_from_slice(&i.imm.to_ne_bytes());
            b
        })
        .collect();
    let license = c"GPL";
    let mut log = vec![0u8; 16 * 1024];
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_TRACING);
    put_u32(
        &mut attr,
        4,
        u32::try_from(insns.len()).map_err(|_| io::Error::other("eBPF program too long"))?,
    );
    put_u64(&mut attr, 8, raw.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    put_u32(&mut attr, 24, 1); // log_level
    put_u32(&mut attr, 28, log.len() as u32);
    put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    attr[48..48 + 7].copy_from_slice(b"netlab\0");
    put_u32(&mut attr, 68, BPF_TRACE_ITER);
    put_u32(&mut attr, 108, attach_btf_id);
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let text = String::from_utf8_lossy(&log);
            let last = text
                .trim_end_matches('\0')
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            if last.is_empty() {
                Err(e)
            } else {
                Err(io::Error::new(e.kind(), format!("{e}: verifier: {last}")))
            }
        }
    }
}

/// Attach a loaded iterator program (no iterator parameters: every task) and open the
/// iterator: reading the returned fd runs the program over the kernel's objects.
pub fn open_iter(prog: &OwnedFd) -> io::Result<std::fs::File> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, BPF_TRACE_ITER);
    let link = bpf(BPF_LINK_CREATE, &mut attr)?;
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, link.as_raw_fd() as u32);
    let iter = bpf(BPF_ITER_CREATE, &mut attr)?;
    // The iterator holds its own reference to the link; ours can go.
    drop(link);
    Ok(std::fs::File::from(iter))
}

/// A read-only private mapping of a whole file (unmapped on drop).
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a live PROT_READ mapping of exactly `len` bytes (len > 0), private
        // to us and never written, that lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping `map_file` made; nothing borrows it past `self`.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Map `path` read-only. `/sys/kernel/btf/vmlinux` can be mapped on recent kernels, which
/// spares copying its megabytes; callers fall back to reading it.
pub fn map_file(path: &str) -> io::Result<Mapped> {
    let file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
    if len == 0 {
        return Err(io::Error::other("empty file"));
    }
    // SAFETY: a fresh PROT_READ, MAP_PRIVATE mapping at an address the kernel picks, of an
    // fd that stays open for the call; the result is checked before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Mapped { ptr, len })
}
