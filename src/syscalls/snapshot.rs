//! `netlab syscalls -p PID --snapshot`: no tracing at all. For each thread, the system call
//! it is in right now (/proc/PID/task/TID/syscall and wchan), its descriptor resolved to the
//! socket (addresses, TCP state, accept queue), the size of an epoll set or a poll array.

use std::io::{self, Write};
use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::output::{Report, SCHEMA_VERSION, Style};
use crate::syscalls::fds::{self, FdInfo};
use crate::syscalls::names;

/// One thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thread {
    /// Thread id.
    pub tid: i32,
    /// Its name (comm).
    pub comm: String,
    /// Scheduler state: R, S, D, T, t, Z ...
    pub state: String,
    /// The call it is in (null: running in user space).
    pub syscall: Option<String>,
    /// Syscall number.
    pub nr: Option<u64>,
    /// Its six raw arguments, hex.
    pub args: Vec<String>,
    /// Kernel function it sleeps in.
    pub wchan: Option<String>,
    /// The descriptor the call is on, resolved.
    pub fd: Option<FdInfo>,
    /// epoll_wait: descriptors in the epoll set.
    pub epoll_fds: Option<u32>,
    /// poll / ppoll: descriptors polled.
    pub poll_fds: Option<u64>,
    /// In words: "blocked in accept4 on 0.0.0.0:8080 LISTEN (accept queue 3/128)".
    pub summary: String,
}

/// The snapshot report.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "syscalls".
    pub command: &'static str,
    /// "snapshot".
    pub mode: &'static str,
    /// Process id.
    pub pid: i32,
    /// Its name.
    pub comm: String,
    /// Every thread.
    pub threads: Vec<Thread>,
    /// How long the snapshot took, µs.
    pub took_us: u64,
}

/// Names of calls a thread commonly sleeps in, beyond the traced set.
fn any_name(nr: u64) -> Option<&'static str> {
    if let Some(n) = names::name(nr) {
        return Some(n);
    }
    use libc::*;
    let more: &[(&str, i64)] = &[
        ("futex", SYS_futex),
        ("nanosleep", SYS_nanosleep),
        ("clock_nanosleep", SYS_clock_nanosleep),
        ("wait4", SYS_wait4),
        ("waitid", SYS_waitid),
        #[cfg(target_arch = "x86_64")]
        ("pause", SYS_pause),
        ("rt_sigsuspend", SYS_rt_sigsuspend),
        ("rt_sigtimedwait", SYS_rt_sigtimedwait),
        ("restart_syscall", SYS_restart_syscall),
        ("io_getevents", SYS_io_getevents),
        ("io_uring_enter", SYS_io_uring_enter),
        ("pread64", SYS_pread64),
        ("openat", SYS_openat),
        ("flock", SYS_flock),
        ("sched_yield", SYS_sched_yield),
    ];
    more.iter()
        .find(|(_, n)| *n >= 0 && *n as u64 == nr)
        .map(|(s, _)| *s)
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Descriptors in an epoll set: the `tfd:` lines of its fdinfo.
fn epoll_count(pid: i32, epfd: i32) -> Option<u32> {
    let s = read(&format!("/proc/{pid}/fdinfo/{epfd}"))?;
    Some(s.lines().filter(|l| l.starts_with("tfd:")).count() as u32)
}

