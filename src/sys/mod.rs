//! The edge with the kernel that needs `unsafe` or privileges: capability discovery, the
//! AF_PACKET socket, TCP_INFO, network namespaces. Every `unsafe` block of the crate lives
//! here, each with a `// SAFETY:` line.

#![allow(unsafe_code)]

pub mod ebpf;
pub mod packet;
pub mod trace;

use std::fs;
use std::os::fd::{AsRawFd, BorrowedFd};

/// What this process may do, read once from `/proc/self/status` (CapEff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privilege {
    /// CAP_NET_RAW: AF_PACKET capture, raw sockets.
    pub net_raw: bool,
    /// CAP_NET_ADMIN: namespaces, interface configuration, promiscuous mode.
    pub net_admin: bool,
    /// CAP_SYS_ADMIN: setns into network namespaces.
    pub sys_admin: bool,
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;

impl Privilege {
    /// Discover the effective capabilities of this process.
    pub fn discover() -> Privilege {
        let caps = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse_cap_eff(&s))
            .unwrap_or(0);
        Privilege::from_mask(caps)
    }

    /// Privilege from a CapEff bit mask.
    pub fn from_mask(caps: u64) -> Privilege {
        let has = |bit: u32| caps & (1u64 << bit) != 0;
        Privilege {
            net_raw: has(CAP_NET_RAW),
            net_admin: has(CAP_NET_ADMIN),
            sys_admin: has(CAP_SYS_ADMIN),
        }
    }
}

/// Parse the `CapEff:` line of `/proc/PID/status`.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// The fields of the kernel's `struct tcp_info` netlab uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// TCPI_OPT_* bits.
    pub options: u8,
    /// Peer's window scale (what it sent in its SYN-ACK).
    pub snd_wscale: u8,
    /// Our window scale.
    pub rcv_wscale: u8,
    /// Smoothed RTT, µs.
    pub rtt_us: u32,
    /// RTT variance, µs.
    pub rttvar_us: u32,
    /// Sending MSS.
    pub snd_mss: u32,
    /// MSS the peer advertised (as far as the kernel keeps it: advmss is ours).
    pub advmss: u32,
    /// Retransmitted SYNs / segments.
    pub total_retrans: u32,
    /// TCP state (TCP_ESTABLISHED = 1 ... TCP_LISTEN = 10).
    pub state: u8,
    /// Unacknowledged segments; for a listener, its accept queue length.
    pub unacked: u32,
    /// SACKed segments; for a listener, its backlog.
    pub sacked: u32,
}

/// TCPI_OPT_TIMESTAMPS
pub const TCPI_OPT_TIMESTAMPS: u8 = 1;
/// TCPI_OPT_SACK
pub const TCPI_OPT_SACK: u8 = 2;
/// TCPI_OPT_WSCALE
pub const TCPI_OPT_WSCALE: u8 = 4;
/// TCPI_OPT_ECN
pub const TCPI_OPT_ECN: u8 = 8;

/// Read TCP_INFO from a connected TCP socket.
pub fn tcp_info(fd: BorrowedFd<'_>) -> std::io::Result<TcpInfo> {
    // struct tcp_info is 232+ bytes on current kernels; read into a zeroed buffer and pick
    // fields by their fixed offsets (linux/tcp.h, stable ABI).
    let mut buf = [0u8; 256];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is valid for `len` bytes and len points to its size; the kernel writes at
    // most `len` bytes and updates len.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let u32_at =
        |off: usize| u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
    // Offsets: state(0) ca_state(1) retransmits(2) probes(3) backoff(4) options(5)
    // wscale bits(6: snd low nibble, rcv high nibble) ... rto(8) ato(12) snd_mss(16)
    // rcv_mss(20) unacked(24) sacked(28) lost(32) retrans(36) fackets(40) last_data_sent(44)
    // last_ack_sent(48) last_data_recv(52) last_ack_recv(56) pmtu(60) rcv_ssthresh(64)
    // rtt(68) rttvar(72) snd_ssthresh(76) snd_cwnd(80) advmss(84) reordering(88)
    // rcv_rtt(92) rcv_space(96) total_retrans(100)
    Ok(TcpInfo {
        options: buf[5],
        snd_wscale: buf[6] & 0x0f,
        rcv_wscale: buf[6] >> 4,
        snd_mss: u32_at(16),
        rtt_us: u32_at(68),
        rttvar_us: u32_at(72),
        advmss: u32_at(84),
        total_retrans: u32_at(100),
        state: buf[0],
        unacked: u32_at(24),
        sacked: u32_at(28),
    })
}

/// Enter the network namespace at `path` (e.g. `/run/netns/NAME`) on this thread.
pub fn enter_netns(path: &std::path::Path) -> std::io::Result<()> {
    let f = fs::File::open(path)?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to a flag that long-running commands poll, so they stop cleanly
/// (print their summary, remove namespaces, detach) instead of dying mid-way.
pub fn catch_interrupts() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    // No SA_RESTART: a blocking poll/read returns EINTR so loops notice the flag promptly.
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &act) };
    }
}

/// True once SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Sleep up to `d`, waking early (returning false) when interrupted.
pub fn sleep_interruptible(d: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if interrupted() {
            return false;
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(20)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_parses() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        let c = parse_cap_eff(s).unwrap();
        let p = Privilege::from_mask(c);
        assert!(p.net_raw && p.net_admin && p.sys_admin);
        let none = Privilege::from_mask(parse_cap_eff("CapEff:\t0000000000000000\n").unwrap());
        assert!(!none.net_raw && !none.net_admin);
        let raw_only = Privilege::from_mask(1 << 13);
        assert!(raw_only.net_raw && !raw_only.net_admin);
        assert_eq!(parse_cap_eff("nothing"), None);
    }
}
