//! The design the project is built around (the book's `flags2_asyncio.py`): one tokio task
//! per code, the pace admitting the requests in flight (where the book has a semaphore),
//! and a wait that gathers every outcome as it finishes.
//!
//! A task is admitted only while its request is in flight: it gives its place back before
//! a retry's wait, so one code's backoff never holds up another's request. On
//! cancellation every task ends at once with [`super::DownloadStatus::Cancelled`], so each
//! code is still counted once.
//!
//! The runtime is built here, explicitly, rather than by `#[tokio::main]`: the blocking
//! modes must run outside any runtime, and the embedded server has a runtime of its own.

use super::attempts::{Attempts, Step};
use super::body::Flow;
use super::failure::{
    is_closed_connection, tls_in_io, tls_peer, ErrorKind, FetchError, H2Close, Resend,
};
use super::outcome::Outcome;
use super::pace::{Late, Pace};
use super::phases::Connections;
use super::response::{Fetched, FlagFetch, CLIENT_MAX_HEADERS, MAX_HEADERS};
use super::{Event, Job};
use crate::proxy::ProxyChoice;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Fetches one flag and saves it (under `--names`, after its `metadata.json`): the
/// response rules are [`FlagFetch`]'s; this only sends requests and reads chunks.
///
/// The body goes into the output folder chunk by chunk as it arrives (see
/// [`super::body`]). The writes are plain std I/O on the runtime's thread: a chunk into
/// the page cache costs microseconds, less than a trip through `spawn_blocking`.
pub async fn get_flag(
    client: &reqwest::Client,
    mut fetch: FlagFetch<'_>,
) -> Result<Fetched, FetchError> {
    let job = fetch.job();
    loop {
        let request = fetch.request()?.map(|()| reqwest::Body::default());
        let mut request =
            reqwest::Request::try_from(request).map_err(|e| describe_reqwest(&e, job))?;
        // A GET sends no body, not an empty one.
        *request.body_mut() = None;
        let sent = client.execute(request).await;
        let mut response = sent
            .map_err(|e| describe_reqwest(&e, job).before_response(closed_before_response(&e)))?;
        // Phases (issue 20): the connection the answer came over.
        fetch.answered_over(super::timed::answered_over(&response));
        fetch.on_response(response.status(), response.version(), response.headers())?;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if fetch.feed(&chunk)? == Flow::Enough {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    fetch.read_failed(describe_reqwest(&e, job))?;
                    break;
                }
            }
        }
        if let Some(fetched) = fetch.on_end()? {
            return Ok(fetched);
        }
    }
}

/// Fetches and saves one code, its attempts as [`Attempts`] rules them, admitted by the
/// run's [`Pace`] only while a request is in flight: a retry's wait holds up no other code.
pub async fn download_one(client: reqwest::Client, job: Arc<Job>, cc: String) -> Outcome {
    let mut attempts = Attempts::default();
    if let Some(skipped) = attempts.skipped(&job, &cc) {
        return skipped;
    }
    loop {
        let admitted = tokio::select! {
            admitted = job.pace.admit() => admitted,
            () = job.cancel.cancelled() => return attempts.cancelled(&cc),
        };
        let ticket = match admitted {
            Ok(ticket) => ticket,
            Err(refused) => return attempts.refused(&job, &cc, &refused),
        };
        attempts.begin();
        let wait = loop {
            let fetch = get_flag(&client, FlagFetch::new(&job, &cc, &ticket));
            let fetched = tokio::select! {
                fetched = probe_until_pooled(&job.pace, ticket.probe(), fetch) => fetched,
                () = job.cancel.cancelled() => return attempts.cancelled(&cc),
            };
            match attempts.next_step(&job, &cc, fetched, || format!("task {cc}")) {
                Step::Resend => {}
                Step::Retry(wait) => break wait,
                Step::Done(outcome) => return *outcome,
            }
        };
        drop(ticket);
        // A run that gives up on the server ends this wait too: the code is then refused
        // at once, not after the wait.
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = job.pace.given_up() => {}
            () = job.cancel.cancelled() => return attempts.cancelled(&cc),
        }
    }
}

