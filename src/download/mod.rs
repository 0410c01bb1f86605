//! Downloading flags: the three ways the book runs them ([`Mode`]), over one pipeline.
//!
//! Every mode has the book's shape: `get_flag` fetches and saves one code, `download_one`
//! retries it and returns how it ended, and [`download_many`] runs them all and hands each
//! [`Outcome`] to the caller as it finishes. One failing code never stops the others, and
//! every code yields exactly one outcome, even when the run is cancelled.
//!
//! The modes differ only in how they send requests and schedule them:
//!
//! - [`asyncio`]: tokio tasks and reqwest (the book's `flags2_asyncio.py`);
//! - [`blocking`] with [`pool`]: OS threads and ureq (`flags2_threadpool.py`, and
//!   `flags2_sequential.py` as a pool of one).
//!
//! What a response means ([`response`]), where its body goes ([`body`]), why a fetch
//! failed ([`failure`]), when to retry ([`retry`]) and how a code ended ([`outcome`]) are
//! decided once, for all of them.

pub mod asyncio;
pub mod blocking;
pub mod body;
pub mod failure;
pub mod job;
pub mod mode;
pub mod outcome;
pub mod pace;
pub mod pool;
pub mod record;
pub mod response;
pub mod retry;
pub mod trust;

pub use failure::ErrorKind;
pub use job::Job;
pub use mode::{requests_in_flight, Mode};
pub use outcome::{DownloadStatus, Outcome};

/// Runs every code of `job` in `mode`, calling `on_outcome` once per code, on the calling
/// thread, as each finishes.
pub fn download_many(
    mode: Mode,
    job: &Job,
    on_outcome: &mut dyn FnMut(Outcome),
) -> anyhow::Result<()> {
    match mode {
        Mode::Async => asyncio::run_tasks(job, on_outcome),
        // The book's thread pool: `max_req` OS threads, each on its own kept-alive
        // connection.
        Mode::Threads => pool::run_workers(job, job.max_req, on_outcome),
        // One code after another over one connection: the pool with a single worker
        // rather than a loop on the calling thread, so that Ctrl-C can end the run while
        // a request is blocked, and retries wait the same way.
        Mode::Sequential => pool::run_workers(job, 1, on_outcome),
    }
}
