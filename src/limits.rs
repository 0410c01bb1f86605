//! The open-file limit: raise it so that `-m 1000` never fails with "too many open files",
//! and, where it cannot be raised far enough, say how much concurrency fits.

/// File descriptors a run needs besides its connections: stdio, the runtime's epoll and
/// wake-up pipes, the output folder, a file being saved, and some slack.
const RESERVED: u64 = 64;

/// Raises the soft open-file limit as far as the hard limit allows; returns the new soft
/// limit (or `None` where the platform has no such limit or refuses to tell).
pub fn raise_open_files() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// The largest `max_req` that fits in `limit` descriptors when each request in flight
/// takes `per_request` of them (2 when the embedded server, in this same process, holds
/// the other end of every connection).
pub fn fitting_max_req(max_req: usize, limit: u64, per_request: u64) -> usize {
    let room = limit.saturating_sub(RESERVED) / per_request.max(1);
    max_req.min(room.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_lowered_only_when_descriptors_run_short() {
        assert_eq!(fitting_max_req(1000, 1_048_576, 2), 1000);
        assert_eq!(fitting_max_req(1000, 1024, 2), 480);
        assert_eq!(fitting_max_req(1000, 10, 1), 1);
    }
}
