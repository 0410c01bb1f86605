//! The open-file limit: raise it so that `-m 1000` never fails with "too many open files".
//! How much concurrency fits under it is `download::requests_in_flight`'s to say.
//!
//! Through rustix, the crate's one system-call layer (it also opens the files that must
//! not follow a link, in `save` and `files`).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The most macOS takes as a soft limit (its `OPEN_MAX`) where the hard one is unlimited
/// or above what a process may open; Linux never needs it (its hard limit is finite).
const OPEN_MAX: u64 = 10_240;

/// Raises the soft open-file limit as far as the hard limit allows; returns the soft
/// limit now in force (the old one if it could not be raised), or `None` where there is
/// none.
pub fn raise_open_files() -> Option<u64> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let soft = current?;
    let hard = maximum.unwrap_or(u64::MAX);
    // The hard limit first; where the system refuses it (macOS caps the soft limit below
    // an unlimited hard one), its OPEN_MAX.
    for target in [hard, hard.min(OPEN_MAX)] {
        if soft >= target {
            return Some(soft);
        }
        let raised = Rlimit {
            current: Some(target),
            maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(target);
        }
    }
    Some(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one_and_reported() {
        let before = getrlimit(Resource::Nofile);
        let reported = raise_open_files();
        let after = getrlimit(Resource::Nofile);
        assert_eq!(reported, after.current, "it reports the limit in force");
        assert_eq!(
            after.maximum, before.maximum,
            "the hard limit is left alone"
        );
        if let (Some(old), Some(new)) = (before.current, after.current) {
            assert!(new >= old, "lowered from {old} to {new}");
        }
        if cfg!(target_os = "linux") {
            assert_eq!(after.current, after.maximum, "raised as far as it goes");
        }
    }
}
