//! The open-file limit: raise it so that `-m 1000` never fails with "too many open files".
//! How much concurrency fits under it is `download::requests_in_flight`'s to say.

/// Raises the soft open-file limit as far as the hard limit allows; returns the new soft
/// limit (or `None` where the platform has no such limit or refuses to tell).
pub fn raise_open_files() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}
