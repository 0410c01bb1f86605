//! `get_flag` with blocking I/O (ureq), for the thread-pool and sequential modes: each
//! call holds its thread until the response is read, as the book's `requests` versions do.
//! No async runtime is involved.

use super::{
    check_gif, describe_io, flag_file_name, metadata_too_large, parse_metadata, too_large, Body,
    FetchError, Fetched, Job, DRAIN, MAX_METADATA,
};
use crate::save::safe_flag_name;
use crate::site::{flag_url, metadata_url};
use std::io::Read;
use std::sync::Mutex;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// An agent whose pool keeps up to `connections` idle connections to the server, so that
/// each worker reuses its own kept-alive connection.
pub fn agent(job: &Job, connections: usize) -> ureq::Agent {
    // HTTP_PROXY and friends are for reaching the outside, never this machine.
    let proxy = if crate::site::is_loopback(&job.base_url) {
        None
    } else {
        ureq::Proxy::try_from_env()
    };
    let config = ureq::Agent::config_builder()
        .proxy(proxy)
        // 404 and 418 are outcomes to classify, not transport failures.
        .http_status_as_error(false)
        .timeout_global(Some(job.timeout))
        .timeout_connect(Some(job.connect_timeout))
        .no_delay(true)
        .max_redirects(10)
        .max_idle_connections(connections)
        .max_idle_connections_per_host(connections)
        .user_agent(concat!("flags-dl/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::with_parts(config, DefaultConnector::new(), CachingResolver::default())
}

/// Resolves each host once per run and remembers the answer.
///
/// ureq resolves the host before every request, even one that will reuse a kept-alive
/// connection, and with a timeout set its default resolver does each lookup on a new
/// thread: one thread spawned per flag, which doubled the sequential mode's time. A run
/// talks to one server, so one lookup is enough.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: DefaultResolver,
    /// `(scheme://authority, addresses)` of the last lookup.
    last: Mutex<Option<(String, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |a| a.as_str())
        );
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, addrs)) = last.as_ref() {
            if *cached == key {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *last = Some((key, addrs.clone()));
        Ok(addrs)
    }
}

/// GETs `url` and reads at most `limit` bytes of a 200 body. `Ok(None)` is a 404.
fn get_body(
    agent: &ureq::Agent,
    job: &Job,
    url: &str,
    limit: u64,
    too_big: fn(u64) -> FetchError,
) -> Result<Option<Body>, FetchError> {
    let mut response = agent.get(url).call().map_err(|e| {
        // Failing before any response is what a kept-alive connection that the server has
        // closed looks like; the caller sends the request again on a new connection.
        let stale = matches!(&e, ureq::Error::Io(io) if super::is_closed_connection(io));
        let mut error = describe_ureq(e, job);
        error.stale_connection = stale;
        error
    })?;
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // ureq returns a connection to its pool only once the body has been read: drain a
        // small one (a 404 page) so that the next request reuses the connection. --every
        // has 482 of them.
        let mut rest = response.body_mut().as_reader().take(DRAIN);
        let _ = std::io::copy(&mut rest, &mut std::io::sink());
        return match status {
            404 => Ok(None),
            other => Err(FetchError::status(
                other,
                &job.retry,
                retry_after.as_deref(),
            )),
        };
    }
    let body = response.body_mut();
    if body.content_length().is_some_and(|len| len > limit) {
        return Err(too_big(limit).after_ok());
    }
    let content_type = body.mime_type().map(str::to_string);
    let capacity = body.content_length().unwrap_or(16 * 1024).min(limit);
    let mut bytes = Vec::with_capacity(capacity as usize);
    // One byte past the limit tells "exactly at the limit" from "over it" without reading on.
    body.as_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| describe_ureq(ureq::Error::from(e), job).after_ok())?;
    if bytes.len() as u64 > limit {
        return Err(too_big(limit).after_ok());
    }
    Ok(Some(Body {
        bytes,
        content_type,
    }))
}

/// Fetches one flag, blocking the calling thread: 200 gives the checked image, 404 gives
/// `NotFound`, anything else an error with its reason.
pub fn get_flag(agent: &ureq::Agent, job: &Job, cc: &str) -> Result<Fetched, FetchError> {
    let file_name = if job.names {
        match get_country(agent, job, cc)? {
            Some(country) => safe_flag_name(&country, cc),
            None => return Ok(Fetched::NotFound),
        }
    } else {
        flag_file_name(cc)
    };
    match get_body(
        agent,
        job,
        &flag_url(&job.base_url, cc),
        job.max_size,
        too_large,
    )? {
        None => Ok(Fetched::NotFound),
        Some(Body {
            bytes: image,
            content_type,
        }) => {
            check_gif(&image, content_type.as_deref())?;
            Ok(Fetched::Image { image, file_name })
        }
    }
}

/// The book's flags3 `get_country`: the country name from `metadata.json` (`None`: 404).
pub fn get_country(agent: &ureq::Agent, job: &Job, cc: &str) -> Result<Option<String>, FetchError> {
    let url = metadata_url(&job.base_url, cc);
    match get_body(agent, job, &url, MAX_METADATA, |_| metadata_too_large())? {
        None => Ok(None),
        Some(body) => parse_metadata(&body.bytes).map(Some),
    }
}

/// Describes a ureq error in the user's terms.
pub fn describe_ureq(e: ureq::Error, job: &Job) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => job.timed_out(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => job.timed_out(),
        ureq::Error::Io(io) => describe_io(&io),
        ureq::Error::HostNotFound => FetchError::new("host not found"),
        ureq::Error::ConnectionFailed => FetchError::transient("cannot connect"),
        ureq::Error::TooManyRedirects => {
            FetchError::new("too many redirects (more than 10), or a redirect loop")
        }
        ureq::Error::Protocol(p) => FetchError::transient(format!("bad response: {p}")),
        other => FetchError::new(other.to_string()),
    }
}
