//! The book's three ways to run a download ([`Mode`]), and the one rule for how many
//! requests a run may have in flight ([`requests_in_flight`]), which the download command
//! and the bench both follow.

use std::fmt;

/// The book's `MAX_CONCUR_REQ`: the most requests in flight any mode allows.
pub const MAX_IN_FLIGHT: usize = 1000;

/// How requests are scheduled: the book's three scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One tokio task per code, the pace admitting requests in flight (flags2_asyncio.py).
    Async,
    /// A pool of OS threads doing blocking I/O (flags2_threadpool.py).
    Threads,
    /// One request at a time over one kept-alive connection (flags2_sequential.py).
    Sequential,
}

impl Mode {
    /// The book's `DEFAULT_CONCUR_REQ` for this mode.
    pub fn default_max_req(self) -> usize {
        match self {
            Mode::Async => 5,
            Mode::Threads => 30,
            Mode::Sequential => 1,
        }
    }

    /// The most requests in flight this mode allows.
    fn cap(self) -> usize {
        match self {
            Mode::Async | Mode::Threads => MAX_IN_FLIGHT,
            Mode::Sequential => 1,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Async => "async",
            Mode::Threads => "threads",
            Mode::Sequential => "sequential",
        })
    }
}

/// File descriptors a run needs besides its connections: stdio, the runtime's epoll and
/// wake-up pipes, the output folder, a file being saved, and some slack.
const RESERVED_FDS: u64 = 64;

/// How many requests a run may have in flight, and why it is fewer than asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightLimit {
    pub used: usize,
    /// The open-file limit lowered it from this many (the limit is the caller's to name).
    pub lowered_from: Option<usize>,
}

/// The one rule for requests in flight: `asked` (or the mode's default), capped by the
/// mode (1000, or 1 for sequential), by the number of codes (more cannot be in flight),
/// and by the open-file limit `fd_limit` when known. With the embedded server in this
/// process, each connection costs two descriptors, one for each end.
pub fn requests_in_flight(
    mode: Mode,
    asked: Option<usize>,
    codes: usize,
    fd_limit: Option<u64>,
    embedded: bool,
) -> InFlightLimit {
    let wanted = asked
        .unwrap_or(mode.default_max_req())
        .min(mode.cap())
        .min(codes)
        .max(1);
    let per_request = if embedded { 2 } else { 1 };
    let room = fd_limit.map_or(usize::MAX, |limit| {
        (limit.saturating_sub(RESERVED_FDS) / per_request).max(1) as usize
    });
    InFlightLimit {
        used: wanted.min(room),
        lowered_from: (room < wanted).then_some(wanted),
    }
}

/// Parses `-m`: a whole number of requests, 1 or more. Any larger number means "as many
/// as allowed": [`requests_in_flight`] caps it, as the book does.
pub fn parse_max_req(arg: &str) -> Result<usize, String> {
    let digits = arg.trim();
    let whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if whole && digits.bytes().any(|b| b != b'0') {
        return Ok(digits.parse().unwrap_or(usize::MAX));
    }
    Err(format!(
        "'{arg}' is not a number of requests: give a whole number from 1 (at most {MAX_IN_FLIGHT} are used)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_capped_by_mode_codes_and_open_files() {
        let used =
            |mode, asked, fds, embedded| requests_in_flight(mode, asked, 20, fds, embedded).used;
        assert_eq!(used(Mode::Async, None, None, false), 5);
        assert_eq!(used(Mode::Threads, None, None, false), 20);
        assert_eq!(used(Mode::Async, Some(4), None, false), 4);
        assert_eq!(used(Mode::Async, Some(usize::MAX), None, false), 20);
        assert_eq!(used(Mode::Sequential, Some(64), None, false), 1);
        let all = |asked, fds, embedded| {
            requests_in_flight(Mode::Async, Some(asked), 5000, fds, embedded)
        };
        assert_eq!(all(5000, None, false).used, 1000);
        assert_eq!(
            all(1000, Some(1024), true),
            InFlightLimit {
                used: 480,
                lowered_from: Some(1000)
            }
        );
        assert_eq!(all(1000, Some(1024), false).used, 960);
        assert_eq!(all(1000, Some(10), false).used, 1);
        assert_eq!(all(1000, Some(1_048_576), true).lowered_from, None);
    }

    #[test]
    fn max_req_is_a_whole_number_from_one() {
        assert_eq!(parse_max_req("30"), Ok(30));
        assert_eq!(parse_max_req("99999999999999999999999"), Ok(usize::MAX));
        for bad in ["0", "-1", "1.5", "", "ten"] {
            assert!(parse_max_req(bad).is_err(), "{bad:?}");
        }
    }
}
