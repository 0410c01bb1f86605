//! A fault-injecting HTTP/1.1 server for the reliability tests: it misbehaves on purpose,
//! in the ways real servers and networks do and a well-behaved server never would.
//!
//! It works at the raw TCP level, on std threads (one to accept, one per connection): it
//! reads the request head, then writes exactly the bytes the path's [`Scenario`] calls for
//! (a body shorter than its `Content-Length`, an endless body, one byte every 500 ms, a
//! close with no answer at all...). It answers one request per connection, and every
//! answer it composes carries `Connection: close` (except [`Scenario::GifKeepAlive`]'s),
//! so each request of the client is a connection and a hit of its own.
//!
//! Flags are at `<base_url>/<cc>/<cc>.gif` and metadata at `<base_url>/<cc>/metadata.json`
//! (`cc` lower case); a path with no scenario gets a 404.
//! The server counts hits per path, with the time of each, and the body bytes it managed
//! to send, so a test can assert how many requests a client made, how far apart, and
//! whether it abandoned a body early. Dropping the server stops it, and fails the test if
//! a path it was given a scenario for was never asked for (a test whose run never reached
//! its server proves nothing), or if a path the test marked [`FaultServer::unrequested`]
//! was.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// 200 `image/gif` with these bytes and the right `Content-Length`.
    Gif(Vec<u8>),
    /// 200 `image/gif` announcing 12,000 bytes, then only 3,000 of them, then close.
    Truncated,
    /// 200 `image/gif`, chunked, with no `Content-Length`: this many bytes generated on the
    /// fly in 64 KiB chunks, never buffered, until sent or the client goes away.
    Oversized(u64),
    /// The same with a `Content-Length` announcing the size.
    OversizedDeclared(u64),
    /// 200 `image/gif` announcing 12,000 bytes, then one byte every 500 ms, forever.
    Drip,
    /// Read the request, then send nothing and keep the connection open (up to 60 s).
    Hang,
    /// Read the request, then close without a byte of answer.
    CloseNoResponse,
    /// Close with the request left unread, which makes the kernel reset the connection
    /// (an RST, not a FIN): "connection reset by peer" on the client.
    Reset,
    /// 200 `image/gif` like [`Scenario::Gif`], but kept alive (no `Connection: close`),
    /// and then closed at once anyway, as a server with a short keep-alive timeout does.
    GifKeepAlive(Vec<u8>),
    /// This status, with a short `text/plain` body.
    Status(u16),
    /// 503 Service Unavailable with `Retry-After: <secs>`.
    RetryAfter(u64),
    /// 500 Internal Server Error with `Retry-After: <secs>`: retried after that wait, but,
    /// not being a 429 or 503, without pausing the run's other requests.
    ServerErrorRetryAfter(u64),
    /// 302 to the very same path.
    RedirectLoop,
    /// 200 `text/html` with a small page.
    Html,
    /// 404 Not Found.
    NotFound,
    /// 200 `application/json` with these bytes (JSON or not).
    Metadata(Vec<u8>),
    /// Exactly these bytes, whatever they are, then close.
    Raw(Vec<u8>),
    /// The n-th hit of the path (from 0) gets the n-th scenario; the last one repeats.
    Sequence(Vec<Scenario>),
}

impl Scenario {
    /// 200 with `{"country": <name>}`, the name JSON-escaped.
    pub fn country(name: &str) -> Scenario {
        Scenario::Metadata(
            serde_json::json!({ "country": name })
                .to_string()
                .into_bytes(),
        )
    }
}

/// The path of a code's flag: `/<cc>/<cc>.gif`, lower case.
pub fn flag_path(cc: &str) -> String {
    let cc = cc.to_ascii_lowercase();
    format!("/{cc}/{cc}.gif")
}

/// The path of a code's metadata: `/<cc>/metadata.json`, lower case.
pub fn metadata_path(cc: &str) -> String {
    format!("/{}/metadata.json", cc.to_ascii_lowercase())
}

/// A small valid GIF89a (1x1, two colours) that carries `tag` in a comment extension, so
/// that the GIFs of different codes differ and a file saved under the wrong name shows.
pub fn gif_bytes(tag: &str) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]); // 1x1, a global table of 2 colours
    gif.extend_from_slice(&[0, 0, 0, 0xff, 0xff, 0xff]);
    let comment = format!("flags-dl fault server: {tag}");
    gif.extend_from_slice(&[0x21, 0xfe, comment.len() as u8]);
    gif.extend_from_slice(comment.as_bytes());
    gif.push(0);
    gif.extend_from_slice(&[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0]); // image descriptor
    gif.extend_from_slice(&[2, 2, 0x44, 0x01, 0]); // LZW data of one pixel
    gif.push(0x3b);
    gif
}

/// A running fault server on 127.0.0.1, stopped when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Scenario>>,
    /// Paths no request may come for, routed or not.
    unrequested: Mutex<HashSet<String>>,
    hits: Mutex<HashMap<String, Vec<Instant>>>,
    sent: Mutex<HashMap<String, u64>>,
    stop: AtomicBool,
}

