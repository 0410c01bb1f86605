//! The design the project is built around (the book's `flags2_asyncio.py`): one tokio task
//! per code, a semaphore that caps the requests in flight, and a wait that gathers every
//! outcome as it finishes.
//!
//! The runtime is built here, explicitly, rather than by `#[tokio::main]`: the blocking
//! modes must run outside any runtime, and the embedded server has a runtime of its own.

use super::{check_gif, conclude, describe_io, too_large, FetchError, Fetched, Job, Outcome};
use crate::site::flag_url;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Fetches one flag: 200 gives the checked image, 404 gives `NotFound`, anything else an
/// error with its reason.
pub async fn get_flag(
    client: &reqwest::Client,
    job: &Job,
    cc: &str,
) -> Result<Fetched, FetchError> {
    let describe = |e: reqwest::Error| describe_reqwest(&e, job);
    let mut response = client
        .get(flag_url(&job.base_url, cc))
        .send()
        .await
        .map_err(describe)?;
    match response.status().as_u16() {
        200 => {}
        404 => return Ok(Fetched::NotFound),
        other => return Err(FetchError::status(other)),
    }
    if response
        .content_length()
        .is_some_and(|len| len > job.max_size)
    {
        return Err(too_large(job.max_size));
    }
    let capacity = response
        .content_length()
        .unwrap_or(16 * 1024)
        .min(job.max_size);
    let mut body = Vec::with_capacity(capacity as usize);
    // Chunk by chunk, so that an endless body is dropped at the limit, not buffered.
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if (body.len() + chunk.len()) as u64 > job.max_size {
            return Err(too_large(job.max_size));
        }
        body.extend_from_slice(&chunk);
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    check_gif(&body, content_type)?;
    Ok(Fetched::Image(body))
}

/// Fetches and saves one code, holding a permit of `semaphore` while its request is in
/// flight.
pub async fn download_one(
    client: reqwest::Client,
    semaphore: Arc<Semaphore>,
    job: Arc<Job>,
    cc: String,
) -> Outcome {
    let fetched = {
        let _permit = semaphore
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let started = Instant::now();
        let _in_flight = job.in_flight.enter();
        (get_flag(&client, &job, &cc).await, started)
    };
    let (fetched, started) = fetched;
    // Saving is a small synchronous write (a flag is ~12 KB) into the page cache: cheaper
    // done here than handed to spawn_blocking and back.
    conclude(&job.out_dir, &cc, fetched, started, 1)
}

/// Runs every code of `job` as its own task and reports each outcome as it finishes.
pub fn download_many(job: &Job, on_outcome: &mut dyn FnMut(Outcome)) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let job = Arc::new(job.clone());
    let client = client(&job)?;
    runtime.block_on(async {
        let semaphore = Arc::new(Semaphore::new(job.max_req));
        let mut tasks = JoinSet::new();
        for cc in &job.codes {
            tasks.spawn(download_one(
                client.clone(),
                semaphore.clone(),
                job.clone(),
                cc.clone(),
            ));
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => on_outcome(outcome),
                // A panic in a task is a bug in flags-dl: surface it rather than miscount.
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    });
    // Nothing is left to run; don't wait for idle blocking threads to time out.
    runtime.shutdown_background();
    Ok(())
}

/// One client, and so one connection pool, for every task of the run.
pub fn client(job: &Job) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(job.timeout)
        .connect_timeout(job.connect_timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(job.max_req)
        .user_agent(concat!("flags-dl/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Describes a reqwest error by its root cause, in the user's terms.
pub fn describe_reqwest(e: &reqwest::Error, job: &Job) -> FetchError {
    if e.is_timeout() {
        return FetchError::new(format!("timed out after {} s", job.timeout.as_secs_f64()));
    }
    if e.is_redirect() {
        return FetchError::new("too many redirects (more than 10), or a redirect loop");
    }
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            if hyper_error.is_incomplete_message() {
                return FetchError::new("connection closed before the response was complete");
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return FetchError::new(describe_io(io));
        }
        source = cause.source();
    }
    // No known root cause: the innermost message is the most specific one.
    let mut innermost: &dyn std::error::Error = e;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    FetchError::new(innermost.to_string())
}
