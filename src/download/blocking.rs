//! `get_flag` with blocking I/O (ureq), for the thread-pool and sequential modes: each
//! call holds its thread until the response is read, as the book's `requests` versions do.
//! No async runtime is involved. What a response means is [`FlagFetch`]'s, as in async
//! mode; this only sends requests and reads chunks.

use super::body::Flow;
use super::failure::{authority, is_closed_connection, tls_in_io, ErrorKind, FetchError};
use super::pace::{AnswerSlot, AnswerWatch, Pace};
use super::response::{Fetched, FlagFetch, Head};
use super::Job;
use std::io::Read;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    time, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

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
        // Redirects are followed by `FlagFetch`, the same way in every mode.
        .max_redirects(0)
        .max_idle_connections(connections)
        .max_idle_connections_per_host(connections)
        .user_agent(concat!("flags-dl/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls_config(job))
        .build();
    let connector = PacedConnector {
        inner: DefaultConnector::new(),
        pace: job.pace.clone(),
    };
    ureq::Agent::with_parts(config, connector, CachingResolver::default())
}

/// The run's trust store, for rustls under ureq. Where the system has no store and
/// `--cacert` is given, only `--cacert`'s certificates are trusted here (ureq cannot add
/// certificates to its built-in roots).
fn tls_config(job: &Job) -> ureq::tls::TlsConfig {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = if job.trust.roots.is_empty() {
        RootCerts::WebPki
    } else {
        let certs = job.trust.roots.iter();
        RootCerts::Specific(Arc::new(
            certs
                .map(|der| Certificate::from_der(der).to_owned())
                .collect(),
        ))
    };
    TlsConfig::builder().root_certs(roots).build()
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

/// Size of the buffer each worker reads bodies through: the body streams into its file,
/// so memory stays flat whatever `--max-size` allows.
const CHUNK: usize = 16 * 1024;

/// Fetches one flag and saves it (under `--names`, after its `metadata.json`), blocking
/// the calling thread.
pub fn get_flag_blocking(
    agent: &ureq::Agent,
    mut fetch: FlagFetch<'_>,
) -> Result<Fetched, FetchError> {
    let job = fetch.job();
    let mut buf = vec![0; CHUNK];
    loop {
        // A late answer is abandoned (see `AnswerWatch`) by a shorter wait for the head.
        let late_after = match job.pace.answer_watch() {
            AnswerWatch::After(limit) if limit < job.timeout => Some(limit),
            _ => None,
        };
        let (started, epoch) = (Instant::now(), job.pace.open_epoch());
        let request = agent.get(fetch.url());
        let sent = match late_after {
            Some(limit) => request
                .config()
                .timeout_recv_response(Some(limit))
                .build()
                .call(),
            None => request.call(),
        };
        // Abandoned by the shorter wait for the head.
        let late = late_after.filter(|_| {
            matches!(
                &sent,
                Err(ureq::Error::Timeout(ureq::Timeout::RecvResponse))
            )
        });
        // The answer began, or will not: how long after its connection came up tells the
        // pace whether the server answers promptly.
        if let Some((up, slot)) = CONNECTION_UP.with(|kept| kept.borrow_mut().take()) {
            if sent.is_ok() {
                job.pace.answer_after_connect(up.elapsed());
            } else if let (Some(slot), None) = (slot, late) {
                // A failure says nothing of the server's queue; a late answer counts as
                // one that queued (the slot, dropped, says so), as in async mode.
                slot.unanswered();
            }
        }
        let mut response = sent.map_err(|e| {
            if let Some(limit) = late {
                job.pace.answer_was_late(started.elapsed(), epoch);
                return FetchError::late_answer(limit);
            }
            // Failing before any response is what a kept-alive connection that the server
            // has closed looks like; the caller sends the request again on a new
            // connection.
            let stale = matches!(&e, ureq::Error::Io(io) if is_closed_connection(io));
            let mut error = describe_ureq(e, job, fetch.url());
            error.stale_connection = stale;
            error
        })?;
        let headers = response.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let content_length = header("content-length").and_then(|v| v.trim().parse().ok());
        fetch.on_head(&Head {
            status: response.status().as_u16(),
            version: match response.version() {
                ureq::http::Version::HTTP_10 => Some("1.0"),
                ureq::http::Version::HTTP_11 => Some("1.1"),
                _ => None,
            },
            location: header("location"),
            retry_after: header("retry-after"),
            content_type: header("content-type"),
            content_length,
            connection: header("connection"),
        })?;
        let mut reader = response.body_mut().as_reader();
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if fetch.feed(&buf[..n])? == Flow::Enough {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let error = describe_ureq(ureq::Error::from(e), job, fetch.url());
                    fetch.read_failed(error)?;
                    break;
                }
            }
        }
        if let Some(fetched) = fetch.on_end()? {
            return Ok(fetched);
        }
    }
}

