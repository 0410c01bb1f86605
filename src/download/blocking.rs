//! `get_flag` with blocking I/O (ureq), for the thread-pool and sequential modes: each
//! call holds its thread until the response is read, as the book's `requests` versions do.
//! No async runtime is involved. What a response means is [`FlagFetch`]'s, as in async
//! mode; this only sends requests and reads chunks.

use super::body::Flow;
use super::failure::{is_closed_connection, tls_in_io, tls_peer, ErrorKind, FetchError};
use super::pace::{Late, Pace};
use super::response::{Fetched, FlagFetch, CLIENT_MAX_HEADERS, MAX_HEADERS};
use super::Job;
use crate::proxy::{ProxyChoice, ProxyRules};
use std::io::Read;
use std::sync::Arc;
use std::sync::Mutex;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    time, Buffers, ConnectionDetails, Connector, NextTimeout, Transport,
};

/// An agent whose pool keeps up to `connections` idle connections to the server, so that
/// each worker reuses its own kept-alive connection.
///
/// ureq is told of no proxy: which one a request goes through is [`crate::proxy`]'s
/// decision, carried out by [`Route`] (and by [`RouteResolver`], which resolves no name
/// that a proxy is to resolve).
pub fn agent(job: &Job, connections: usize) -> ureq::Agent {
    let plain = Arc::new(CachingResolver::default());
    let route = Route {
        // Phases (issue 20): ureq's chain, with TCP timed apart from TLS.
        direct: super::timed::connector_chain(),
        proxies: job.proxies.clone(),
        via: job
            .proxies
            .proxies()
            .into_iter()
            .filter_map(|proxy| {
                // The URL was parsed already; ureq reads the same schemes.
                let with = ureq::Proxy::new(&proxy.url()).ok()?;
                Some((proxy.clone(), config(job, connections, Some(with))))
            })
            .collect(),
        resolver: plain.clone(),
    };
    let connector = PacedConnector {
        // Phases (issue 20): each connection timed, inside the pace (see `timed`).
        inner: super::timed::TimedConnector {
            inner: route,
            connections: job.exchanges.connections.clone(),
            measure: job.exchanges.measuring(),
        },
        pace: job.pace.clone(),
    };
    let resolver = RouteResolver {
        plain,
        proxies: job.proxies.clone(),
    };
    ureq::Agent::with_parts(config(job, connections, None), connector, resolver)
}

/// The agent's settings, with `proxy` set for ureq's own SOCKS and CONNECT handshakes
/// (see [`Route`]).
fn config(job: &Job, connections: usize, proxy: Option<ureq::Proxy>) -> ureq::config::Config {
    ureq::Agent::config_builder()
        // Never ureq's reading of the environment: see `agent`.
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
        // Above flags-dl's own limit, so that `FlagFetch` decides near it (see
        // `response::CLIENT_MAX_HEADERS`).
        .max_response_header_size(CLIENT_MAX_HEADERS)
        .tls_config(tls_config(job))
        .build()
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

/// The proxy [`crate::proxy`] chose for a request to `uri`, if any.
fn proxy_for<'a>(proxies: &'a ProxyRules, uri: &ureq::http::Uri) -> Option<&'a ProxyChoice> {
    proxies.for_target(uri.scheme_str()?, uri.host()?)
}

/// Resolves a server's name only where it is to be connected to from here: directly, or
/// through a proxy that is given addresses (`socks4`, `socks5`). A proxy that is given the
/// name resolves it itself, so the name is never looked up here (it may be known to the
/// proxy alone). ureq connects with the addresses found, as [`Route`] tells it.
#[derive(Debug)]
struct RouteResolver {
    plain: Arc<CachingResolver>,
    proxies: Arc<ProxyRules>,
}

impl Resolver for RouteResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match proxy_for(&self.proxies, uri) {
            Some(proxy) if proxy.scheme.proxy_resolves() => Ok(self.empty()),
            // Phases (issue 20): the lookup timed for the connection it is made for.
            _ => super::timed::timed_lookup(uri, || self.plain.resolve(uri, config, timeout)),
        }
    }
}

