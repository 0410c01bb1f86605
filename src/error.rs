//! The errors that decide how flags-dl exits, and the exit codes themselves.
//!
//! Per-code failures are not errors here: they are outcomes, counted and reported, and
//! only decide between exit 0 and 1 at the end. These are the failures that stop a run
//! before or outside the downloads.

use std::process::ExitCode;

/// The documented exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every code was downloaded, not found, or skipped.
    Success = 0,
    /// Some code ended in error, or the run could not start.
    Failure = 1,
    /// The command line was wrong.
    Usage = 2,
    /// Ctrl-C (or SIGTERM) stopped the run.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Failures the caller must tell apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake on the command line (or in codes read from stdin) found after parsing.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached at all: one line instead of one error per code.
    #[error("cannot reach the {label} server at {url}: {reason}; {hint}")]
    Unreachable {
        label: String,
        url: String,
        reason: String,
        hint: String,
    },
    /// The proxy that the server's requests go through could not be reached at all.
    #[error("cannot reach {proxy} for the {label} server at {url}: {reason}; {hint}")]
    ProxyUnreachable {
        /// As [`crate::proxy::ProxyChoice::describe`] says it, password masked.
        proxy: String,
        label: String,
        url: String,
        reason: String,
        hint: String,
    },
    /// The server's certificate was refused: every code would fail the same way, so the
    /// run stops at the first, with one line.
    #[error("{0}")]
    Tls(String),
}

impl Error {
    /// The exit status this error ends the program with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Unreachable { .. } | Error::ProxyUnreachable { .. } | Error::Tls(_) => {
                Exit::Failure
            }
        }
    }
}
