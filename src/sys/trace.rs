//! The unsafe edge of `netlab syscalls`: starting a traced child behind a seccomp filter,
//! reading a tracee's syscall-stop (PTRACE_GET_SYSCALL_INFO), and borrowing a tracee's file
//! descriptor (pidfd_getfd) to ask its socket where it is connected.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::sys::ptrace;
use nix::unistd::Pid;

use crate::capture::bpf::Insn;

/// What a syscall stop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Entry (PTRACE_SYSCALL) or the seccomp filter's stop (also at entry).
    Entry {
        /// Syscall number.
        nr: u64,
        /// Raw arguments.
        args: [u64; 6],
    },
    /// Exit.
    Exit {
        /// Return value (negative errno on error).
        ret: i64,
        /// The kernel says it is an error.
        is_error: bool,
    },
    /// Not a syscall stop.
    Other,
}

/// PTRACE_GET_SYSCALL_INFO for a tracee in a syscall stop.
pub fn syscall_stop(pid: Pid) -> nix::Result<Stop> {
    let info = ptrace::syscall_info(pid)?;
    // SAFETY: `op` says which member of the union the kernel filled in (1 entry, 2 exit,
    // 3 seccomp); only that member is read.
    let stop = unsafe {
        match info.op {
            1 => Stop::Entry {
                nr: info.u.entry.nr,
                args: info.u.entry.args,
            },
            3 => Stop::Entry {
                nr: info.u.seccomp.nr,
                args: info.u.seccomp.args,
            },
            2 => Stop::Exit {
                ret: info.u.exit.sval,
                is_error: info.u.exit.is_error != 0,
            },
            _ => Stop::Other,
        }
    };
    Ok(stop)
}

/// The AUDIT_ARCH value of this build's syscall ABI (seccomp_data.arch).
pub const fn audit_arch() -> u32 {
    if cfg!(target_arch = "x86_64") {
        0xC000_003E
    } else if cfg!(target_arch = "aarch64") {
        0xC000_00B7
    } else {
        0
    }
}

/// A seccomp filter: SECCOMP_RET_TRACE for `nrs` of this ABI, allow everything else.
pub fn seccomp_trace_filter(nrs: &[u64]) -> Vec<Insn> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    let n = nrs.len();
    let mut p = vec![
        // arch (offset 4): another ABI (x32, i386 on x86_64) is let through.
        Insn::new(LD_W_ABS, 0, 0, 4),
        Insn::new(JEQ_K, 0, (n + 2) as u8, audit_arch()),
        // nr (offset 0); the x32 bit set: allow.
        Insn::new(LD_W_ABS, 0, 0, 0),
        Insn::new(JGE_K, n as u8, 0, 0x4000_0000),
    ];
    for (i, nr) in nrs.iter().enumerate() {
        // Match: jump to the TRACE return after the ALLOW.
        p.push(Insn::new(JEQ_K, (n - i) as u8, 0, *nr as u32));
    }
    p.push(Insn::new(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    p.push(Insn::new(RET_K, 0, 0, libc::SECCOMP_RET_TRACE));
    p
}

/// Fork and exec `argv` as a tracee: the child asks to be traced, stops, and (once the
/// parent has set the trace options) installs `filter` and execs. Returns the child's pid,
/// stopped in its SIGSTOP; exec failures come back through a CLOEXEC pipe as `Err`.
pub fn spawn_traced(argv: &[CString], filter: &[Insn]) -> std::io::Result<(Pid, Spawned)> {
    if argv.is_empty() {
        return Err(std::io::Error::from_raw_os_error(libc::ENOENT));
    }
    let mut insns: Vec<libc::sock_filter> = filter
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let prog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_mut_ptr(),
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    // SAFETY: an anonymous shared mapping of one page, checked below, unmapped by
    // exec_failure (the child's copy goes with its exec or exit).
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if shared == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let shared = shared.cast::<[i32; 2]>();
    // SAFETY: after fork the child only calls async-signal-safe functions (ptrace, raise,
    // prctl, seccomp, execvp, _exit) on memory prepared before the fork.
    match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            let _keep_open_until_exec = &wr;
            // SAFETY: raw syscalls on valid pointers (prog and ptrs live until exec or exit).
            unsafe {
                // Report through shared memory, not write(2): the filter may trace write,
                // and nobody would answer that stop (the parent waits on the pipe).
                let fail = |step: i32| -> ! {
                    let e = *libc::__errno_location();
                    std::ptr::write_volatile(shared, [step, e]);
                    libc::_exit(127);
                };
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                    fail(1);
                }
                libc::raise(libc::SIGSTOP);
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    fail(2);
                }
                if libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                ) != 0
                {
                    fail(3);
                }
                libc::execvp(ptrs[0], ptrs.as_ptr());
                fail(4);
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            Ok((child, Spawned { pipe: rd, shared }))
        }
    }
}

/// What the parent keeps of a spawned child until it has exec'd: the read end of a CLOEXEC
/// pipe (EOF once the child exec'd or died) and the page it reports a failure in.
#[derive(Debug)]
pub struct Spawned {
    pipe: OwnedFd,
    shared: *mut [i32; 2],
}

/// Wait until the child exec'd or gave up; the failed step and errno when it gave up.
pub fn exec_failure(s: Spawned) -> Option<(i32, std::io::Error)> {
    use std::io::Read;
    let mut f = std::fs::File::from(s.pipe);
    let mut b = [0u8; 8];
    let _ = f.read(&mut b);
    // SAFETY: the page is mapped until the munmap below; the child wrote it (if at all)
    // before exiting, which closed the pipe we just saw end.
    let [step, e] = unsafe { std::ptr::read_volatile(s.shared) };
    // SAFETY: unmapping the page mapped in spawn_traced, not used after this.
    unsafe { libc::munmap(s.shared.cast(), 4096) };
    (step != 0).then(|| (step, std::io::Error::from_raw_os_error(e)))
}

/// A pidfd for `pid` (pidfd_open).
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; a non-negative result is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A duplicate of the tracee's descriptor `target` (pidfd_getfd), ours to query and close.
pub fn pidfd_getfd(pidfd: &OwnedFd, target: i32) -> std::io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall with integer arguments; a non-negative result is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_traces_only_the_listed_calls() {
        let p = crate::capture::bpf::Program(seccomp_trace_filter(&[42, 43, 288]));
        let data = |nr: u32, arch: u32| {
            let mut d = vec![0u8; 64];
            d[0..4].copy_from_slice(&nr.to_ne_bytes());
            d[4..8].copy_from_slice(&arch.to_ne_bytes());
            d
        };
        // The socket-filter interpreter reads big-endian words; seccomp reads native ones.
        // Feed it byte-swapped data so both agree on the values.
        let run = |nr: u32, arch: u32| {
            let d = data(nr.swap_bytes(), arch.swap_bytes());
            p.run(&d)
        };
        let a = audit_arch();
        assert_eq!(run(43, a), libc::SECCOMP_RET_TRACE);
        assert_eq!(run(288, a), libc::SECCOMP_RET_TRACE);
        assert_eq!(run(42, a), libc::SECCOMP_RET_TRACE);
        assert_eq!(run(0, a), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(43, 0x4000_0003), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(0x4000_0000 + 43, a), libc::SECCOMP_RET_ALLOW);
    }
}