/// Opens a connection the way [`crate::proxy`] decided for its URL: straight to the
/// server, or through the proxy.
///
/// ureq alone cannot do the second as curl does. It sends every request through an HTTP
/// proxy by CONNECT, even an `http` one, which many proxies refuse for any port but 443;
/// and it takes one proxy for every scheme. So an `http` URL through an HTTP proxy gets a
/// connection to the proxy over which its requests go in absolute form
/// ([`AbsoluteForm`]); an `https` URL gets ureq's CONNECT tunnel, and a SOCKS proxy ureq's
/// SOCKS handshake (its `socks-proxy` feature), each with the proxy set in the settings of
/// that one connection.
///
/// For a CONNECT tunnel ureq opens the connection to the proxy by running the agent's
/// whole connector again, [`PacedConnector`] included, which would wait for a second
/// opening slot while holding the first; here it runs the plain connector instead.
#[derive(Debug)]
struct Route {
    direct: Arc<super::timed::BoxedConnector>,
    proxies: Arc<ProxyRules>,
    /// Each proxy the run may use, with the agent's settings naming it.
    via: Vec<(ProxyChoice, ureq::config::Config)>,
    /// For the proxies' own names.
    resolver: Arc<CachingResolver>,
}

/// ureq's type for running its connector chain (for the connection to a CONNECT proxy).
type RunConnector =
    dyn Fn(&ConnectionDetails) -> Result<Box<dyn Transport>, ureq::Error> + Send + Sync;

impl Connector<()> for Route {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(proxy) = proxy_for(&self.proxies, details.uri) else {
            return self.direct.connect(details, chained);
        };
        let Some((_, config)) = self.via.iter().find(|(p, _)| p == proxy) else {
            return Err(ureq::Error::InvalidProxyUrl);
        };
        // The connection to the proxy itself, which is not paced again: the pace waits
        // for, and times, the whole of this connection.
        let direct = self.direct.clone();
        let run_connector: Arc<RunConnector> = Arc::new(move |to_proxy| {
            direct
                .connect(to_proxy, None)?
                .ok_or(ureq::Error::ConnectionFailed)
        });
        let through = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config,
            request_level: details.request_level,
            resolver: &*self.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector,
            register_shutdown: details.register_shutdown.clone(),
        };
        if proxy.scheme.is_socks() || through.needs_tls() {
            // ureq's SOCKS handshake, or its CONNECT tunnel, then TLS to the server.
            return self.direct.connect(&through, chained).map_err(|e| match e {
                // What the proxy answered (SOCKS's failures are I/O errors of no
                // particular kind), told apart from failing to reach it at all.
                ureq::Error::ConnectProxyFailed(detail) => proxy_refused(detail),
                ureq::Error::Io(io)
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::Other | std::io::ErrorKind::PermissionDenied
                    ) =>
                {
                    proxy_refused(io.to_string())
                }
                other => other,
            });
        }
        // An `http` URL through an HTTP proxy: a connection to the proxy (over TLS for an
        // `https://` one), its requests written in absolute form.
        let proxy_uri: ureq::http::Uri = format!(
            "{}://{}",
            proxy.scheme.as_str(),
            ureq::http::uri::Authority::try_from(format!(
                "{}:{}",
                bracketed(&proxy.host),
                proxy.port
            ))
            .map_err(|_| ureq::Error::InvalidProxyUrl)?
        )
        .parse()
        .map_err(|_| ureq::Error::InvalidProxyUrl)?;
        let addrs = self
            .resolver
            .resolve(&proxy_uri, details.config, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: &proxy_uri,
            addrs,
            config: details.config,
            resolver: &*self.resolver,
            run_connector: details.run_connector.clone(),
            ..through
        };
        let Some(transport) = self.direct.connect(&to_proxy, chained)? else {
            return Ok(None);
        };
        Ok(Some(Box::new(AbsoluteForm {
            inner: transport,
            head: HeadRewriter::new(details.uri, proxy),
        })))
    }
}

/// The proxy would not, or could not, connect to the server; see [`ProxyRefused`].
fn proxy_refused(detail: String) -> ureq::Error {
    ureq::Error::Other(Box::new(ProxyRefused(detail)))
}

/// What a proxy answered when it would not, or could not, connect to the server, carried
/// through ureq to [`describe_ureq`].
#[derive(Debug)]
struct ProxyRefused(String);

impl std::fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyRefused {}