/// Describes a ureq error in the user's terms.
fn describe_ureq(e: ureq::Error, job: &Job, url: &str) -> FetchError {
    match e {
        ureq::Error::Rustls(tls) => FetchError::tls(&authority(url), &tls),
        ureq::Error::Io(io) if tls_in_io(&io).is_some() => {
            FetchError::tls(&authority(url), tls_in_io(&io).expect("checked"))
        }
        ureq::Error::Timeout(_) => FetchError::timed_out(job.timeout),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            FetchError::timed_out(job.timeout)
        }
        ureq::Error::Io(io) => FetchError::from_io(&io),
        ureq::Error::HostNotFound => FetchError::new(ErrorKind::Connect, "host not found"),
        ureq::Error::ConnectionFailed => {
            FetchError::transient(ErrorKind::Connect, "cannot connect")
        }
        ureq::Error::Protocol(_) => FetchError::malformed(),
        other => FetchError::new(ErrorKind::Other, other.to_string()),
    }
}

thread_local! {
    /// When the connection [`PacedConnector`] opened on this thread for the request it is
    /// sending came up, and its [`AnswerSlot`] if the pace keeps one.
    static CONNECTION_UP: std::cell::RefCell<Option<(Instant, Option<AnswerSlot>)>> = const { std::cell::RefCell::new(None) };
}

/// Opens each new connection at the run's pace: waits for an opening slot, and abandons an
/// attempt that is late compared with the others (see [`Pace`]), opening a new one at
/// once instead of waiting for TCP's retransmission, until `--connect-timeout` runs out.
#[derive(Debug)]
struct PacedConnector {
    inner: DefaultConnector,
    pace: Arc<Pace>,
}

impl Connector<()> for PacedConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let started = std::time::Instant::now();
        let budget: std::time::Duration = *details.timeout.after;
        loop {
            let slot = self.pace.open_blocking();
            let left = budget.saturating_sub(started.elapsed());
            let late_after = self.pace.late_after().unwrap_or(left);
            // Only the attempt's own time limit is shortened; everything else is the
            // request's.
            let attempt = ConnectionDetails {
                uri: details.uri,
                addrs: details.addrs.clone(),
                config: details.config,
                request_level: details.request_level,
                resolver: details.resolver,
                now: time::Instant::now(),
                timeout: NextTimeout {
                    after: time::Duration::Exact(left.min(late_after)),
                    ..details.timeout
                },
                current_time: details.current_time.clone(),
                run_connector: details.run_connector.clone(),
                register_shutdown: details.register_shutdown.clone(),
            };
            match self.inner.connect(&attempt, chained) {
                Ok(connection) => {
                    // Kept, if the pace says so, until the request's answer begins.
                    let slot = slot.came_up(&self.pace);
                    CONNECTION_UP.with(|kept| *kept.borrow_mut() = Some((Instant::now(), slot)));
                    return Ok(connection);
                }
                Err(ureq::Error::Timeout(_)) if left > late_after => slot.late(),
                Err(e) => return Err(e),
            }
        }
    }
}
