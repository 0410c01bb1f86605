//! The flag server: `flags-dl serve`, and the embedded server that downloads use by default.
//!
//! It replaces the book's `python3 -m http.server` and `slow_server.py`: it answers
//! `/flags/<cc>/<cc>.gif` and `/flags/<cc>/metadata.json` from the generated data set or a
//! folder ([`data`]), after an optional random delay and with optional random errors
//! ([`inject`]), lists the folders under `/flags/` ([`listing`]), and shows a browser the
//! flags and the requests in flight at `/` ([`gallery`], [`live`]). It is a plain hyper
//! accept loop rather than a framework because the two things a flag server must survive
//! are at the connection level: idle or dribbling connections (a header-read timeout) and
//! too many of them (a cap on connections).

pub mod beneath;
pub mod body;
pub mod budget;
pub mod conns;
pub mod data;
mod files;
mod gallery;
pub mod gif;
pub mod inject;
pub mod latency;
mod listing;
pub mod live;
pub mod tls;

use body::{not_found, plain, unavailable, ServeBody};
use budget::{Budget, ConnectionFiles};
use conns::{Conn, Registry, StreamExecutor};
use data::{parse_flag_path, FileKind, FlagData};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use inject::{DelayRange, Inject};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The book's three servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Port 8000, no delay: `python3 -m http.server`.
    Local,
    /// Port 8001, a random 0.5–5 s delay per request: `slow_server.py`.
    Delay,
    /// Port 8002, a 0.5 s delay and 25% of requests answered 418 I'm a teapot.
    Error,
}

impl Preset {
    pub fn port(self) -> u16 {
        match self {
            Preset::Local => 8000,
            Preset::Delay => 8001,
            Preset::Error => 8002,
        }
    }

    pub fn delay(self) -> Option<DelayRange> {
        match self {
            Preset::Local => None,
            Preset::Delay => Some(DelayRange {
                min: Duration::from_millis(500),
                max: Duration::from_secs(5),
            }),
            Preset::Error => Some(DelayRange::fixed(0.5)),
        }
    }

    pub fn error_rate(self) -> f64 {
        match self {
            Preset::Error => 0.25,
            _ => 0.0,
        }
    }
}

/// Connection-level limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long an answer may go without its client taking any of it (see [`conns`]).
    pub send_timeout: Duration,
    /// `--latency`: the round trip every byte pays (half each way); zero for none.
    pub latency: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        // Enough for `-m 1000` plus hundreds of idle connections, well inside the default
        // open-file limit that the server raises at start-up.
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            latency: Duration::ZERO,
        }
    }
}

/// HTTP/2 streams one connection may have open at once (hyper's default too, but not
/// promised by it): with [`body::CHUNK`] slices and shared bytes, 100 connections of 200
/// streams asked stay within a few hundred kilobytes each (BENCHMARKS.md).
const MAX_STREAMS: u32 = 200;

/// What h2 may buffer per stream beyond what the client's window lets go: four slices.
/// hyper's default is 400 KB, which a client that opens its windows and never reads
/// turned into 80 MB per connection of 200 streams.
const MAX_SEND_BUF: usize = 4 * body::CHUNK;

/// A flag server's data, faults and logging: what every request needs.
pub struct FlagServer {
    pub data: FlagData,
    pub inject: Inject,
    /// No log line per request.
    pub quiet: bool,
    /// `--tls`: HTTPS, HTTP/2 or HTTP/1.1 by ALPN.
    pub tls: Option<tls::Tls>,
    /// What the answers may hold at once: bytes read, files open.
    pub budget: Budget,
    /// The figures of the gallery's live view.
    pub live: live::Live,
}

impl FlagServer {
    /// [`handle_from`](Self::handle_from) with no connection: tests call it without a
    /// socket.
    #[cfg(test)]
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ServeBody> {
        self.handle_from(req, None).await
    }