/// `host`, in brackets if it is an IPv6 address.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A connection to an HTTP proxy that `http` requests go through.
///
/// ureq writes each request in origin form (`GET /br/br.gif HTTP/1.1`), as to the server
/// itself; a proxy is asked in absolute form (`GET http://host/br/br.gif HTTP/1.1`, RFC 9112
/// section 3.2.2), with the proxy's credentials on every request. Each request's head is
/// rewritten so on its way out; the answers come back untouched.
#[derive(Debug)]
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    head: HeadRewriter,
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let mut out = Vec::with_capacity(amount + 256);
        self.head
            .rewrite(&self.inner.buffers().output()[..amount], &mut out);
        // Sent through the buffer it came in, as much at a time as that holds.
        let room = self.inner.buffers().output().len().max(1);
        for part in out.chunks(room) {
            self.inner.buffers().output()[..part.len()].copy_from_slice(part);
            self.inner.transmit_output(part.len(), timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }
}

/// Rewrites the heads of requests written in origin form into absolute form, across
/// however many pieces they are sent in. flags-dl sends only GETs, without a body, so
/// the bytes are heads one after another.
#[derive(Debug)]
struct HeadRewriter {
    /// `http://host:port`, put before a target that starts with `/`.
    origin: Vec<u8>,
    /// `Proxy-Authorization: Basic …\r\n`, put after the request line.
    authorization: Option<Vec<u8>>,
    at: HeadPart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadPart {
    Method,
    /// Just after the method's space.
    TargetStart,
    RequestLine,
    /// In the header lines; `true` at the start of one.
    Headers(bool),
}

impl HeadRewriter {
    fn new(uri: &ureq::http::Uri, proxy: &ProxyChoice) -> HeadRewriter {
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(80);
        let authorization = proxy.credentials.as_ref().map(|(user, password)| {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Proxy-Authorization: Basic {token}\r\n").into_bytes()
        });
        HeadRewriter {
            origin: format!("http://{host}:{port}").into_bytes(),
            authorization,
            at: HeadPart::Method,
        }
    }

    fn rewrite(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            match self.at {
                HeadPart::Method => {
                    if byte == b' ' {
                        self.at = HeadPart::TargetStart;
                    }
                }
                HeadPart::TargetStart => {
                    if byte == b'/' {
                        out.extend_from_slice(&self.origin);
                    }
                    self.at = HeadPart::RequestLine;
                }
                HeadPart::RequestLine => {}
                HeadPart::Headers(at_start) => {
                    self.at = match byte {
                        b'\n' if at_start => HeadPart::Method,
                        b'\n' => HeadPart::Headers(true),
                        b'\r' => HeadPart::Headers(at_start),
                        _ => HeadPart::Headers(false),
                    };
                }
            }
            out.push(byte);
            if self.at == HeadPart::RequestLine && byte == b'\n' {
                if let Some(authorization) = &self.authorization {
                    out.extend_from_slice(authorization);
                }
                self.at = HeadPart::Headers(true);
            }
        }
    }
}

/// Resolves each host once per run and remembers the answer.
///
/// ureq resolves the host before every request, even one that will reuse a kept-alive
/// connection, and with a timeout set its default resolver does each lookup on a new
/// thread: one thread spawned per flag, which doubled the sequential mode's time. A run
/// talks to one server (and perhaps a proxy), so one lookup each is enough.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: DefaultResolver,
    /// `(scheme://authority, addresses)` of the last few lookups.
    known: Mutex<Vec<(String, ResolvedSocketAddrs)>>,
}

