//! The ptrace loop (the edge module): spawn a command behind a seccomp filter that stops
//! only the selected calls, or PTRACE_SEIZE every thread of a running process; follow every
//! thread and child; hand each finished call to the caller; end cleanly (spawn: the command
//! is ended; attach: every thread interrupted and detached, the process keeps running).

use std::collections::HashMap;
use std::ffi::CString;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::sys::trace::{self, Stop};
use crate::syscalls::decode::{self, Mem};
use crate::syscalls::fds::{FdInfo, Fds};
use crate::syscalls::names;

/// What to trace.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start this command under trace.
    Spawn(Vec<String>),
    /// Attach to every thread of this process.
    Attach(i32),
}

/// How.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// Syscall numbers to show.
    pub nrs: Vec<u64>,
    /// Stop at exit too (return values, output arguments, durations).
    pub results: bool,
    /// Resolve descriptors to their sockets.
    pub annotate: bool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Only counting (-c): arguments are not decoded.
    pub count_only: bool,
}

/// One finished (or, without results, entered) call.
#[derive(Debug, Clone)]
pub struct Call {
    /// Wall clock at entry, seconds since the epoch.
    pub ts: f64,
    /// Process (thread group) id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Syscall name.
    pub syscall: &'static str,
    /// Decoded arguments.
    pub args: Vec<decode::Arg>,
    /// The descriptor the call is about, resolved (at entry).
    pub fd: Option<FdInfo>,
    /// The descriptor it returned, resolved (socket, accept ...).
    pub ret_fd: Option<FdInfo>,
    /// Return value (null without results).
    pub ret: Option<i64>,
    /// errno name when it failed.
    pub errno: Option<String>,
    /// Entry to exit, µs (tracing overhead included, as with strace -T).
    pub dur_us: Option<u64>,
}

/// How the trace ended.
#[derive(Debug, Clone, Default)]
pub struct Ended {
    /// Threads traced at some point.
    pub threads: usize,
    /// Processes traced at some point.
    pub processes: usize,
    /// Attach mode: every thread was detached.
    pub detached: bool,
    /// Spawn mode: the command's exit status (or -signal).
    pub exit_status: Option<i32>,
    /// Why it ended: exited, interrupted, duration.
    pub reason: &'static str,
}

struct Pending {
    nr: u64,
    args: [u64; 6],
    ts: f64,
    at: Instant,
    fd: Option<FdInfo>,
}

struct Task {
    tgid: i32,
    pending: Option<Pending>,
    /// Auto-attached and not stopped yet: its first SIGSTOP is ours, not the program's.
    fresh: bool,
}

/// process_vm_readv on one tracee.
struct Remote(Pid);

impl Mem for Remote {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if len == 0 {
            return Some(Vec::new());
        }
        let mut buf = vec![0u8; len];
        let remote = [nix::sys::uio::RemoteIoVec {
            base: addr as usize,
            len,
        }];
        let n = nix::sys::uio::process_vm_readv(
            self.0,
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &remote,
        )
        .ok()?;
        (n == len).then_some(buf)
    }
}

fn tgid_of(tid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid)
}

fn now_ts() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An accepted connection described without asking the kernel: the listener's own address
/// (when it is a specific one), the peer accept4 wrote back, ESTABLISHED. Saves a
/// pidfd_getfd and four socket calls per connection while the server waits.
fn accepted(
    name: &str,
    fd: i32,
    listener: Option<&FdInfo>,
    args: &[decode::Arg],
) -> Option<FdInfo> {
    if !matches!(name, "accept" | "accept4") {
        return None;
    }
    let l = listener?;
    let local = l.local.as_deref()?;
    if local.starts_with("0.0.0.0:") || local.starts_with("[::]:") || !l.kind.starts_with("tcp") {
        return None;
    }
    let peer = &args.get(1)?.json;
    let ip = peer["addr"].as_str()?;
    let port = peer["port"].as_u64()?;
    let remote = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    Some(FdInfo {
        fd,
        kind: l.kind.clone(),
        local: Some(local.to_string()),
        remote: Some(remote),
        state: Some("ESTABLISHED".into()),
        accept_queue: None,
        backlog: None,
    })
}