impl FaultServer {
    /// Starts a server on a free loopback port that answers 404 to everything.
    pub fn start() -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        let accept = thread::Builder::new()
            .name("fault-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_state.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = accept_state.clone();
                    let _ = thread::Builder::new()
                        .name("fault-conn".into())
                        .stack_size(128 * 1024)
                        .spawn(move || serve_connection(stream, &state));
                }
            })
            .unwrap();
        FaultServer {
            addr,
            state,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:<port>`: the base URL to give flags-dl with `-s`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers `path` (query excluded) with `scenario`. Unless it is marked
    /// [`FaultServer::unrequested`], dropping the server fails the test if no request for
    /// it came.
    pub fn route(&self, path: &str, scenario: Scenario) -> &Self {
        lock(&self.state.routes).insert(path.to_string(), scenario);
        self
    }

    /// Answers the flag of `cc` with `scenario`.
    pub fn flag(&self, cc: &str, scenario: Scenario) -> &Self {
        self.route(&flag_path(cc), scenario)
    }

    /// Answers the metadata of `cc` with `scenario`.
    pub fn metadata(&self, cc: &str, scenario: Scenario) -> &Self {
        self.route(&metadata_path(cc), scenario)
    }

    /// Marks `path` as one no request may come for: dropping the server fails the test if
    /// one did.
    pub fn unrequested(&self, path: &str) -> &Self {
        lock(&self.state.unrequested).insert(path.to_string());
        self
    }

    /// How many requests for `path` were read.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.state.hits).get(path).map_or(0, Vec::len)
    }

    /// When each request for `path` was read, in order.
    pub fn hit_times(&self, path: &str) -> Vec<Instant> {
        lock(&self.state.hits)
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// Requests read for any path.
    pub fn total_hits(&self) -> usize {
        lock(&self.state.hits).values().map(Vec::len).sum()
    }

    /// Body bytes written for `path` (summed over its hits) before the client went away.
    pub fn body_bytes_sent(&self, path: &str) -> u64 {
        lock(&self.state.sent).get(path).copied().unwrap_or(0)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        // A test already failing says why; a second panic would abort the process.
        if thread::panicking() {
            return;
        }
        let unrequested = lock(&self.state.unrequested);
        let mut unreached: Vec<String> = lock(&self.state.routes)
            .keys()
            .filter(|path| self.hits(path) == 0 && !unrequested.contains(*path))
            .cloned()
            .collect();
        unreached.sort();
        assert!(
            unreached.is_empty(),
            "the fault server was never asked for {unreached:?}: the run did not reach it"
        );
        let mut asked: Vec<&String> = unrequested.iter().filter(|p| self.hits(p) > 0).collect();
        asked.sort();
        assert!(
            asked.is_empty(),
            "the fault server was asked for {asked:?}, which the test expects no request for"
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Peeks at one request head, leaving it unread (so that [`Scenario::Reset`] can close
/// with it unread); returns the path (query excluded) and the head's length. `None` if the
/// client sent no complete head: a bare connect, as flags-dl's reachability check makes.
fn peek_request(stream: &mut TcpStream, state: &State) -> Option<(String, usize)> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 64 * 1024];
    let len = loop {
        let n = stream.peek(&mut buf).ok().filter(|n| *n > 0)?;
        if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if n == buf.len() || Instant::now() > deadline || state.stop.load(Ordering::SeqCst) {
            return None;
        }
        // Part of the head is in: peek again once more may have come.
        thread::sleep(Duration::from_millis(5));
    };
    let head = String::from_utf8_lossy(&buf[..len]);
    let target = head.lines().next()?.split_whitespace().nth(1)?;
    let path = target.split('?').next().unwrap_or_default().to_string();
    Some((path, len))
}

fn serve_connection(mut stream: TcpStream, state: &State) {
    let Some((path, head_len)) = peek_request(&mut stream, state) else {
        return;
    };
    if state.stop.load(Ordering::SeqCst) {
        return;
    }
    let hit = {
        let mut hits = lock(&state.hits);
        let times = hits.entry(path.clone()).or_default();
        times.push(Instant::now());
        times.len() - 1
    };
    let scenario = lock(&state.routes)
        .get(&path)
        .cloned()
        .unwrap_or(Scenario::NotFound);
    let scenario = resolve(scenario, hit);
    if matches!(scenario, Scenario::Reset) {
        return; // dropped with the request unread: the kernel sends an RST
    }
    let mut head = vec![0u8; head_len];
    if stream.read_exact(&mut head).is_err() {
        return;
    }
    let mut conn = Conn {
        stream,
        state,
        path: &path,
    };
    // A write error means the client went away: nothing more to do for it.
    let _ = conn.answer(&scenario);
    let _ = conn.stream.shutdown(Shutdown::Both);
}

/// The scenario for hit `hit` (from 0): a [`Scenario::Sequence`] resolved to its step.
fn resolve(scenario: Scenario, hit: usize) -> Scenario {
    match scenario {
        Scenario::Sequence(mut steps) => {
            let step = hit.min(steps.len().saturating_sub(1));
            if steps.is_empty() {
                Scenario::NotFound
            } else {
                resolve(steps.swap_remove(step), hit)
            }
        }
        other => other,
    }
}

/// One connection being answered.
struct Conn<'a> {
    stream: TcpStream,
    state: &'a State,
    path: &'a str,
}

impl Conn<'_> {
    fn answer(&mut self, scenario: &Scenario) -> std::io::Result<()> {
        match scenario {
            // Resolved before answering.
            Scenario::Sequence(_) | Scenario::Reset => Ok(()),
            Scenario::Gif(bytes) => self.simple(200, "image/gif", &[], bytes),
            Scenario::GifKeepAlive(bytes) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nContent-Length: {}\r\n\r\n",
                    bytes.len()
                );
                self.stream.write_all(head.as_bytes())?;
                self.body(bytes)
            }
            Scenario::Html => self.simple(
                200,
                "text/html",
                &[],
                b"<html><body>Not a flag</body></html>\n",
            ),
            Scenario::Metadata(bytes) => self.simple(200, "application/json", &[], bytes),
            Scenario::NotFound => self.simple(404, "text/plain", &[], b"404 not found\n"),
            Scenario::Status(code) => self.simple(*code, "text/plain", &[], b"fault\n"),
            Scenario::RetryAfter(secs) => self.simple(
                503,
                "text/plain",
                &[("Retry-After", secs.to_string())],
                b"try later\n",
            ),
            Scenario::ServerErrorRetryAfter(secs) => self.simple(
                500,
                "text/plain",
                &[("Retry-After", secs.to_string())],
                b"try later\n",
            ),
            Scenario::RedirectLoop => {
                let location = self.path.to_string();
                self.simple(302, "text/plain", &[("Location", location)], b"")
            }
            Scenario::Raw(bytes) => self.stream.write_all(bytes),
            Scenario::CloseNoResponse => Ok(()),
            Scenario::Hang => {
                self.idle_until(Instant::now() + Duration::from_secs(60));
                Ok(())
            }
            Scenario::Truncated => {
                self.head(200, "image/gif", &[("Content-Length", "12000".into())])?;
                let mut body = b"GIF89a".to_vec();
                body.resize(3000, b'x');
                self.body(&body)
            }
            Scenario::Drip => {
                self.head(200, "image/gif", &[("Content-Length", "12000".into())])?;
                for byte in b"GIF89a".iter().chain(std::iter::repeat(&b'x')) {
                    if self.stopped() {
                        return Ok(());
                    }
                    self.body(&[*byte])?;
                    thread::sleep(Duration::from_millis(500));
                }
                Ok(())
            }
            Scenario::Oversized(total) => {
                self.head(200, "image/gif", &[("Transfer-Encoding", "chunked".into())])?;
                self.stream_body(*total, true)?;
                self.stream.write_all(b"0\r\n\r\n")
            }
            Scenario::OversizedDeclared(total) => {
                self.head(200, "image/gif", &[("Content-Length", total.to_string())])?;
                self.stream_body(*total, false)
            }
        }
    }

    fn stopped(&self) -> bool {
        self.state.stop.load(Ordering::SeqCst)
    }

    /// A whole response: status line, headers, body.
    fn simple(
        &mut self,
        status: u16,
        content_type: &str,
        extra: &[(&str, String)],
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut headers = extra.to_vec();
        headers.push(("Content-Length", body.len().to_string()));
        self.head(status, content_type, &headers)?;
        self.body(body)
    }

    fn head(
        &mut self,
        status: u16,
        content_type: &str,
        headers: &[(&str, String)],
    ) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n",
            reason(status)
        );
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        self.stream.write_all(head.as_bytes())
    }

    /// Writes body bytes and counts them for the path.
    fn body(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        *lock(&self.state.sent)
            .entry(self.path.to_string())
            .or_default() += bytes.len() as u64;
        Ok(())
    }

    /// Writes `total` generated bytes (a GIF header, then filler) in 64 KiB pieces, each
    /// a chunk of its own if `chunked`.
    fn stream_body(&mut self, total: u64, chunked: bool) -> std::io::Result<()> {
        const PIECE: usize = 64 * 1024;
        let mut opening = vec![b'x'; PIECE];
        opening[..6].copy_from_slice(b"GIF89a");
        let filler = vec![b'x'; PIECE];
        let mut piece = &opening;
        let mut left = total;
        while left > 0 && !self.stopped() {
            let bytes = &piece[..left.min(PIECE as u64) as usize];
            if chunked {
                self.stream
                    .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())?;
            }
            self.body(bytes)?;
            if chunked {
                self.stream.write_all(b"\r\n")?;
            }
            left -= bytes.len() as u64;
            piece = &filler;
        }
        Ok(())
    }

    /// Keeps the connection open, sending nothing, until `deadline`, the client closes,
    /// or the server stops.
    fn idle_until(&mut self, deadline: Instant) {
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(100)));
        let mut buf = [0u8; 1024];
        while Instant::now() < deadline && !self.stopped() {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        408 => "Request Timeout",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Fault",
    }
}
