//! The book's `flags2_sequential.py`: one code after another, one request at a time, over
//! one kept-alive connection. The baseline that shows what concurrency buys.
//!
//! It is the pool with a single worker rather than a loop on the calling thread, so that
//! Ctrl-C can end the run while a request is blocked, and retries wait the same way.

use super::{pool, Job, Outcome};

pub fn download_many(job: &Job, on_outcome: &mut dyn FnMut(Outcome)) -> anyhow::Result<()> {
    pool::download_many(job, 1, on_outcome)
}