/// The trace.
pub struct Tracer<'a> {
    opts: TraceOptions,
    spawn: bool,
    leader: Pid,
    tasks: HashMap<i32, Task>,
    fds: Fds,
    seen_threads: usize,
    seen_procs: std::collections::HashSet<i32>,
    generic: Vec<u64>,
    sink: &'a mut dyn FnMut(Call),
}

fn opts_common() -> Options {
    Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACEEXEC
}

/// Start tracing. `sink` gets every call as it finishes.
pub fn run(target: &Target, opts: TraceOptions, sink: &mut dyn FnMut(Call)) -> Result<Ended> {
    let generic: Vec<u64> = names::FD_GENERIC
        .iter()
        .filter_map(|n| names::number(n))
        .collect();
    let (leader, spawn) = match target {
        Target::Spawn(argv) => (spawn(argv, &opts.nrs)?, true),
        Target::Attach(pid) => (attach(*pid)?, false),
    };
    let mut t = Tracer {
        opts,
        spawn,
        leader,
        tasks: HashMap::new(),
        fds: Fds::default(),
        seen_threads: 0,
        seen_procs: Default::default(),
        generic,
        sink,
    };
    if spawn {
        t.add(leader.as_raw(), false);
    } else {
        for tid in threads(leader.as_raw()) {
            t.add(tid, false);
        }
    }
    t.main_loop()
}

fn threads(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

fn spawn(argv: &[String], nrs: &[u64]) -> Result<Pid> {
    let cargs: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::usage("the command has a NUL byte in an argument"))?;
    let filter = trace::seccomp_trace_filter(nrs);
    let (child, spawned) = trace::spawn_traced(&cargs, &filter)
        .map_err(|e| Error::io(format!("start {}", argv[0]), e))?;
    // The child stops itself before installing the filter: set the options first, so the
    // filter's stops reach us and the command dies with us.
    match waitpid(child, Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => {}
        other => {
            return Err(Error::measure(format!(
                "start {}: the child did not stop as expected ({other:?})",
                argv[0]
            )));
        }
    }
    ptrace::setoptions(
        child,
        opts_common() | Options::PTRACE_O_TRACESECCOMP | Options::PTRACE_O_EXITKILL,
    )
    .map_err(|e| Error::io("ptrace options", e.into()))?;
    ptrace::cont(child, None).map_err(|e| Error::io("ptrace continue", e.into()))?;
    if let Some((step, e)) = trace::exec_failure(spawned) {
        let _ = waitpid(child, Some(WaitPidFlag::__WALL));
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        let _ = waitpid(child, Some(WaitPidFlag::__WALL));
        return Err(match (step, e.raw_os_error()) {
            (4, Some(libc::ENOENT)) => Error::usage(format!(
                "command not found: {} (give a program on PATH or a path; a script's #! interpreter must exist too)",
                argv[0]
            )),
            (4, Some(libc::EACCES)) => {
                Error::usage(format!("cannot execute {}: permission denied", argv[0]))
            }
            (4, _) => Error::usage(format!("cannot execute {}: {e}", argv[0])),
            _ => Error::measure(format!(
                "could not set up tracing of {} (step {step}): {e}",
                argv[0]
            )),
        });
    }
    Ok(child)
}

fn attach(pid: i32) -> Result<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| Error::usage(format!("no process {pid} (check the PID with ps)")))?;
    let state = status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .map(str::trim)
        .unwrap_or("");
    if state.starts_with('Z') {
        return Err(Error::usage(format!(
            "process {pid} is a zombie: it has exited and has nothing to trace"
        )));
    }
    if pid == std::process::id() as i32 {
        return Err(Error::usage("netlab cannot trace itself"));
    }
    let tids = threads(pid);
    let mut done = Vec::new();
    for tid in tids {
        let p = Pid::from_raw(tid);
        match ptrace::seize(p, opts_common()) {
            Ok(()) => {
                let _ = ptrace::interrupt(p);
                done.push(p);
            }
            Err(Errno::ESRCH) => {} // the thread just exited
            Err(e) => {
                // Undo: nothing may stay traced.
                for d in &done {
                    detach_now(*d);
                }
                return Err(match e {
                    Errno::EPERM => Error::usage(format!(
                        "not permitted to trace process {pid}: run as root or as its owner (with kernel.yama.ptrace_scope 0), and not while another tracer holds it"
                    )),
                    other => Error::io(format!("attach to {pid}"), other.into()),
                });
            }
        }
    }
    if done.is_empty() {
        return Err(Error::usage(format!(
            "no process {pid} (check the PID with ps)"
        )));
    }
    Ok(Pid::from_raw(pid))
}

