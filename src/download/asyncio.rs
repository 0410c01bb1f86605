//! The design the project is built around (the book's `flags2_asyncio.py`): one tokio task
//! per code, a semaphore that caps the requests in flight, and a wait that gathers every
//! outcome as it finishes.
//!
//! A task holds a permit only while its request is in flight: it gives the permit back
//! before a retry's wait, so one code's backoff never holds up another's request. On
//! cancellation every task ends at once with [`DownloadStatus::Cancelled`], so each code
//! is still counted once.
//!
//! The runtime is built here, explicitly, rather than by `#[tokio::main]`: the blocking
//! modes must run outside any runtime, and the embedded server has a runtime of its own.

use super::{
    check_gif, conclude, describe_io, flag_file_name, metadata_too_large, not_a_gif,
    parse_metadata, Body, DownloadStatus, FetchError, Fetched, Job, Outcome, DRAIN, MAX_METADATA,
};
use crate::save::{safe_flag_name, PartFile};
use crate::site::{flag_url, metadata_url};
use std::error::Error as _;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// GETs `url`: the response for a 200, `None` for a 404, an error for anything else.
async fn send(
    client: &reqwest::Client,
    job: &Job,
    url: &str,
) -> Result<Option<reqwest::Response>, FetchError> {
    let mut response = client.get(url).send().await.map_err(|e| {
        let mut error = describe_reqwest(&e, job);
        // Failing before any response is what a kept-alive connection that the server has
        // closed looks like; the caller sends the request again on a new connection.
        error.stale_connection = error.transient && closed_before_response(&e);
        error
    })?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(Some(response));
    }
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read a small body (a 404 page) to its end, so that the connection is back in the
    // pool before this request's permit is: otherwise the next request may open a new
    // connection rather than wait for this one. --every has 482 of them.
    let mut drained = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        drained += chunk.len() as u64;
        if drained > DRAIN {
            break;
        }
    }
    match status {
        404 => Ok(None),
        other => Err(FetchError::status(
            other,
            &job.retry,
            retry_after.as_deref(),
        )),
    }
}

fn content_type(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// GETs `url` and reads at most `limit` bytes of a 200 body. `Ok(None)` is a 404.
async fn get_body(
    client: &reqwest::Client,
    job: &Job,
    url: &str,
    limit: u64,
    too_big: fn(u64) -> FetchError,
) -> Result<Option<Body>, FetchError> {
    let Some(mut response) = send(client, job, url).await? else {
        return Ok(None);
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_big(limit));
    }
    let capacity = response.content_length().unwrap_or(16 * 1024).min(limit);
    let mut bytes = Vec::with_capacity(capacity as usize);
    // Chunk by chunk, so that an endless body is dropped at the limit, not buffered.
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| describe_reqwest(&e, job))?
    {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_big(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(Body {
        bytes,
        content_type: content_type(&response),
    }))
}

/// Fetches one flag and saves it: 200 gives the checked, saved image, 404 gives
/// `NotFound`, anything else an error with its reason.
///
/// The body goes into the output folder chunk by chunk, under a temporary name, as it
/// arrives: no buffer per flag, and a body over `--max-size` is dropped at the limit. The
/// first bytes are checked to be a GIF before any file is created; the file gets its own
/// name only once complete. The writes are plain std I/O on the runtime's thread: a chunk
/// into the page cache costs microseconds, less than a trip through `spawn_blocking`.
pub async fn get_flag(
    client: &reqwest::Client,
    job: &Job,
    cc: &str,
) -> Result<Fetched, FetchError> {
    let file_name = if job.names {
        match get_country(client, job, cc).await? {
            Some(country) => safe_flag_name(&country, cc),
            None => return Ok(Fetched::NotFound),
        }
    } else {
        flag_file_name(cc)
    };
    let Some(mut response) = send(client, job, &flag_url(&job.base_url, cc)).await? else {
        return Ok(Fetched::NotFound);
    };
    if response
        .content_length()
        .is_some_and(|len| len > job.max_size)
    {
        return Err(super::too_large(job.max_size).after_ok());
    }
    let kind = content_type(&response);
    let cannot_save = |e: std::io::Error| FetchError::new(format!("cannot save: {e}"));
    // Bytes held back until there are enough to check the GIF signature (6), which in
    // practice the first chunk always has.
    let mut head = Vec::new();
    let mut part: Option<PartFile<'_>> = None;
    let mut bytes = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| describe_reqwest(&e, job))?
    {
        bytes += chunk.len() as u64;
        if bytes > job.max_size {
            return Err(super::too_large(job.max_size).after_ok());
        }
        match &mut part {
            Some(part) => part.write_all(&chunk).map_err(cannot_save)?,
            None => {
                head.extend_from_slice(&chunk);
                if head.len() >= 6 {
                    check_gif(&head, kind.as_deref())?;
                    let mut started = job.saver.begin(&file_name).map_err(cannot_save)?;
                    started.write_all(&head).map_err(cannot_save)?;
                    head = Vec::new();
                    part = Some(started);
                }
            }
        }
    }
    let Some(part) = part else {
        // Fewer than 6 bytes in all: too short to hold a GIF signature.
        return Err(not_a_gif(kind.as_deref()));
    };
    let path = part.commit().map_err(cannot_save)?;
    Ok(Fetched::Saved { path, bytes })
}

