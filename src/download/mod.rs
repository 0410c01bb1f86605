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
//! failed ([`failure`]), what follows each attempt ([`attempts`]), how long a retry waits
//! ([`retry`]) and how a code ended ([`outcome`]) are decided once, for all of them. So is
//! how fast to go ([`pace`]): how many requests are in flight at once (at most `-m`, fewer
//! while the server refuses them) and how many new connections open at once; every mode
//! asks it before each request and connection.
//!
//! Around them: a run's settings and handles ([`job`]), complete when built; the modes and
//! the one rule for `-m` ([`mode`]); the certificate authorities trusted ([`trust`]);
//! every attempt kept for the pictures ([`record`]); and where each exchange's time went
//! ([`phases`]: queued, dns, connect, tls, wait, receive, save), measured the same way in
//! every mode, by `response`'s [`FlagFetch`](response::FlagFetch) and `attempts` for both
//! clients, and by each client's connector for the connections it opens ([`timed`]).

pub mod asyncio;
pub mod attempts;
pub mod blocking;
pub mod body;
pub mod failure;
pub mod job;
pub mod mode;
pub mod outcome;
pub mod pace;
pub mod phases;
pub mod pool;
pub mod record;
pub mod response;
pub mod retry;
pub mod timed;
pub mod trust;

pub use failure::ErrorKind;
pub use job::{Job, Parts, Settings};
pub use mode::{requests_in_flight, Mode};
pub use outcome::{DownloadStatus, Outcome};
pub use pace::{PaceMode, ServerWait};

/// What a run tells its caller as it goes.
#[derive(Debug)]
pub enum Event {
    /// A code finished: once per code.
    Outcome(Outcome),
    /// A remark on the pace (it was lowered, and why), for `-v`.
    Note(String),
    /// The server asked the run to wait, or the run gave up waiting: shown as it begins.
    Wait(ServerWait),
}

/// Runs every code of `job` in `mode`, calling `on_event` on the calling thread: once per
/// code as each finishes, and for what the pace has to say as it happens.
pub fn download_many(mode: Mode, job: &Job, on_event: &mut dyn FnMut(Event)) -> anyhow::Result<()> {
    // A handshake with this machine takes microseconds: one that takes milliseconds was
    // dropped (see `pace::opening`). Not so through a proxy, which may be far.
    let direct =
        url::Url::parse(&job.base_url).is_ok_and(|url| job.proxies.for_url(&url).is_none());
    let loopback = direct && crate::address::is_loopback(&job.base_url);
    job.pace
        .set_route(loopback, job.base_url.starts_with("https:"));
    job.exchanges.restart();
    match mode {
        Mode::Async => asyncio::run_tasks(job, on_event),
        // The book's thread pool: `max_req` OS threads, each on its own kept-alive
        // connection.
        Mode::Threads => pool::run_workers(job, job.max_req, on_event),
        // One code after another over one connection: the pool with a single worker
        // rather than a loop on the calling thread, so that Ctrl-C can end the run while
        // a request is blocked, and retries wait the same way.
        Mode::Sequential => pool::run_workers(job, 1, on_event),
    }
}

/// Hands the pace's news to `on_event`: its `-v` notes and the server's waits.
fn tell_news(job: &Job, on_event: &mut dyn FnMut(Event)) {
    let (notes, waits) = job.pace.take_news();
    notes.into_iter().map(Event::Note).for_each(&mut *on_event);
    waits.into_iter().map(Event::Wait).for_each(on_event);
}