/// Runs the probe's request (see [`Pace::probe_first`]) and ends the probe as soon as its
/// connection is in the client's pool, a round trip before its answer would.
///
/// The connection is up (TCP, TLS, ALPN) when [`PacedConnect`] returns it, but hyper pools
/// it only after its HTTP/2 handshake, which writes the preface and goes on at once, in
/// this same task and the same poll. So once a poll of the request that saw the
/// connection come up returns pending, the request is out and the connection is pooled:
/// the others share it rather than each opening their own. Ending the probe as the
/// connector returned let them go too early (3 to 38 connections instead of one, under
/// load), and a timer after it did too (4 under load); waiting for the answer costs a
/// round trip (about 280 instead of 210 ms for 194 flags through a 50 ms round trip).
async fn probe_until_pooled<F: std::future::Future>(
    pace: &Pace,
    probe: bool,
    fetch: F,
) -> F::Output {
    if !probe {
        return fetch.await;
    }
    let mut fetch = std::pin::pin!(fetch);
    std::future::poll_fn(|cx| {
        let polled = fetch.as_mut().poll(cx);
        if polled.is_pending() {
            pace.end_probe_if_up();
        }
        polled
    })
    .await
}

/// Runs every code of `job` as its own task and reports each outcome as it finishes.
pub fn run_tasks(job: &Job, on_event: &mut dyn FnMut(Event)) -> anyhow::Result<()> {
    // Tokio's default: one worker per core. A current-thread runtime was measured too
    // (interleaved runs against nginx on loopback, 2 cores): the same medians for --all
    // and --every and the same peak memory, so the default stays.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let job = Arc::new(job.clone());
    let client = client(&job)?;
    if job.base_url.starts_with("https:") && !job.http1_only {
        // ALPN may agree on HTTP/2: learn it on one connection before opening more.
        job.pace.probe_first();
    }
    runtime.block_on(async {
        let mut tasks = JoinSet::new();
        for cc in &job.codes {
            tasks.spawn(download_one(client.clone(), job.clone(), cc.clone()));
        }
        loop {
            let joined = tokio::select! {
                joined = tasks.join_next() => joined,
                // A wait the server asked for is shown as it begins, not with the next
                // outcome, which may be a minute away.
                () = job.pace.news() => {
                    super::tell_news(&job, on_event);
                    continue;
                }
            };
            super::tell_news(&job, on_event);
            match joined {
                Some(Ok(outcome)) => on_event(Event::Outcome(outcome)),
                // A panic in a task is a bug in flags-dl: surface it rather than miscount.
                Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
                None => break,
            }
        }
    });
    // Nothing is left to run; don't wait for idle blocking threads to time out.
    runtime.shutdown_background();
    Ok(())
}

