//! Issue 10: the failure promises hold over HTTP/2. A reset stream or a GOAWAY is a
//! transient failure of that request only; a stream that never answers times out; a body
//! past `--max-size` is refused with nothing saved; Ctrl-C stops a run at once. Async mode
//! against [`H2Server`], an HTTPS server that speaks HTTP/2 only (ALPN `h2`), so a flag it
//! served proves the request went over HTTP/2.
//!
//! The server is the `h2` crate's, over tokio-rustls, with a certificate from a CA the
//! test makes; its base URL's first segment names what it does (see [`Fault`]). It counts
//! connections and the requests of each path. Started with [`H2Server::goaway_after`], it
//! lets each connection take a number of streams and refuses the rest with a GOAWAY (see
//! [`Gate`]).
//!
//! reqwest sends a request refused with REFUSED_STREAM or a GOAWAY without error again by
//! itself, twice at most; what it gives up on reaches flags-dl, which must not lose a flag
//! for it (RFC 9113 §8.7: such a request was not processed).

use crate::fault_server::gif_bytes;
use crate::harness::{bin_path, command, flags_dl, parse_ndjson, scratch, show, text, Spawned};
use bytes::Bytes;
use futures_util::FutureExt;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the server does, by the first segment of the path.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `/ok/...`: the GIF.
    Ok,
    /// `/reset/...`: the first request of each path gets RST_STREAM(INTERNAL_ERROR).
    ResetOnce,
    /// `/goaway/...`: each connection answers two requests, then sends GOAWAY and closes.
    GoAwayAfterTwo,
    /// `/hang/...`: the request is taken and never answered.
    Hang,
    /// `/big/...`: a GIF of 2 MiB, past a `--max-size` of 1M.
    Big,
    /// `/bigstream/...`: the same, without a `content-length`.
    BigUnsized,
    /// `/refused/...`: the first three requests of each path get
    /// RST_STREAM(REFUSED_STREAM), one more than reqwest sends again by itself.
    RefusedThrice,
    /// `/resetall/...`: every request gets RST_STREAM(INTERNAL_ERROR).
    ResetAlways,
    /// `/stall/...`: the headers, then nothing, until the client goes away.
    StallAfterHeaders,
}

impl Fault {
    fn of(path: &str) -> Fault {
        match path.split('/').nth(1) {
            Some("reset") => Fault::ResetOnce,
            Some("goaway") => Fault::GoAwayAfterTwo,
            Some("hang") => Fault::Hang,
            Some("big") => Fault::Big,
            Some("bigstream") => Fault::BigUnsized,
            Some("refused") => Fault::RefusedThrice,
            Some("resetall") => Fault::ResetAlways,
            Some("stall") => Fault::StallAfterHeaders,
            _ => Fault::Ok,
        }
    }
}

