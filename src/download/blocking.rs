//! `get_flag` and `download_one` with blocking I/O (ureq), for the thread-pool and
//! sequential modes: each call holds its thread until the flag is saved, as the book's
//! `requests` versions do. No async runtime is involved.

use super::{check_gif, conclude, describe_io, too_large, FetchError, Fetched, Job, Outcome};
use crate::site::flag_url;
use std::io::Read;
use std::time::Instant;

/// An agent whose pool keeps up to `connections` idle connections to the server, so that
/// each worker reuses its own kept-alive connection.
pub fn agent(job: &Job, connections: usize) -> ureq::Agent {
    ureq::Agent::config_builder()
        // 404 and 418 are outcomes to classify, not transport failures.
        .http_status_as_error(false)
        .timeout_global(Some(job.timeout))
        .timeout_connect(Some(job.connect_timeout))
        .no_delay(true)
        .max_idle_connections(connections)
        .max_idle_connections_per_host(connections)
        .user_agent(concat!("flags-dl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Fetches one flag, blocking the calling thread.
pub fn get_flag(agent: &ureq::Agent, job: &Job, cc: &str) -> Result<Fetched, FetchError> {
    let mut response = agent
        .get(flag_url(&job.base_url, cc))
        .call()
        .map_err(|e| describe_ureq(e, job))?;
    match response.status().as_u16() {
        200 => {}
        404 => return Ok(Fetched::NotFound),
        other => return Err(FetchError::status(other)),
    }
    let body = response.body_mut();
    if body.content_length().is_some_and(|len| len > job.max_size) {
        return Err(too_large(job.max_size));
    }
    let content_type = body.mime_type().map(str::to_string);
    let capacity = body.content_length().unwrap_or(16 * 1024).min(job.max_size);
    let mut image = Vec::with_capacity(capacity as usize);
    // One byte past the limit tells "exactly at the limit" from "over it" without reading on.
    body.as_reader()
        .take(job.max_size + 1)
        .read_to_end(&mut image)
        .map_err(|e| describe_ureq(ureq::Error::from(e), job))?;
    if image.len() as u64 > job.max_size {
        return Err(too_large(job.max_size));
    }
    check_gif(&image, content_type.as_deref())?;
    Ok(Fetched::Image(image))
}

/// Fetches and saves one code.
pub fn download_one(agent: &ureq::Agent, job: &Job, cc: &str) -> Outcome {
    let started = Instant::now();
    let fetched = {
        let _in_flight = job.in_flight.enter();
        get_flag(agent, job, cc)
    };
    conclude(&job.out_dir, cc, fetched, started, 1)
}

/// Describes a ureq error in the user's terms.
pub fn describe_ureq(e: ureq::Error, job: &Job) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => {
            FetchError::new(format!("timed out after {} s", job.timeout.as_secs_f64()))
        }
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut => {
                FetchError::new(format!("timed out after {} s", job.timeout.as_secs_f64()))
            }
            _ => FetchError::new(describe_io(&io)),
        },
        ureq::Error::HostNotFound => FetchError::new("host not found"),
        ureq::Error::ConnectionFailed => FetchError::new("cannot connect"),
        ureq::Error::TooManyRedirects => {
            FetchError::new("too many redirects (more than 10), or a redirect loop")
        }
        other => FetchError::new(other.to_string()),
    }
}