/// One client, and so one connection pool, for every task of the run.
pub fn client(job: &Job) -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a crypto provider of its own (its default, aws-lc, needs
    // cmake and a C toolchain to build): ring, which ureq and the server use too, is the
    // process's. Installing fails only when one is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(job.timeout)
        .connect_timeout(job.connect_timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(job.max_req)
        // Redirects are followed by `FlagFetch`, the same way in every mode.
        .redirect(reqwest::redirect::Policy::none())
        // hyper's HTTP/1.1 parser reads up to some 400 KB of head; HTTP/2's list would
        // be refused past 16 KiB: up to the same as ureq, so that `FlagFetch` decides.
        .http2_max_header_list_size(CLIENT_MAX_HEADERS as u32);
    // Phases (issue 20): each connection timed where the pace opens it (see `timed`), in
    // a run that shows them.
    let timed = job.exchanges.measuring();
    if timed {
        builder = builder.dns_resolver(Arc::new(super::timed::TimedResolver));
    }
    // New connections open at the run's pace (see `pace`).
    builder = builder.connector_layer(PacedConnectLayer {
        pace: job.pace.clone(),
        timed: timed.then(|| job.exchanges.connections.clone()),
    });
    if job.http1_only {
        builder = builder.http1_only();
    }
    // The roots are the run's `Trust`, given whole: reqwest 0.13 would otherwise verify
    // with the platform's verifier, which on Linux reads the system store itself and has
    // no bundled roots to fall back on. Where the system has no store (`builtin`), Mozilla's
    // roots stand in, as reqwest 0.12's built-in roots did and as ureq's do.
    let builtin = job
        .trust
        .builtin
        .then_some(webpki_root_certs::TLS_SERVER_ROOT_CERTS)
        .into_iter()
        .flatten()
        .map(|der| reqwest::Certificate::from_der(der));
    let roots = job
        .trust
        .roots
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .chain(builtin)
        .collect::<Result<Vec<_>, _>>()?;
    builder = builder.tls_backend_rustls().tls_certs_only(roots);
    // Each request's proxy is `proxy`'s decision, the environment's included: reqwest's
    // own reading of the variables (which takes ALL_PROXY before HTTP_PROXY, and proxies
    // this machine) is switched off.
    builder = builder.no_proxy();
    if !job.proxies.never() {
        let proxies = job.proxies.clone();
        builder = builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies.for_url(url).map(ProxyChoice::url)
        }));
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
            .is_some_and(is_closed_connection)
        {
            return true;
        }
        if cause
            .downcast_ref::<h2::Error>()
            .and_then(h2::Error::get_io)
            .is_some_and(is_closed_connection)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Describes an HTTP/2 failure: a stream the server reset, a request its GOAWAY turned
/// away, or the connection lost under the stream. None for h2's own errors (a protocol
/// error it detected, a reset flags-dl sent), which keep h2's wording.
fn describe_h2(e: &h2::Error) -> Option<FetchError> {
    // h2 keeps the I/O error out of its source chain.
    if let Some(io) = e.get_io() {
        // h2 gives each open stream a "broken pipe" when the connection reaches its end:
        // for the user, the response ended early.
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        return Some(FetchError::from_io(if is_closed_connection(io) {
            &eof
        } else {
            io
        }));
    }
    let how = if e.is_reset() {
        H2Close::Reset
    } else if e.is_go_away() {
        H2Close::GoAway
    } else {
        return None;
    };
    let code = e.reason().filter(|_| e.is_remote())?;
    Some(FetchError::closed_by_h2_server(how, code))
}

/// Describes a reqwest error by its root cause, in the user's terms.
fn describe_reqwest(e: &reqwest::Error, job: &Job) -> FetchError {
    if e.is_timeout() {
        return FetchError::timed_out(job.timeout);
    }
    let host = || {
        e.url()
            .map_or_else(String::new, |u| tls_peer(u.as_str(), &job.proxies))
    };

    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return FetchError::tls(&host(), tls);
        }
        if let Some(tls) = cause.downcast_ref::<std::io::Error>().and_then(tls_in_io) {
            return FetchError::tls(&host(), tls);
        }
        // hyper-util's SOCKS and CONNECT errors are private types: known by their words.
        let words = cause.to_string();
        if let Some(detail) = ["SOCKS error: ", "tunnel error: "]
            .iter()
            .find_map(|prefix| words.strip_prefix(prefix))
        {
            return FetchError::proxy_refused(match detail {
                // A CONNECT answered with another status: which one, hyper-util does not say.
                "unsuccessful" => "CONNECT not answered with 200",
                detail => detail,
            });
        }
        if cause.downcast_ref::<LateConnect>().is_some() {
            // Abandoned by the pace: sent again at once on a new connection.
            return FetchError::transient(ErrorKind::Connect, cause.to_string())
                .resend(Resend::LateConnect);
        }
        if let Some(error) = cause.downcast_ref::<h2::Error>().and_then(describe_h2) {
            return error;
        }
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            // Also what a kept-alive connection that the server had closed gives: safe to
            // retry for a GET.
            if hyper_error.is_incomplete_message() {
                return FetchError::transient(
                    ErrorKind::ConnectionClosed,
                    "connection closed before the response was complete",
                );
            }
            // A head of more bytes, or more fields, than hyper holds (see
            // `response::MAX_FIELDS`).
            if hyper_error.is_parse_too_large() {
                return FetchError::headers_too_large(MAX_HEADERS);
            }
            if hyper_error.is_parse() {
                return FetchError::malformed();
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return FetchError::from_io(io);
        }
        source = cause.source();
    }
    // No known root cause: the innermost message is the most specific one.
    let mut innermost: &dyn std::error::Error = e;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    let reason = innermost.to_string();
    if e.is_connect() {
        FetchError::transient(ErrorKind::Connect, reason)
    } else if e.is_request() || e.is_body() {
        FetchError::transient(ErrorKind::Other, reason)
    } else {
        FetchError::new(ErrorKind::Other, reason)
    }
}

