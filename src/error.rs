//! One error type for the whole crate. Every variant says what failed on what and, where it
//! helps, what to do next; [`Error::exit_code`] maps it to the documented exit code.
//!
//! A negative finding (a closed port, a filtered port) is *not* an error: it is part of a
//! report, and the report decides exit code 1.

use std::io;

/// Exit code: the command ran and everything checked out.
pub const EXIT_OK: i32 = 0;
/// Exit code: the command ran, and the target failed the check (closed, filtered, unreachable).
pub const EXIT_FINDING: i32 = 1;
/// Exit code: bad usage, or the measurement itself could not be made.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: a privilege (capability) the command needs is missing.
pub const EXIT_PRIVILEGE: i32 = 77;

/// Convenience alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that stops a command from producing its report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something malformed (bad host, port, interval, interface).
    #[error("{0}")]
    Usage(String),
    /// A capability is missing and no unprivileged fallback exists.
    #[error(
        "{what} needs {cap}: run as root or `setcap cap_net_raw,cap_net_admin+ep $(command -v netlab)`"
    )]
    Privilege {
        /// What was attempted (e.g. "netlab tcp handshake --syn").
        what: String,
        /// The capability name (e.g. "CAP_NET_RAW").
        cap: &'static str,
    },
    /// The measurement could not be made (resolution failed, socket error, timeout of set-up).
    #[error("{0}")]
    Measure(String),
    /// An I/O error with the operation and object it concerned.
    #[error("{context}: {source}")]
    Io {
        /// "open AF_PACKET socket on lo", "write /tmp/x.pcap", ...
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Privilege { .. } => EXIT_PRIVILEGE,
            Error::Io { source, .. } if is_permission(source) => EXIT_PRIVILEGE,
            _ => EXIT_USAGE,
        }
    }

    /// Build a usage error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// Build a could-not-measure error.
    pub fn measure(msg: impl Into<String>) -> Self {
        Error::Measure(msg.into())
    }

    /// Wrap an I/O error with its context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error is an EPIPE on output (a closed stdout pipe).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// Attach context to `io::Result`s.
pub trait IoContext<T> {
    /// Turn an `io::Error` into [`Error::Io`] with the given context.
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::io("system call", io::Error::from(e))
    }
}
