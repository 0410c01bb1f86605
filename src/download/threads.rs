//! The book's `flags2_threadpool.py`: a pool of `max_req` OS threads, each taking the next
//! code and doing blocking I/O on its own kept-alive connection (see [`super::pool`]).

use super::{pool, Job, Outcome};

pub fn download_many(job: &Job, on_outcome: &mut dyn FnMut(Outcome)) -> anyhow::Result<()> {
    pool::download_many(job, job.max_req, on_outcome)
}