/// Opens each new connection at the run's pace: waits for an opening slot, and abandons an
/// attempt that is late compared with the others (see [`Pace`]), so that the request goes
/// out again at once on a new one instead of waiting for TCP's retransmission. Where the
/// run's phases are shown, it also times each attempt once its slot is had
/// ([`super::timed::opened`]).
#[derive(Clone)]
struct PacedConnectLayer {
    pace: Arc<Pace>,
    timed: Option<Arc<Connections>>,
}

impl<S> tower_layer::Layer<S> for PacedConnectLayer {
    type Service = PacedConnect<S>;

    fn layer(&self, inner: S) -> PacedConnect<S> {
        PacedConnect {
            inner,
            pace: self.pace.clone(),
            timed: self.timed.clone(),
        }
    }
}

#[derive(Clone)]
struct PacedConnect<S> {
    inner: S,
    pace: Arc<Pace>,
    timed: Option<Arc<Connections>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, R> tower_service::Service<R> for PacedConnect<S>
where
    S: tower_service::Service<R, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: hyper_util::client::legacy::connect::Connection + Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The service that was polled ready is the one to call (tower's rule for clones).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let pace = self.pace.clone();
        let timed = self.timed.clone();
        Box::pin(async move {
            // Until a first attempt came up to a far server, nothing says how long one
            // takes: look again this often.
            const LOOK_AGAIN: Duration = Duration::from_millis(10);
            let slot = pace.open().await;
            let mut connect = std::pin::pin!(async move {
                match &timed {
                    Some(connections) => {
                        super::timed::opened(connections, inner.call(request)).await
                    }
                    None => inner.call(request).await,
                }
            });
            loop {
                let wait = match pace.late_after() {
                    Late::Never => {
                        let connection = connect.await?;
                        slot.came_up();
                        return Ok(connection);
                    }
                    Late::NotYet => LOOK_AGAIN,
                    Late::After(late) => match late.checked_sub(slot.elapsed()) {
                        Some(left) if !left.is_zero() => left,
                        _ => {
                            slot.late();
                            return Err(Box::new(LateConnect(late)) as BoxError);
                        }
                    },
                };
                // Dropped on an error, the slot says the attempt failed.
                if let Ok(connected) = tokio::time::timeout(wait, connect.as_mut()).await {
                    let connection = connected?;
                    slot.came_up();
                    return Ok(connection);
                }
            }
        })
    }
}

/// A connection attempt abandoned as late.
#[derive(Debug)]
struct LateConnect(std::time::Duration);

impl std::fmt::Display for LateConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection not up after {} ms", self.0.as_millis())
    }
}

impl std::error::Error for LateConnect {}