    /// Answers one request that came on the connection `origin`: the gallery's at once
    /// (see [`gallery`]); any other after the delay, maybe failed, else the flag, the
    /// listing or file ([`listing`]), or 404; then logs it. A flag request is counted in
    /// the live figures, per connection and client.
    ///
    /// It takes any request body type, so tests can call it without a socket.
    pub async fn handle_from<B>(
        &self,
        req: Request<B>,
        origin: Option<&Origin>,
    ) -> Response<ServeBody> {
        let files = origin.map(|origin| &origin.files);
        // The gallery and what it loads: no faults, not counted, not logged.
        if gallery::is_page(req.uri().path()) {
            return gallery::answer(self, &req, files).await;
        }
        // The clock is read for the log line only.
        let start = (!self.quiet).then(Instant::now);
        let version = req.version();
        let path = req.uri().path();
        let flag = parse_flag_path(path);
        // A flag request is in flight from now, through the delay, until it is answered.
        let _answering = flag.map(|_| self.live.answering(origin.map(|origin| &origin.peer)));
        let draw = self.inject.draw();
        if !draw.delay.is_zero() {
            // A generated flag is made during the delay, the server's think time, not
            // after it: made after, 194 of them at once held the last answers of
            // `--all --delay 0.5 -m 200` up to 50 ms past the delay.
            if let Some((cc, _)) = flag {
                self.data.prepare(cc);
            }
            tokio::time::sleep(draw.delay).await;
        }
        let response = if draw.fail {
            self.injected_error()
        } else if req.method() != Method::GET && req.method() != Method::HEAD {
            plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are served\n",
            )
        } else {
            match flag {
                Some((cc, kind)) => match self.data.get(cc, kind, &self.budget).await {
                    Ok(Some(served)) => files::respond(
                        served,
                        kind.content_type(),
                        req.headers(),
                        &self.budget,
                        files,
                    ),
                    Ok(None) => not_found(),
                    Err(data::Unavailable) => unavailable(),
                },
                // A folder's listing, or another file of --dir; else 404.
                None => listing::answer(self, &req, files).await,
            }
        };
        if let Some(start) = start {
            let label = match flag {
                Some((cc, FileKind::Gif)) => cc.to_ascii_uppercase(),
                Some((cc, FileKind::Metadata)) => format!("{} metadata", cc.to_ascii_uppercase()),
                None => path.to_string(),
            };
            let secs = start.elapsed().as_secs_f64();
            // The protocol only when it is not the usual HTTP/1.1: a user (or a test)
            // sees from the server's side that HTTP/2 was negotiated.
            let over = if version == hyper::Version::HTTP_2 {
                " over HTTP/2"
            } else {
                ""
            };
            log(format_args!(
                "{label} {} {secs:.2}s{over}",
                response.status().as_u16()
            ));
        }
        response
    }

    fn injected_error(&self) -> Response<ServeBody> {
        let status =
            StatusCode::from_u16(self.inject.error_status).unwrap_or(StatusCode::IM_A_TEAPOT);
        let mut response = plain(status, "injected error\n");
        if let Some(secs) = self.inject.retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        response
    }
}

/// The connection a request came on, as its answer needs it: passed to
/// [`FlagServer::handle_from`] rather than in each request's extensions, which would
/// cost every request a map of its own.
pub struct Origin {
    /// Its client, in the live figures.
    pub peer: live::Peer,
    /// The files its answers may hold open at once.
    pub files: ConnectionFiles,
}