/// The book's flags3 `get_country`: the country name from `metadata.json` (`None`: 404).
pub async fn get_country(
    client: &reqwest::Client,
    job: &Job,
    cc: &str,
) -> Result<Option<String>, FetchError> {
    let url = metadata_url(&job.base_url, cc);
    match get_body(client, job, &url, MAX_METADATA, |_| metadata_too_large()).await? {
        None => Ok(None),
        Some(body) => parse_metadata(&body.bytes).map(Some),
    }
}

/// Fetches and saves one code, retrying transient failures, holding a permit of
/// `semaphore` only while a request is in flight.
pub async fn download_one(
    client: reqwest::Client,
    semaphore: Arc<Semaphore>,
    job: Arc<Job>,
    cc: String,
) -> Outcome {
    if let Some(path) = job.existing_file(&cc) {
        let mut outcome = Outcome::without_request(&cc, DownloadStatus::Skipped);
        outcome.path = Some(path);
        return outcome;
    }
    let cancelled = |attempts| {
        let mut outcome = Outcome::without_request(&cc, DownloadStatus::Cancelled);
        outcome.attempts = attempts;
        outcome
    };
    let mut started = None;
    let mut attempt = 0;
    loop {
        let fetched = {
            let permit = tokio::select! {
                permit = semaphore.acquire() => permit.expect("the semaphore is never closed"),
                () = job.cancel.cancelled() => return cancelled(attempt),
            };
            attempt += 1;
            let _permit = permit;
            let _in_flight = job.in_flight.enter();
            started.get_or_insert_with(Instant::now);
            let fetch = async {
                match get_flag(&client, &job, &cc).await {
                    Err(e) if e.stale_connection => get_flag(&client, &job, &cc).await,
                    other => other,
                }
            };
            tokio::select! {
                fetched = fetch => fetched,
                () = job.cancel.cancelled() => return cancelled(attempt),
            }
        };
        match fetched {
            Err(e) if job.retry.should_retry(attempt, e.transient) => {
                let wait = job.retry.wait(attempt, e.retry_after);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = job.cancel.cancelled() => return cancelled(attempt),
                }
            }
            fetched => {
                let started = started.expect("set before the first request");
                return conclude(&job, &cc, fetched, started, attempt);
            }
        }
    }
}

/// Runs every code of `job` as its own task and reports each outcome as it finishes.
pub fn download_many(job: &Job, on_outcome: &mut dyn FnMut(Outcome)) -> anyhow::Result<()> {
    // Tokio's default: one worker per core. A current-thread runtime was measured too
    // (interleaved runs against nginx on loopback, 2 cores): the same medians for --all
    // and --every and the same peak memory, so the default stays.
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
    let mut builder = reqwest::Client::builder()
        .timeout(job.timeout)
        .connect_timeout(job.connect_timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(job.max_req)
        .user_agent(concat!("flags-dl/", env!("CARGO_PKG_VERSION")));
    if crate::site::is_loopback(&job.base_url) {
        // HTTP_PROXY and friends are for reaching the outside, never this machine.
        builder = builder.no_proxy();
    }
    Ok(builder.build()?)
}

/// Whether a request failed because the connection was closed or reset under it.
fn closed_before_response(e: &reqwest::Error) -> bool {
    let mut source = e.source();
    while let Some(cause) = source {
        if cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message())
        {
            return true;
        }
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(super::is_closed_connection)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Describes a reqwest error by its root cause, in the user's terms.
pub fn describe_reqwest(e: &reqwest::Error, job: &Job) -> FetchError {
    if e.is_timeout() {
        return job.timed_out();
    }
    if e.is_redirect() {
        return FetchError::new("too many redirects (more than 10), or a redirect loop");
    }
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            // Also what a kept-alive connection that the server had closed gives: safe to
            // retry for a GET.
            if hyper_error.is_incomplete_message() {
                return FetchError::transient("connection closed before the response was complete");
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return describe_io(io);
        }
        source = cause.source();
    }
    // No known root cause: the innermost message is the most specific one.
    let mut innermost: &dyn std::error::Error = e;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    let reason = innermost.to_string();
    if e.is_connect() || e.is_request() || e.is_body() {
        FetchError::transient(reason)
    } else {
        FetchError::new(reason)
    }
}