struct H2Server {
    port: u16,
    ca: tempfile::NamedTempFile,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    connections: Arc<AtomicUsize>,
    /// Streams refused by a GOAWAY, all connections together (see [`Gate`]).
    refused: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl H2Server {
    fn start() -> H2Server {
        H2Server::with_streams_per_connection(usize::MAX)
    }

    /// A server that takes `streams` streams on each connection, answers them, and then
    /// sends a GOAWAY that refuses the ones the client sent after them.
    fn goaway_after(streams: usize) -> H2Server {
        H2Server::with_streams_per_connection(streams)
    }

    fn with_streams_per_connection(streams: usize) -> H2Server {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let mut ca_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut ca_file, ca.pem().as_bytes()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        {
            let (hits, connections, refused) = (hits.clone(), connections.clone(), refused.clone());
            runtime.spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::Relaxed);
                    let (acceptor, hits, refused) =
                        (acceptor.clone(), hits.clone(), refused.clone());
                    tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let gate = Gate::new(tls, streams);
                            let held = gate.held.clone();
                            serve(gate, streams, hits).await;
                            refused.fetch_add(held.load(Ordering::Relaxed), Ordering::Relaxed);
                        }
                    });
                }
            });
        }
        H2Server {
            port,
            ca: ca_file,
            hits,
            connections,
            refused,
            runtime: Some(runtime),
        }
    }

    fn base_url(&self, fault: &str) -> String {
        format!("https://localhost:{}/{fault}", self.port)
    }

    fn cacert(&self) -> String {
        self.ca.path().display().to_string()
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn requests(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves one connection: each request as its path's [`Fault`] says. After `streams`
/// requests, waits for the client to send one more (which the [`Gate`] holds back), and
/// then closes the connection with a GOAWAY: every stream the client sent after the
/// answered ones is refused, never seen by h2.
async fn serve(gate: Gate, streams: usize, hits: Arc<Mutex<HashMap<String, usize>>>) {
    let held = gate.held.clone();
    let Ok(mut connection) = h2::server::handshake(gate).await else {
        return;
    };
    let mut answered = 0;
    let mut sending = tokio::task::JoinSet::new();
    while let Some(Ok((request, respond))) = connection.accept().await {
        let path = request.uri().path().to_string();
        let hit = {
            let mut hits = hits.lock().unwrap();
            let hit = hits.entry(path.clone()).or_insert(0);
            *hit += 1;
            *hit
        };
        let fault = Fault::of(&path);
        if let Some(task) = answer(fault, &path, hit, respond) {
            sending.spawn(async move {
                let _ = task.await;
            });
        }
        answered += 1;
        if matches!(fault, Fault::GoAwayAfterTwo) && answered == 2 {
            connection.graceful_shutdown();
        }
        if answered == streams {
            // Driving the connection sends the answers; the client's next stream shows
            // that it still sends on this connection. It may also close first (no codes
            // left), which ends the wait.
            let mut ping_pong = connection.ping_pong().expect("taken once");
            let ready = async {
                held.notified().await;
                while sending.join_next().await.is_some() {}
                // The answers are queued; h2 writes them at its next polls, and a PING's
                // answer comes back after those.
                let _ = ping_pong.ping(h2::Ping::opaque()).await;
            };
            tokio::select! {
                biased;
                accepted = connection.accept() => {
                    assert!(!matches!(accepted, Some(Ok(_))), "the gate let a stream past {streams}");
                    return;
                }
                () = ready => {}
            }
            // The answers were written by the polls above; the GOAWAY names the last
            // answered stream, and closes the connection at once.
            let accepted = connection.accept().now_or_never();
            assert!(
                !matches!(accepted, Some(Some(Ok(_)))),
                "the gate let a stream past {streams}"
            );
            connection.abrupt_shutdown(h2::Reason::NO_ERROR);
            break;
        }
    }
    // The answers still being sent need the connection driven until it closes.
    let _ = std::future::poll_fn(|cx| connection.poll_closed(cx)).await;
}

/// Answers one request as `fault` says (`hit`: how many requests of its path so far); the
/// task sending its body, if it has one.
fn answer(
    fault: Fault,
    path: &str,
    hit: usize,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut content_length = true;
    let body = match fault {
        Fault::ResetOnce if hit == 1 => {
            respond.send_reset(h2::Reason::INTERNAL_ERROR);
            return None;
        }
        Fault::RefusedThrice if hit <= 3 => {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            return None;
        }
        Fault::ResetAlways => {
            respond.send_reset(h2::Reason::INTERNAL_ERROR);
            return None;
        }
        Fault::Hang => {
            // Kept open, unanswered, until the client goes away.
            tokio::spawn(async move {
                let _respond = respond;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
            return None;
        }
        Fault::Big | Fault::BigUnsized => {
            content_length = matches!(fault, Fault::Big);
            let mut gif = b"GIF89a".to_vec();
            gif.resize(2 << 20, b'x');
            gif
        }
        _ => gif_bytes(path),
    };
    let mut response = http::Response::builder()
        .status(200)
        .header("content-type", "image/gif");
    if content_length {
        response = response.header("content-length", body.len());
    }
    let Ok(stream) = respond.send_response(response.body(()).unwrap(), false) else {
        return None;
    };
    match fault {
        Fault::StallAfterHeaders => {
            // Kept open, with no body, until the client goes away.
            tokio::spawn(async move {
                let _stream = stream;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
        _ => return Some(tokio::spawn(send_body(stream, body.into()))),
    }
    None
}

/// Sends a body as the client's flow-control window gives room: when this ends, all of it
/// has been handed to the connection, to be written at its next poll.
async fn send_body(mut stream: h2::SendStream<Bytes>, mut rest: Bytes) {
    while !rest.is_empty() {
        stream.reserve_capacity(rest.len());
        let Some(Ok(room)) = std::future::poll_fn(|cx| stream.poll_capacity(cx)).await else {
            return;
        };
        let chunk = rest.split_to(room.min(rest.len()));
        if stream.send_data(chunk, false).is_err() {
            return;
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// The client's side of a connection as h2 reads it, with the streams past a number left
/// out: their frames never reach h2, and the other frames (flow control, settings, the
/// answered streams') do. So h2 has seen exactly those streams when the server sends its
/// GOAWAY, and every one left out is refused by it (RFC 9113 §6.8): counted in `held`.
struct Gate {
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    /// Read from the client, not yet a whole frame.
    raw: Vec<u8>,
    /// Whole frames for h2.
    out: Vec<u8>,
    preface_seen: bool,
    streams_left: usize,
    /// The last stream let through: a stream above it, past the limit, is left out.
    last_passed: u32,
    /// Streams left out; notified at each.
    held: Arc<Held>,
}

#[derive(Default)]
struct Held {
    count: AtomicUsize,
    notify: tokio::sync::Notify,
}

impl Held {
    fn load(&self, order: Ordering) -> usize {
        self.count.load(order)
    }

    async fn notified(&self) {
        // `notify_one` stores a permit, so a stream held before this wait still wakes it.
        self.notify.notified().await
    }
}

impl Gate {
    const PREFACE: usize = 24;
    const HEADERS: u8 = 0x1;

    fn new(tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>, streams: usize) -> Gate {
        Gate {
            tls,
            raw: Vec::new(),
            out: Vec::new(),
            preface_seen: false,
            streams_left: streams,
            last_passed: 0,
            held: Arc::default(),
        }
    }

    /// Moves the whole frames read so far to `out`, but those of streams left out.
    fn filter(&mut self) {
        let mut at = 0;
        if !self.preface_seen {
            if self.raw.len() < Self::PREFACE {
                return;
            }
            self.preface_seen = true;
            self.out.extend_from_slice(&self.raw[..Self::PREFACE]);
            at = Self::PREFACE;
        }
        while let Some(header) = self.raw.get(at..at + 9) {
            let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let end = at + 9 + length;
            if end > self.raw.len() {
                break;
            }
            let id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & !(1 << 31);
            // GET has no trailers: a HEADERS frame above the last stream opens one.
            let opens = header[3] == Self::HEADERS && id > self.last_passed;
            if opens && self.streams_left > 0 {
                self.streams_left -= 1;
                self.last_passed = id;
            } else if opens {
                self.held.count.fetch_add(1, Ordering::Relaxed);
                self.held.notify.notify_one();
            }
            if id <= self.last_passed {
                self.out.extend_from_slice(&self.raw[at..end]);
            }
            at = end;
        }
        self.raw.drain(..at);
    }
}

impl AsyncRead for Gate {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let gate = self.get_mut();
        loop {
            if !gate.out.is_empty() {
                let n = gate.out.len().min(buf.remaining());
                buf.put_slice(&gate.out[..n]);
                gate.out.drain(..n);
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut gate.tls).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    gate.raw.extend_from_slice(read.filled());
                    gate.filter();
                }
                other => return other,
            }
        }
    }
}

impl AsyncWrite for Gate {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
}

fn run(
    server: &H2Server,
    fault: &str,
    args: &[&str],
) -> (std::process::Output, crate::harness::Scratch) {
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(Duration::from_secs(30))
        .current_dir(sandbox.path())
        .args([
            "-s",
            &server.base_url(fault),
            "--cacert",
            &server.cacert(),
            "--json",
        ])
        .args(args)
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    (output, sandbox)
}

/// Checks that the run failed for BR alone with `kind`, over HTTP/2, and left nothing in
/// the output folder: no file, no temporary.
fn expect_br_failed_leaving_nothing(
    output: &std::process::Output,
    sandbox: &crate::harness::Scratch,
    kind: &str,
) {
    assert_eq!(output.status.code(), Some(1), "{}", show(output));
    let json = parse_ndjson(&text(&output.stdout));
    let line = &json.codes["br"];
    assert_eq!(line.error_kind.as_deref(), Some(kind), "{}", show(output));
    assert_eq!(line.http_version.as_deref(), Some("2"), "{}", show(output));
    assert_eq!(
        std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()),
        0,
        "no file, no temporary"
    );
}

/// Runs BR, CN and IN through `fault` with `--retries <retries>`, and checks that all
/// three were saved whole, each from `hits` requests to its path. Gives the NDJSON.
fn three_saved_after(
    server: &H2Server,
    fault: &str,
    retries: &str,
    hits: usize,
    why: &str,
) -> crate::harness::ndjson::JsonRun {
    let (output, sandbox) = run(server, fault, &["BR", "CN", "IN", "--retries", retries]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let json = parse_ndjson(&text(&output.stdout));
    assert_eq!(json.summary.ok, 3, "{}", show(&output));
    for cc in ["br", "cn", "in"] {
        let path = format!("/{fault}/{cc}/{cc}.gif");
        assert_eq!(server.hits(&path), hits, "{path}: {why}");
        let saved = std::fs::read(sandbox.out().join(format!("{cc}.gif"))).unwrap();
        assert_eq!(saved, gif_bytes(&path));
    }
    json
}

/// Checks that the run saved all 194 flags and nothing else; gives its NDJSON.
fn all_194_saved(
    output: &std::process::Output,
    sandbox: &crate::harness::Scratch,
) -> crate::harness::ndjson::JsonRun {
    let json = parse_ndjson(&text(&output.stdout));
    assert_eq!(
        (json.summary.ok, json.summary.error),
        (194, 0),
        "{}",
        show(output)
    );
    assert_eq!(std::fs::read_dir(sandbox.out()).unwrap().count(), 194);
    json
}

#[test]
fn a_reset_stream_is_sent_again_and_only_that_request() {
    let server = H2Server::start();
    let json = three_saved_after(&server, "reset", "2", 2, "reset once, then served");
    assert_eq!(server.requests(), 6, "no other request was sent again");
    for (cc, line) in &json.codes {
        assert_eq!(
            line.attempts, 2,
            "{cc}: the reset counted as one failed attempt"
        );
        assert_eq!(line.http_version.as_deref(), Some("2"), "{cc}");
    }
}

#[test]
fn a_goaway_moves_the_other_requests_to_a_new_connection_and_loses_none() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "goaway", &["--all", "-m", "20"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let json = all_194_saved(&output, &sandbox);
    let retried = json.codes.values().filter(|line| line.attempts > 1).count();
    // hyper sends the streams past the GOAWAY again on a new connection by itself.
    println!("{retried} codes took more than one attempt");
    assert!(
        json.codes
            .values()
            .all(|line| line.http_version.as_deref() == Some("2")),
        "{}",
        show(&output)
    );
    // Each sent again at once, not after a timeout (10 s by default).
    assert!(json.summary.elapsed_s < 5.0, "{}", show(&output));
    let connections = server.connections.load(Ordering::Relaxed);
    assert!(
        connections >= 97,
        "two answers per connection: {connections} connections"
    );
}

#[test]
fn a_stream_never_answered_times_out_as_over_http11() {
    let server = H2Server::start();
    let started = Instant::now();
    let (output, sandbox) = run(&server, "hang", &["BR", "--timeout", "1", "--retries", "0"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}",
        show(&output)
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(r#""error_kind":"timeout""#),
        "{}",
        show(&output)
    );
    assert_eq!(server.hits("/hang/br/br.gif"), 1);
    assert_eq!(std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()), 0);
}

#[test]
fn a_body_past_max_size_is_refused_and_nothing_is_left() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "big", &["BR", "--max-size", "1M"]);
    expect_br_failed_leaving_nothing(&output, &sandbox, "too_large");
}

#[test]
fn a_body_past_max_size_without_content_length_is_refused_and_nothing_is_left() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "bigstream", &["BR", "--max-size", "1M"]);
    expect_br_failed_leaving_nothing(&output, &sandbox, "too_large");
}

#[test]
fn streams_refused_by_an_abrupt_goaway_are_sent_again_and_no_flag_is_lost() {
    // Each connection takes 20 streams: a request sent again lands among the first 20 of
    // a new connection, so nothing is refused more often than it is sent again.
    let server = H2Server::goaway_after(20);
    let (output, sandbox) = run(
        &server,
        "ok",
        &["--all", "-m", "20", "--retries", "0", "--timeout", "60"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let refused = server.refused.load(Ordering::Relaxed);
    assert!(
        refused > 0,
        "no stream was refused: the test proves nothing"
    );
    let json = all_194_saved(&output, &sandbox);
    for (cc, line) in &json.codes {
        assert_eq!(line.attempts, 1, "{cc}: a refused stream is not an attempt");
    }
    // A refused stream never reached the server: each path was answered once, so each
    // refused request was sent again.
    assert_eq!(server.requests(), 194, "{refused} refused");
    assert!(server.connections.load(Ordering::Relaxed) >= 194 / 20);
    // Sent again at once, not after a timeout.
    assert!(json.summary.elapsed_s < 30.0, "{}", show(&output));
}

#[test]
fn a_stream_refused_more_often_than_reqwest_resends_costs_no_attempt() {
    let server = H2Server::start();
    let json = three_saved_after(
        &server,
        "refused",
        "0",
        4,
        "refused three times, then served",
    );
    for cc in ["br", "cn", "in"] {
        assert_eq!(
            json.codes[cc].attempts, 1,
            "{cc}: refusals are not attempts"
        );
    }
}

#[test]
fn a_stream_reset_on_every_attempt_fails_as_connection_closed_in_our_words() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "resetall", &["BR", "CN"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let json = parse_ndjson(&text(&output.stdout));
    assert_eq!(json.summary.error, 2, "{}", show(&output));
    for cc in ["br", "cn"] {
        let line = &json.codes[cc];
        assert_eq!(
            line.attempts,
            3,
            "the default two retries: {}",
            show(&output)
        );
        assert_eq!(line.error_kind.as_deref(), Some("connection_closed"));
        assert_eq!(
            line.error.as_deref(),
            Some("the server reset the stream (INTERNAL_ERROR) (after 3 attempts)")
        );
        assert_eq!(server.hits(&format!("/resetall/{cc}/{cc}.gif")), 3);
    }
    assert_eq!(std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()), 0);

    // `-v` says the same, without --json.
    let sandbox = scratch();
    let output = flags_dl()
        .current_dir(sandbox.path())
        .args([
            "BR",
            "-v",
            "--retries",
            "0",
            "-s",
            &server.base_url("resetall"),
        ])
        .args(["--cacert", &server.cacert(), "-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        all.contains("the server reset the stream (INTERNAL_ERROR)"),
        "{}",
        show(&output)
    );
}

#[test]
fn a_body_that_stalls_after_the_headers_times_out() {
    let server = H2Server::start();
    let started = Instant::now();
    let (output, sandbox) = run(
        &server,
        "stall",
        &["BR", "--timeout", "1", "--retries", "0"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}",
        show(&output)
    );
    expect_br_failed_leaving_nothing(&output, &sandbox, "timeout");
}

#[test]
fn ctrl_c_stops_an_http2_run_at_once_and_leaves_nothing() {
    let server = H2Server::start();
    let sandbox = scratch();
    let mut cmd = command(bin_path());
    cmd.current_dir(sandbox.path())
        .args([
            "BR",
            "CN",
            "--timeout",
            "20",
            "-s",
            &server.base_url("hang"),
        ])
        .args(["--cacert", &server.cacert(), "-o"])
        .arg(sandbox.out());
    let mut child = Spawned::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests() < 2 {
        assert!(Instant::now() < deadline, "the requests never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal("INT");
    let status = child.wait(Duration::from_secs(5));
    let (stdout, stderr) = child.kill();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("2 cancelled"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()),
        0,
        "no temporary"
    );
}