/// Drives one connection until it ends, is closed for room, has had nothing to do for the
/// header timeout, has an answer its client stopped taking for the send timeout (see
/// [`conns`]), or the server stops. On stop, one that never sent a request is dropped at
/// once, and any other is asked to finish the answer it is sending and close, at once if
/// it is between requests (a client's kept-alive connection); the caller's grace bounds
/// the wait.
///
/// A macro, not a generic `async fn`: through one, rustc cannot prove the connection's
/// future `Send` (its requests borrow the server across an await; rust-lang/rust#110338).
macro_rules! drive {
    ($connection:expr, $conn:expr, $stopping:expr, $limits:expr) => {{
        let connection = $connection;
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            () = $conn.closed() => {}
            () = $stopping.cancelled() => {
                if $conn.has_asked() {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            () = $conn.idle_past($limits.header_timeout) => {
                // Nothing in flight, so it ends at once; but HTTP/2 first waits for the
                // client to answer a PING, which a silent client never does: a round
                // trip's grace, then it is dropped.
                connection.as_mut().graceful_shutdown();
                let grace = $limits.latency + Duration::from_secs(1);
                let _ = tokio::time::timeout(grace, connection).await;
            }
            // Its client takes nothing of what it asked for: dropped, its answers with it.
            () = $conn.stalled_past($limits.send_timeout) => {}
        }
    }};
}

/// Completes when the server stops while the connection has sent no request.
async fn unasked_when_stopping(conn: &Conn, stopping: &CancellationToken) {
    stopping.cancelled().await;
    if conn.has_asked() {
        std::future::pending::<()>().await;
    }
}

/// Serves connections from `listener` until `shutdown` completes, then asks the connections
/// still open to close (see `drive!`) and gives them up to `grace` before dropping them.
///
/// At most `limits.max_connections` are served at once: a newcomer past them waits in the
/// kernel's listen queue, not accepted, until a connection ends or one that has done
/// nothing for the longest is closed to make room for it (see [`conns`]).
pub async fn serve(
    listener: std::net::TcpListener,
    server: Arc<FlagServer>,
    limits: Limits,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!("cannot listen: {e}"));
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    let stopping = CancellationToken::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set does not grow over a long run.
        while connections.try_join_next().is_some() {}
        // A slot before accepting: past the cap, new clients wait in the listen queue
        // instead of taking a file descriptor each.
        let permit = tokio::select! {
            permit = room(&slots, &listener, &registry) => permit,
            () = &mut shutdown => break,
        };
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: not
                    // fatal. Back off briefly so a full table does not spin the loop.
                    if !server.quiet {
                        log(format_args!("accept failed: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = registry.add();
        let origin = Arc::new(Origin {
            peer: server.live.peer(client.ip()),
            files: ConnectionFiles::default(),
        });
        connections.spawn(serve_connection(
            stream,
            conn,
            origin,
            permit,
            server.clone(),
            limits,
            stopping.clone(),
        ));
    }
    stopping.cancel();
    let _ = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// A slot for the next connection: at once below the cap; at it, once a connection ends,
/// or, while a newcomer waits in the listen queue, once one has been closed for room.
async fn room(
    slots: &Arc<Semaphore>,
    listener: &TcpListener,
    registry: &Registry,
) -> OwnedSemaphorePermit {
    loop {
        tokio::select! {
            permit = slots.clone().acquire_owned() => {
                return permit.expect("the semaphore is never closed");
            }
            // Looked at every few milliseconds, only while at the cap.
            () = tokio::time::sleep(conns::UNASKED_GRACE / 4) => {
                if newcomer_waits(listener) {
                    // Its slot frees as the closed connection's task ends.
                    registry.evict_stalest();
                }
            }
        }
    }
}

/// Whether a connection waits in the listen queue, without accepting it.
fn newcomer_waits(listener: &TcpListener) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    poll(&mut fds, Some(&rustix::event::Timespec::default())).is_ok_and(|n| n > 0)
}

/// Serves one connection, holding its slot until its socket is closed.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    conn: Arc<Conn>,
    origin: Arc<Origin>,
    permit: OwnedSemaphorePermit,
    server: Arc<FlagServer>,
    limits: Limits,
    stopping: CancellationToken,
) {
    let _permit = permit;
    let tls = server.tls.clone();
    let asked = conn.clone();
    let bypass = latency::Bypass::default();
    let page_asked = bypass.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        // A whole request: its answer is prepared, then watched as it is sent.
        let preparing = asked.request();
        if gallery::is_page(req.uri().path()) {
            // The server's own page pays no `--latency` (see `latency`).
            page_asked.set();
        }
        let (server, origin) = (server.clone(), origin.clone());
        async move {
            let response = server.handle_from(req, Some(&origin)).await;
            Ok::<_, std::convert::Infallible>(response.map(|body| preparing.answer(body)))
        }
    });
    // With --latency, the server speaks to the delaying wrapper, not the socket.
    let (stream, closed): (Box<dyn Transport>, _) = if limits.latency.is_zero() {
        (Box::new(stream), None)
    } else {
        let (stream, closed) = latency::delayed(stream, limits.latency / 2, bypass);
        (Box::new(stream), Some(closed))
    };
    let served = async {
        if let Some(tls) = &tls {
            // The handshake within the header timeout, then HTTP/2 or HTTP/1.1, as ALPN
            // agreed.
            let handshake =
                tokio::time::timeout(limits.header_timeout, tls.acceptor.accept(stream));
            let Ok(Ok(stream)) = handshake.await else {
                return;
            };
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                conn.set_http2();
            }
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(StreamExecutor(conn.clone()));
            // The header timeout, as plain HTTP/1.1 has it below; HTTP/2 has none
            // (`drive!` closes it when idle).
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(MAX_STREAMS)
                .max_send_buf_size(MAX_SEND_BUF);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            drive!(connection, conn, stopping, limits);
            return;
        }
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        drive!(connection, conn, stopping, limits);
    };
    tokio::select! {
        () = served => {}
        // Closed for room, or the server stops, before any request: in the TLS
        // handshake, which `drive!` does not see yet.
        () = conn.closed() => {}
        () = unasked_when_stopping(&conn, &stopping) => {}
    }
    // The slot is held until the socket is closed, so that the cap bounds the sockets
    // open, with the wrapper as without it.
    if let Some(closed) = closed {
        closed.await;
    }
}

