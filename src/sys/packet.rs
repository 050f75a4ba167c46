//! The raw AF_PACKET socket: open with protocol 0, attach the filter, then bind to
//! ETH_P_ALL on one interface (so no unfiltered packet is ever queued), SO_TIMESTAMPNS, and
//! read with recvmsg to get the kernel timestamp and the packet type (direction).

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::capture::bpf::Program;

/// One frame as the kernel delivered it.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// Kernel receive timestamp, ns since the epoch.
    pub ts_ns: u64,
    /// `sll_pkttype`: 0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing.
    pub pkttype: u8,
    /// Interface index.
    pub ifindex: u32,
    /// Length on the wire (may exceed `bytes.len()` when truncated).
    pub wire_len: usize,
}

/// Kernel counters from PACKET_STATISTICS (reading them resets them).
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketStats {
    /// Packets that passed the filter.
    pub packets: u32,
    /// Packets dropped because the socket buffer was full.
    pub drops: u32,
}

/// An AF_PACKET SOCK_RAW socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

const ETH_P_ALL: u16 = 0x0003;

impl PacketSocket {
    /// Open, attach `filter` (if any), enable nanosecond timestamps, bind to `ifindex`.
    pub fn open(ifindex: u32, filter: Option<&Program>) -> io::Result<PacketSocket> {
        // SAFETY: plain socket(2) call with constant arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = PacketSocket { fd };
        if let Some(prog) = filter {
            sock.attach(prog)?;
        }
        let one: libc::c_int = 1;
        sock.setsockopt(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &one)?;
        // A bigger receive buffer keeps bursts (scans, forwarding) from being dropped.
        let rcvbuf: libc::c_int = 4 << 20;
        sock.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf)?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }

    fn setsockopt<T>(&self, level: i32, name: i32, val: &T) -> io::Result<()> {
        // SAFETY: val points to a live T and the length passed is its size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (val as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn attach(&self, prog: &Program) -> io::Result<()> {
        let mut insns: Vec<libc::sock_filter> = prog
            .0
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: insns.len() as u16,
            filter: insns.as_mut_ptr(),
        };
        // The kernel copies the program during the call; `insns` outlives it.
        self.setsockopt(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
    }

    /// Put the interface in promiscuous mode for as long as this socket is open.
    pub fn set_promiscuous(&self, ifindex: u32) -> io::Result<()> {
        // SAFETY: packet_mreq is plain data; all-zero is valid.
        let mut mr: libc::packet_mreq = unsafe { zeroed() };
        mr.mr_ifindex = ifindex as i32;
        mr.mr_type = libc::PACKET_MR_PROMISC as u16;
        self.setsockopt(libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr)
    }

    /// Receive one frame into `buf` (non-blocking semantics depend on the caller's poll).
    /// Returns the frame's metadata; `buf[..n]` holds the bytes, n = min(wire_len, buf.len()).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(RawFrame, usize)> {
        // SAFETY: all-zero is a valid sockaddr_ll and msghdr.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for one SCM_TIMESTAMPNS (a timespec) with its header, 8-byte aligned.
        let mut cbuf = [0u64; 8];
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 8]>();
        // SAFETY: msg points to valid buffers (name, one iovec over buf, control) that live
        // across the call; MSG_TRUNC makes the kernel report the real length.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let wire_len = n as usize;
        let mut ts_ns = 0u64;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel just filled, bounded
        // by msg_controllen; each header read lies inside cbuf.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    ts_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok((
            RawFrame {
                ts_ns,
                pkttype: sll.sll_pkttype,
                ifindex: sll.sll_ifindex as u32,
                wire_len,
            },
            wire_len.min(buf.len()),
        ))
    }

    /// Send one whole frame out of the interface this socket is bound to.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: frame is a valid slice for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Read (and reset) the kernel's packet and drop counters.
    pub fn stats(&self) -> io::Result<PacketStats> {
        // SAFETY: tpacket_stats is plain data; all-zero is valid.
        let mut st: libc::tpacket_stats = unsafe { zeroed() };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: st is valid for len bytes; the kernel writes at most len.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketStats {
            packets: st.tp_packets,
            drops: st.tp_drops,
        })
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