/// Interrupt `p`, wait for its stop, detach (used when attaching fails half-way).
fn detach_now(p: Pid) {
    let _ = ptrace::interrupt(p);
    for _ in 0..100 {
        match waitpid(p, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(1)),
            Ok(WaitStatus::Stopped(_, sig)) => {
                let _ = ptrace::detach(p, Some(sig).filter(|s| *s != Signal::SIGSTOP));
                return;
            }
            Ok(_) => {
                let _ = ptrace::detach(p, None);
                return;
            }
            Err(_) => return,
        }
    }
}

impl Tracer<'_> {
    fn add(&mut self, tid: i32, fresh: bool) {
        if !self.tasks.contains_key(&tid) {
            let tgid = tgid_of(tid);
            self.seen_threads += 1;
            self.seen_procs.insert(tgid);
            self.tasks.insert(
                tid,
                Task {
                    tgid,
                    pending: None,
                    fresh,
                },
            );
        }
    }

    /// Resume a stopped tracee: to the next syscall stop (attach mode, or to see this
    /// call's exit), or just on (spawn mode: the filter stops the next call).
    fn resume(&self, p: Pid, sig: Option<Signal>, want_exit: bool) {
        let r = if !self.spawn || want_exit {
            ptrace::syscall(p, sig)
        } else {
            ptrace::cont(p, sig)
        };
        let _ = r;
    }

    fn main_loop(&mut self) -> Result<Ended> {
        let started = Instant::now();
        let mut ending: Option<&'static str> = None;
        let mut end_sent = None::<Instant>;
        let mut exit_status = None;
        let main = nix::sys::pthread::pthread_self();
        // --duration: wake this thread's blocking waitpid with a signal it handles
        // (catch_interrupts), checked for the duration before Ctrl-C below.
        if let Some(d) = self.opts.duration {
            std::thread::spawn(move || {
                std::thread::sleep(d);
                let _ = nix::sys::pthread::pthread_kill(main, Signal::SIGTERM);
            });
        }
        loop {
            if self.tasks.is_empty() {
                break;
            }
            if ending.is_none() {
                if self.opts.duration.is_some_and(|d| started.elapsed() >= d) {
                    ending = Some("duration");
                } else if crate::sys::interrupted() {
                    ending = Some("interrupted");
                }
                if ending.is_some() {
                    self.begin_end();
                    end_sent = Some(Instant::now());
                }
            } else if self.spawn && end_sent.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                // The command ignored SIGTERM.
                for tid in self.tasks.keys() {
                    let _ = nix::sys::signal::kill(Pid::from_raw(*tid), Signal::SIGKILL);
                }
                end_sent = Some(Instant::now());
            }
            let flags = if ending.is_some() {
                WaitPidFlag::__WALL | WaitPidFlag::WNOHANG
            } else {
                WaitPidFlag::__WALL
            };
            let st = match waitpid(None::<Pid>, Some(flags)) {
                Ok(WaitStatus::StillAlive) => {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                Ok(s) => s,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => break,
                Err(e) => return Err(Error::io("waitpid", e.into())),
            };
            match st {
                WaitStatus::Exited(p, code) => {
                    self.gone(p);
                    if p == self.leader {
                        exit_status = Some(code);
                    }
                }
                WaitStatus::Signaled(p, sig, _) => {
                    self.gone(p);
                    if p == self.leader {
                        exit_status = Some(-(sig as i32));
                    }
                }
                WaitStatus::PtraceSyscall(p) => {
                    if ending.is_some() && !self.spawn {
                        self.detach(p, None);
                        continue;
                    }
                    self.syscall_stop(p);
                }
                WaitStatus::PtraceEvent(p, sig, ev) => {
                    self.add(p.as_raw(), false);
                    if let Some(t) = self.tasks.get_mut(&p.as_raw()) {
                        t.fresh = false;
                    }
                    if ending.is_some() && !self.spawn {
                        self.detach(p, None);
                        continue;
                    }
                    if ev == Event::PTRACE_EVENT_SECCOMP as i32 {
                        self.syscall_stop(p);
                    } else if ev == Event::PTRACE_EVENT_CLONE as i32
                        || ev == Event::PTRACE_EVENT_FORK as i32
                        || ev == Event::PTRACE_EVENT_VFORK as i32
                    {
                        if let Ok(child) = ptrace::getevent(p) {
                            self.add(child as i32, true);
                        }
                        self.resume(p, None, false);
                    } else if ev == Event::PTRACE_EVENT_EXEC as i32 {
                        // The exec'ing thread took over the leader's id; others are gone.
                        let tgid = tgid_of(p.as_raw());
                        self.fds.gone(tgid);
                        self.resume(p, None, false);
                    } else if ev == libc::PTRACE_EVENT_STOP {
                        // A seized thread's interrupt / group stop, or a new thread's start.
                        let _ = sig;
                        self.resume(p, None, false);
                    } else {
                        self.resume(p, None, false);
                    }
                }
                WaitStatus::Stopped(p, sig) => {
                    let known = self.tasks.contains_key(&p.as_raw());
                    self.add(p.as_raw(), true);
                    let fresh = self
                        .tasks
                        .get_mut(&p.as_raw())
                        .is_some_and(|t| std::mem::take(&mut t.fresh));
                    if ending.is_some() && !self.spawn {
                        let keep = (sig != Signal::SIGSTOP).then_some(sig);
                        self.detach(p, keep);
                        continue;
                    }
                    // A new thread's first stop is the kernel's SIGSTOP: swallow it; other
                    // signals are the program's and go through.
                    let pass = if sig == Signal::SIGSTOP && (!known || fresh) {
                        None
                    } else {
                        Some(sig)
                    };
                    self.resume(p, pass, false);
                }
                _ => {}
            }
        }
        Ok(Ended {
            threads: self.seen_threads,
            processes: self.seen_procs.len(),
            // Attach mode: every thread detached, unless the process ended by itself.
            detached: !self.spawn && ending.is_some(),
            exit_status,
            reason: ending.unwrap_or("exited"),
        })
    }

    fn gone(&mut self, p: Pid) {
        if let Some(t) = self.tasks.remove(&p.as_raw())
            && !self.tasks.values().any(|o| o.tgid == t.tgid)
        {
            self.fds.gone(t.tgid);
        }
    }

    fn detach(&mut self, p: Pid, sig: Option<Signal>) {
        let _ = ptrace::detach(p, sig);
        self.tasks.remove(&p.as_raw());
    }

    /// Ctrl-C or the duration: attach mode interrupts every thread (each is detached at its
    /// next stop); spawn mode ends the command (its filter would fail its calls once we are
    /// gone: EXITKILL would kill it anyway).
    fn begin_end(&mut self) {
        for tid in self.tasks.keys() {
            let p = Pid::from_raw(*tid);
            if self.spawn {
                let _ = nix::sys::signal::kill(p, Signal::SIGTERM);
            } else {
                let _ = ptrace::interrupt(p);
            }
        }
    }

    fn syscall_stop(&mut self, p: Pid) {
        let tid = p.as_raw();
        let stop = trace::syscall_stop(p).unwrap_or(Stop::Other);
        let tgid = self.tasks.get(&tid).map_or(tid, |t| t.tgid);
        match stop {
            Stop::Entry { nr, args } => {
                if self.opts.nrs.binary_search(&nr).is_err() {
                    self.resume(p, None, false);
                    return;
                }
                let fd_no = decode::fd_of(nr, &args);
                // read / write / close ...: only on sockets.
                if self.generic.contains(&nr)
                    && !fd_no.is_some_and(|fd| self.fds.is_socket(tgid, fd))
                {
                    self.resume(p, None, false);
                    return;
                }
                let fd = if self.opts.annotate {
                    fd_no.and_then(|fd| self.fds.lookup(tgid, fd))
                } else {
                    None
                };
                let pending = Pending {
                    nr,
                    args,
                    ts: now_ts(),
                    at: Instant::now(),
                    fd,
                };
                if self.opts.results {
                    if let Some(t) = self.tasks.get_mut(&tid) {
                        t.pending = Some(pending);
                    }
                    self.resume(p, None, true);
                } else {
                    self.emit(p, tgid, pending, None);
                    self.resume(p, None, false);
                }
            }
            Stop::Exit { ret, .. } => {
                let pending = self.tasks.get_mut(&tid).and_then(|t| t.pending.take());
                if let Some(pd) = pending {
                    self.emit(p, tgid, pd, Some(ret));
                }
                self.resume(p, None, false);
            }
            Stop::Other => self.resume(p, None, false),
        }
    }

    fn emit(&mut self, p: Pid, tgid: i32, pd: Pending, ret: Option<i64>) {
        let mem = Remote(p);
        let name = names::name(pd.nr).unwrap_or("?");
        // Counting only (-c): arguments are decoded only where the counts need them (an
        // accepted peer; a datagram's address when the socket has no peer).
        let needs_args = !self.opts.count_only
            || matches!(name, "accept" | "accept4")
            || (matches!(name, "sendto" | "recvfrom")
                && pd.fd.as_ref().is_none_or(|f| f.remote.is_none()));
        let args = if needs_args {
            decode::decode(pd.nr, &pd.args, ret, &mem)
        } else {
            Vec::new()
        };
        if let Some(fd) = decode::fd_of(pd.nr, &pd.args)
            && name == "close"
            && ret.is_none_or(|r| r == 0)
        {
            self.fds.forget(tgid, fd);
        }
        let mut ret_fd = None;
        if let Some(r) = ret.filter(|r| *r >= 0)
            && decode::returns_fd(pd.nr)
        {
            self.fds.forget(tgid, r as i32);
            if self.opts.annotate {
                ret_fd = accepted(name, r as i32, pd.fd.as_ref(), &args)
                    .inspect(|i| self.fds.remember(tgid, i.clone()))
                    .or_else(|| self.fds.resolve(tgid, r as i32));
            }
        }
        let call_fd = decode::fd_of(pd.nr, &pd.args);
        // What changes the socket behind a descriptor: show it as it is now, and resolve it
        // afresh next time.
        let changed = matches!(name, "connect" | "bind" | "listen" | "shutdown")
            || (matches!(name, "read" | "recvfrom" | "recvmsg" | "readv") && ret == Some(0))
            || matches!(
                ret,
                Some(r) if r == -(libc::ECONNRESET as i64) || r == -(libc::EPIPE as i64)
            );
        let fd = match call_fd {
            Some(f) if changed && ret.is_some() => {
                self.fds.forget(tgid, f);
                if self.opts.annotate {
                    self.fds.resolve(tgid, f).or(pd.fd)
                } else {
                    pd.fd
                }
            }
            _ => pd.fd,
        };
        let errno = ret
            .filter(|r| (-4095..0).contains(r))
            .map(|r| decode::errno_name(-r));
        (self.sink)(Call {
            ts: pd.ts,
            pid: tgid,
            tid: p.as_raw(),
            syscall: name,
            args,
            fd,
            ret_fd,
            ret,
            errno,
            dur_us: ret.map(|_| pd.at.elapsed().as_micros() as u64),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listener(local: &str) -> FdInfo {
        FdInfo {
            fd: 3,
            kind: "tcp".into(),
            local: Some(local.into()),
            remote: None,
            state: Some("LISTEN".into()),
            accept_queue: Some(0),
            backlog: Some(128),
        }
    }

    #[test]
    fn accepted_connection_from_listener_and_peer() {
        let peer = decode::Arg {
            json: json!({"family": "AF_INET", "addr": "127.0.0.9", "port": 40000}),
            text: String::new(),
        };
        let args = vec![
            decode::Arg {
                json: json!(3),
                text: "3".into(),
            },
            peer,
        ];
        let a = accepted("accept4", 7, Some(&listener("127.0.0.1:8080")), &args).unwrap();
        assert_eq!(a.fd, 7);
        assert_eq!(a.local.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(a.remote.as_deref(), Some("127.0.0.9:40000"));
        assert_eq!(a.state.as_deref(), Some("ESTABLISHED"));
        // A wildcard listener: the local address is not known without asking.
        assert!(accepted("accept4", 7, Some(&listener("0.0.0.0:8080")), &args).is_none());
        // Not an accept, or no peer written back.
        assert!(accepted("connect", 7, Some(&listener("127.0.0.1:8080")), &args).is_none());
        assert!(accepted("accept4", 7, Some(&listener("127.0.0.1:8080")), &args[..1]).is_none());
    }
}