/// What a connection is served over: the socket, or the `--latency` wrapper around it.
trait Transport: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Transport for T {}

/// Pending connections the kernel may queue for the server (capped by `somaxconn`).
const BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with a deep accept queue.
///
/// `std` and `bind` helpers listen with a queue of 128 (tokio's, 1024): 194 clients
/// connecting at once overflowed the first, and the kernel then dropped handshakes that
/// only TCP's retransmit timers recovered, half a second later. Measured: one run in 40
/// of `--all -m 200 --delay 0.5` took 1.02 s instead of 0.55 s, with 12 listen overflows.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Restarting `serve` on its port must not wait out the old sockets' TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The settings of `flags-dl serve`, after the preset and the options are merged.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: IpAddr,
    pub port: u16,
    pub dir: Option<PathBuf>,
    pub delay: Option<DelayRange>,
    pub error_rate: f64,
    pub error_status: u16,
    pub retry_after: Option<u64>,
    pub seed: Option<u64>,
    pub quiet: bool,
    pub limits: Limits,
    /// Speak HTTPS (see [`tls`]).
    pub tls: bool,
    /// `--cert` and `--key`: the server's own certificate chain and key, in PEM.
    pub cert: Option<(PathBuf, PathBuf)>,
}

impl ServeConfig {
    fn flag_server(&self) -> anyhow::Result<FlagServer> {
        let data = match &self.dir {
            Some(dir) => FlagData::dir(dir)?,
            None => FlagData::generated(),
        };
        let mut inject = Inject::new(self.delay, self.error_rate, self.seed);
        inject.error_status = self.error_status;
        inject.retry_after = self.retry_after;
        let tls = match (&self.cert, self.tls) {
            (Some((cert, key)), true) => Some(tls::Tls::from_files(cert, key)?),
            (None, true) => Some(tls::Tls::generate(Some(&std::env::temp_dir()))?),
            (_, false) => None,
        };
        Ok(FlagServer {
            data,
            inject,
            quiet: self.quiet,
            tls,
            budget: Budget::default(),
            live: live::Live::default(),
        })
    }

    fn describe(
        &self,
        addr: SocketAddr,
        served: Option<&std::path::Path>,
        ca_file: Option<&std::path::Path>,
    ) -> String {
        let source = match (&self.dir, served) {
            // The book's layout: --dir names the folder above flags/.
            (Some(dir), Some(folder)) if folder.ends_with("flags") && !dir.ends_with("flags") => {
                format!(
                    "the files in {} (the flags/ inside {})",
                    folder.display(),
                    dir.display()
                )
            }
            (Some(dir), _) => format!("the files in {}", dir.display()),
            (None, _) => "194 generated flags".to_string(),
        };
        let scheme = if self.tls { "https" } else { "http" };
        let mut line = format!("Serving {source} at {scheme}://{addr}/flags");
        if let Some(ca) = ca_file {
            line += &format!(" (its CA for --cacert: {})", ca.display());
        }
        if let Some(delay) = self.delay.filter(|d| !d.max.is_zero()) {
            line += &format!(", {delay} delay");
        }
        if self.error_rate > 0.0 {
            // Rounded, so that 0.07 reads 7% and not 7.000000000000001%.
            let percent = (self.error_rate * 100_000.0).round() / 1000.0;
            line += &format!(", {percent}% errors ({})", self.error_status);
        }
        line + "; Ctrl-C stops it."
    }
}