impl CachingResolver {
    /// How many answers are kept: the server's, a proxy's, a redirect's.
    const KEPT: usize = 4;
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
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, addrs)) = known.iter().find(|(cached, _)| *cached == key) {
            return Ok(addrs.clone());
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if known.len() == Self::KEPT {
            known.remove(0);
        }
        known.push((key, addrs.clone()));
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
        let sent = agent.run(fetch.request()?);
        let mut response = sent.map_err(|e| {
            let closed = matches!(&e, ureq::Error::Io(io) if is_closed_connection(io));
            describe_ureq(e, job, fetch.url()).before_response(closed)
        })?;
        // Phases (issue 20): the answer comes over the connection the request was written on.
        fetch.answered_over(super::timed::sent_on_this_thread());
        fetch.on_response(response.status(), response.version(), response.headers())?;
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
        ureq::Error::Rustls(tls) => FetchError::tls(&tls_peer(url, &job.proxies), &tls),
        ureq::Error::Io(io) if tls_in_io(&io).is_some() => FetchError::tls(
            &tls_peer(url, &job.proxies),
            tls_in_io(&io).expect("checked"),
        ),
        ureq::Error::Timeout(_) => FetchError::timed_out(job.timeout),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            FetchError::timed_out(job.timeout)
        }
        ureq::Error::Io(io) => FetchError::from_io(&io),
        ureq::Error::HostNotFound => FetchError::new(ErrorKind::Connect, "host not found"),
        ureq::Error::ConnectionFailed => {
            FetchError::transient(ErrorKind::Connect, "cannot connect")
        }
        // A head of more bytes, or more fields, than ureq holds (see `response`'s limits):
        // whichever a read meets first, one record. ureq's protocol errors are of a type
        // it does not export: the one for too many fields is known by its words.
        ureq::Error::LargeResponseHeader(..) => FetchError::headers_too_large(MAX_HEADERS),
        ureq::Error::Protocol(e) if e.to_string().contains("too many headers") => {
            FetchError::headers_too_large(MAX_HEADERS)
        }
        ureq::Error::Protocol(_) => FetchError::malformed(),
        ureq::Error::Other(other) if other.is::<ProxyRefused>() => {
            FetchError::proxy_refused(&other.to_string())
        }
        other => FetchError::new(ErrorKind::Other, other.to_string()),
    }
}

/// Opens each new connection at the run's pace: waits for an opening slot, and abandons an
/// attempt that is late compared with the others (see [`Pace`]), opening a new one at
/// once instead of waiting for TCP's retransmission, until `--connect-timeout` runs out.
/// Through a proxy, the attempt is the connection to the proxy and its handshake.
#[derive(Debug)]
struct PacedConnector {
    inner: super::timed::TimedConnector<Route>,
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
            // A blocking connect's limit is set as it starts: before anything says how
            // long one takes (a far server), it is the whole of what is left.
            let late_after = match self.pace.late_after() {
                Late::After(late) => late.min(left),
                Late::Never | Late::NotYet => left,
            };
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
                    after: time::Duration::Exact(late_after),
                    ..details.timeout
                },
                current_time: details.current_time.clone(),
                run_connector: details.run_connector.clone(),
                register_shutdown: details.register_shutdown.clone(),
            };
            match self.inner.connect(&attempt, chained) {
                Ok(connection) => {
                    slot.came_up();
                    return Ok(connection);
                }
                Err(ureq::Error::Timeout(_)) if left > late_after => slot.late(),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `HeadRewriter` makes of `heads` sent in pieces of `piece` bytes.
    fn rewritten(proxy: &str, heads: &str, piece: usize) -> String {
        let proxy = ProxyChoice::parse(proxy, crate::proxy::Source::Option).unwrap();
        let uri: ureq::http::Uri = "http://flags.example/flags/br/br.gif".parse().unwrap();
        let mut head = HeadRewriter::new(&uri, &proxy);
        let mut out = Vec::new();
        for part in heads.as_bytes().chunks(piece) {
            head.rewrite(part, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn requests_to_an_http_proxy_are_in_absolute_form_however_they_are_cut() {
        let two = "GET /br/br.gif HTTP/1.1\r\nHost: flags.example\r\n\r\n\
                   GET /cn/cn.gif HTTP/1.1\r\nHost: flags.example\r\n\r\n";
        let expected = "GET http://flags.example:80/br/br.gif HTTP/1.1\r\nHost: flags.example\r\n\r\n\
                        GET http://flags.example:80/cn/cn.gif HTTP/1.1\r\nHost: flags.example\r\n\r\n";
        for piece in [1, 3, 7, 1000] {
            assert_eq!(rewritten("http://p:3128", two, piece), expected, "{piece}");
        }
    }

    #[test]
    fn each_request_carries_the_proxys_credentials() {
        let one = "GET /br/br.gif HTTP/1.1\r\nHost: flags.example\r\n\r\n";
        assert_eq!(
            rewritten("http://alice:s3cr%40t@p:3128", one, 5),
            "GET http://flags.example:80/br/br.gif HTTP/1.1\r\n\
             Proxy-Authorization: Basic YWxpY2U6czNjckB0\r\n\
             Host: flags.example\r\n\r\n"
        );
    }
}
