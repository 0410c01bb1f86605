//! A table of cases run as one test: each case to its end whatever the others did, then
//! one failure that names those that failed (each has already said why, as it failed).
//! `CASE=<part of a name>` runs only the cases whose names hold it.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `check` on every case whose `name` holds `$CASE` (all of them without it), and
/// fails naming the cases that failed.
pub fn check_each<T>(
    cases: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> String,
    check: impl Fn(&T),
) {
    let only = std::env::var("CASE").unwrap_or_default();
    let mut failed = Vec::new();
    for case in cases {
        let name = name(&case);
        if name.contains(&only) && catch_unwind(AssertUnwindSafe(|| check(&case))).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "{} failed: {failed:#?}", failed.len());
}