/// Runs `flags-dl serve` in the foreground until Ctrl-C, SIGTERM or SIGHUP.
pub fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let mut server = config.flag_server()?;
    let fit = Fit::open_files(
        config.limits.max_connections,
        crate::limits::raise_open_files(),
    );
    if let Some(fds) = fit.lowered_by {
        log(format_args!(
            "flags-dl: warning: the open-file limit ({fds}) allows {} connections at once, not {}; serving {} (raise it with `ulimit -n`)",
            fit.connections, config.limits.max_connections, fit.connections
        ));
    }
    server.budget = Budget::new(budget::BYTES, fit.files);
    let limits = Limits {
        max_connections: fit.connections,
        ..config.limits
    };
    let server = Arc::new(server);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = listen(addr).map_err(|e| bind_error(addr, e))?;
        let addr = listener.local_addr()?;
        // Before the address is announced: a script that reads it and at once sends
        // SIGTERM must find the handler in place.
        let stop = stop_signal()?;
        // On stdout, and flushed, so that a script (or a test) that starts the server on
        // port 0 can read the address it got.
        // A CA file only when the server made its own (not with --cert).
        let ca = server
            .tls
            .as_ref()
            .map(|t| t.ca_file.as_path())
            .filter(|path| !path.as_os_str().is_empty());
        println!("{}", config.describe(addr, server.data.folder(), ca));
        use std::io::Write;
        std::io::stdout().flush()?;
        if !config.quiet {
            let scheme = if config.tls { "https" } else { "http" };
            log(format_args!(
                "Open {scheme}://{addr}/ in a browser: the flags, and the requests in flight as clients run."
            ));
        }
        let ca_file = server.tls.as_ref().map(|t| t.ca_file.clone());
        // Half a second for the answers being sent to finish (a flag takes milliseconds),
        // plus the runtime's 200 ms below: stopped within the second the README promises,
        // whatever the connections are doing.
        let grace = Duration::from_millis(500);
        serve(listener, server, limits, grace, stop).await;
        log(format_args!("Server stopped."));
        if let Some(ca_file) = ca_file {
            // The CA was this run's own.
            let _ = std::fs::remove_file(ca_file);
        }
        Ok(())
    });
    // A read still on the blocking pool (a slow disk) must not keep the process alive
    // past the second Ctrl-C promises.
    runtime.shutdown_timeout(Duration::from_millis(200));
    served
}

/// How many connections and open files fit under the open-file limit.
#[derive(Debug, PartialEq, Eq)]
struct Fit {
    connections: usize,
    /// Files the answers may hold open at once.
    files: usize,
    /// The limit, when it lowered the connections asked for.
    lowered_by: Option<u64>,
}

impl Fit {
    /// A socket per connection, two descriptors per file being opened (its folder's and
    /// its own), and a few for the server itself: so that running out of descriptors is a
    /// connection waiting in the listen queue, never a file that cannot be opened.
    fn open_files(asked: usize, limit: Option<u64>) -> Fit {
        const OWN: usize = 32;
        let Some(fds) = limit else {
            return Fit {
                connections: asked,
                files: 1024,
                lowered_by: None,
            };
        };
        let fds_usize = usize::try_from(fds).unwrap_or(usize::MAX);
        let files = (fds_usize / 8).clamp(4, 1024);
        let room = fds_usize.saturating_sub(2 * files + OWN).max(1);
        Fit {
            connections: asked.min(room),
            files,
            lowered_by: (room < asked).then_some(fds),
        }
    }
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "port {} is already in use on {}: stop the program that holds it, or choose another with --port",
            addr.port(),
            addr.ip()
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow::anyhow!(
            "cannot listen on {}: that address is not on this machine; try --bind 127.0.0.1",
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "not allowed to listen on port {}: choose a port above 1023 with --port",
            addr.port()
        ),
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
    }
}

/// Registers for Ctrl-C and, on Unix, SIGTERM and SIGHUP now, and returns what completes
/// on any of them. A closed terminal (or `kill -HUP`) stops the server as cleanly, its CA
/// file removed, where the default action left it behind.
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut signals = crate::interrupt::StopSignals::register()?;
    Ok(async move {
        signals.recv().await;
    })
}