/// Take the snapshot of `pid`.
pub fn take(pid: i32) -> Result<SnapshotReport> {
    let t0 = Instant::now();
    let status = read(&format!("/proc/{pid}/status"))
        .ok_or_else(|| Error::usage(format!("no process {pid} (check the PID with ps)")))?;
    if status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .is_some_and(|s| s.trim().starts_with('Z'))
    {
        return Err(Error::usage(format!(
            "process {pid} is a zombie: it has exited and has nothing to show"
        )));
    }
    let comm = read(&format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let pidfd = crate::sys::trace::pidfd_open(pid).ok();
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| Error::io(format!("list the threads of {pid}"), e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    tids.sort_unstable();
    let mut threads = Vec::new();
    for tid in tids {
        let base = format!("/proc/{pid}/task/{tid}");
        let Some(sc) = read(&format!("{base}/syscall")) else {
            // Not permitted (another user's process without root), or the thread is gone.
            if std::fs::metadata(&base).is_ok() {
                return Err(Error::usage(format!(
                    "not permitted to read the state of process {pid}: run as root or as its owner"
                )));
            }
            continue;
        };
        let tcomm = read(&format!("{base}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let state = read(&format!("{base}/stat"))
            .and_then(|s| {
                // pid (comm) S ...: the state follows the last ')'.
                s.rfind(')')
                    .and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_string))
            })
            .unwrap_or_default();
        let wchan = read(&format!("{base}/wchan"))
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty() && w != "0");
        let fields: Vec<&str> = sc.split_whitespace().collect();
        let nr = fields
            .first()
            .and_then(|f| f.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(|n| n as u64);
        let args: Vec<u64> = fields
            .iter()
            .skip(1)
            .take(6)
            .filter_map(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            .collect();
        let name = nr.and_then(any_name).map(str::to_string);
        let mut fd = None;
        let mut epoll_fds = None;
        let mut poll_fds = None;
        if let (Some(n), Some(a0)) = (name.as_deref(), args.first()) {
            let fd_no = *a0 as i32;
            match n {
                "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => {
                    epoll_fds = epoll_count(pid, fd_no);
                }
                "poll" | "ppoll" => poll_fds = args.get(1).copied(),
                "accept" | "accept4" | "read" | "recvfrom" | "recvmsg" | "recvmmsg" | "write"
                | "sendto" | "sendmsg" | "connect" | "readv" | "writev" => {
                    fd = pidfd.as_ref().and_then(|p| fds::resolve(p, fd_no));
                }
                _ => {}
            }
        }
        let summary = match nr {
            None => format!("thread {tid} ({tcomm}) running"),
            Some(_) => {
                let n = name
                    .clone()
                    .unwrap_or_else(|| format!("syscall {}", nr.unwrap_or(0)));
                let mut s = format!("thread {tid} ({tcomm}) blocked in {n}");
                if let Some(f) = &fd {
                    s.push_str(&format!(
                        " on fd {} {}{}{}",
                        f.fd,
                        f.local.as_deref().unwrap_or("?"),
                        f.remote
                            .as_deref()
                            .map(|r| format!(" → {r}"))
                            .unwrap_or_default(),
                        f.state
                            .as_deref()
                            .map(|st| format!(" {st}"))
                            .unwrap_or_default()
                    ));
                    if let (Some(q), Some(b)) = (f.accept_queue, f.backlog) {
                        s.push_str(&format!(" (accept queue {q}/{b})"));
                    }
                } else if let Some(e) = epoll_fds {
                    s.push_str(&format!(" on {e} fds"));
                } else if let Some(p) = poll_fds {
                    s.push_str(&format!(" on {p} fds"));
                }
                s
            }
        };
        threads.push(Thread {
            tid,
            comm: tcomm,
            state,
            syscall: name,
            nr,
            args: args.iter().map(|a| format!("{a:#x}")).collect(),
            wchan,
            fd,
            epoll_fds,
            poll_fds,
            summary,
        });
    }
    Ok(SnapshotReport {
        schema_version: SCHEMA_VERSION,
        command: "syscalls",
        mode: "snapshot",
        pid,
        comm,
        threads,
        took_us: t0.elapsed().as_micros() as u64,
    })
}

impl Report for SnapshotReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{} {} ({}), {} threads, snapshot in {}",
            st.bold("process"),
            self.pid,
            self.comm,
            self.threads.len(),
            crate::output::fmt_us(Some(self.took_us as f64))
        )?;
        let mut t = crate::output::table(&["tid", "comm", "state", "in", "on", "wchan"]);
        for th in &self.threads {
            let on = if let Some(f) = &th.fd {
                f.text()
            } else if let Some(e) = th.epoll_fds {
                format!("{e} fds (epoll)")
            } else if let Some(p) = th.poll_fds {
                format!("{p} fds (poll)")
            } else {
                String::new()
            };
            t.add_row(vec![
                th.tid.to_string(),
                th.comm.clone(),
                th.state.clone(),
                th.syscall.clone().unwrap_or_else(|| {
                    th.nr.map_or("(running)".into(), |n| format!("syscall {n}"))
                }),
                on,
                th.wchan.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{t}")?;
        for th in &self.threads {
            if th.syscall.is_some() && (th.fd.is_some() || th.epoll_fds.is_some()) {
                writeln!(out, "  {}", th.summary)?;
            }
        }
        Ok(())
    }
    fn exit_code(&self) -> i32 {
        crate::error::EXIT_OK
    }
}