/// Writes one line to stderr, ignoring failure: a server whose log reader has gone away
/// (`flags-dl serve | head`, a closed terminal) must go on answering, where `eprintln!`
/// would panic in the middle of a request.
fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The embedded server: a flag server on an ephemeral loopback port, on a thread and
/// runtime of its own so that it never competes with the client's executor for a worker.
/// Dropping it stops the server.
pub struct Embedded {
    /// `http://127.0.0.1:<port>/flags`, or `https://localhost:<port>/flags` with TLS.
    pub base_url: String,
    /// With TLS, the CA that signed its certificate, for the run to trust.
    pub ca: Option<rustls_pki_types::CertificateDer<'static>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the embedded server is asked to be.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedOptions {
    pub delay: Option<DelayRange>,
    pub error_rate: f64,
    /// The round trip of `--latency` (zero for none).
    pub latency: Duration,
    pub tls: bool,
}

/// Starts the embedded server with the given faults.
pub fn start_embedded(options: EmbeddedOptions) -> anyhow::Result<Embedded> {
    let EmbeddedOptions {
        delay,
        error_rate,
        latency,
        tls,
    } = options;
    let tls = tls.then(|| tls::Tls::generate(None)).transpose()?;
    let ca = tls.as_ref().map(|t| t.ca_der.clone());
    let scheme_host = if tls.is_some() {
        "https://localhost"
    } else {
        "http://127.0.0.1"
    };
    // Bound here, not on the server's thread, so the address is known (and a failure
    // reported) before this function returns.
    let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("flag-server".into())
        .spawn(move || {
            let server = Arc::new(FlagServer {
                data: FlagData::generated(),
                inject: Inject::new(delay, error_rate, None),
                quiet: true,
                tls,
                budget: Budget::default(),
                live: live::Live::default(),
            });
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds unless the OS is out of resources");
            runtime.block_on(async move {
                let stopped = async {
                    let _ = stopped.await;
                };
                let limits = Limits {
                    latency,
                    ..Limits::default()
                };
                serve(listener, server, limits, Duration::ZERO, stopped).await;
            });
        })?;
    Ok(Embedded {
        base_url: format!("{scheme_host}:{}/flags", addr.port()),
        ca,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;

    async fn get(server: &FlagServer, path: &str) -> (StatusCode, Bytes) {
        let req = Request::get(path).body(()).unwrap();
        let response = server.handle(req).await;
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }

    #[tokio::test]
    async fn generated_data_answers_flags_and_metadata_and_404s_the_rest() {
        let server = FlagServer {
            data: FlagData::generated(),
            inject: Inject::none(),
            quiet: true,
            tls: None,
            budget: Budget::default(),
            live: live::Live::default(),
        };
        let (status, body) = get(&server, "/flags/br/br.gif").await;
        assert_eq!((status, &body[..6]), (StatusCode::OK, &b"GIF89a"[..]));
        let (status, body) = get(&server, "/flags/br/metadata.json").await;
        assert_eq!(status, StatusCode::OK);
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("\"country\":\"Brazil\""));
        for path in [
            "/flags/xx/xx.gif",
            "/flags/../Cargo.toml",
            "/favicon.ico",
            "/flags/br/br.png",
        ] {
            assert_eq!(get(&server, path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn connections_and_files_fit_under_the_open_file_limit() {
        assert_eq!(
            Fit::open_files(4096, Some(1_048_576)),
            Fit {
                connections: 4096,
                files: 1024,
                lowered_by: None
            }
        );
        let fit = Fit::open_files(4096, Some(1024));
        assert_eq!((fit.files, fit.lowered_by), (128, Some(1024)));
        assert_eq!(fit.connections, 1024 - 2 * 128 - 32);
        assert_eq!(Fit::open_files(4096, Some(20)).connections, 1, "always one");
    }

    #[tokio::test]
    async fn error_rate_one_fails_every_request_with_the_chosen_status() {
        let mut inject = Inject::new(None, 1.0, Some(1));
        inject.error_status = 503;
        inject.retry_after = Some(2);
        let server = FlagServer {
            data: FlagData::generated(),
            inject,
            quiet: true,
            tls: None,
            budget: Budget::default(),
            live: live::Live::default(),
        };
        let response = server
            .handle(Request::get("/flags/br/br.gif").body(()).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "2");
    }
}
