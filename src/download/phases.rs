//! Where each HTTP exchange's time went (issue 20): the phases of one request and its
//! answer, measured the same way in every mode, for the NDJSON, `-v`, `--har` and the
//! timeline's waterfall.
//!
//! An *exchange* is one request and its answer: a redirect hop, the `metadata.json` of
//! `--names` and a resend on a fresh connection are exchanges of their own. Its phases
//! ([`Phases`]) follow each other without gaps, so that they add up:
//!
//! ```text
//! start ── queued ──┬─ dns ─ connect ─ tls ─┬─ wait ─ receive ─ save
//!                   opening                 ready   headers  last byte  saved
//! ```
//!
//! `queued` runs from the code's start (or the end of a retry's wait, or the previous
//! exchange's end) until a connection was ready for the request, or began to be opened
//! for it: the pace, a worker, a connection opened by someone else. Only the exchange
//! that first uses a new connection has `dns`, `connect` and `tls`; on a reused
//! connection they are `None`.
//!
//! Three places feed this module, each shared by both clients where it can be:
//!
//! - [`FlagFetch`](super::response), the one reading of a response, keeps a [`Stopwatch`]
//!   that opens an exchange as [`FlagFetch::request`](super::response::FlagFetch::request)
//!   makes the request's head, and closes it at the answer's end (or when the attempt is
//!   dropped half-way);
//! - [`Attempts`](super::attempts), the one attempt loop, says when a retry's wait ends
//!   ([`ExchangeLog::queue_from`]): its next exchange queues from there;
//! - each client's connector (see [`super::timed`]) registers the connections it opens in
//!   [`Connections`], where the first exchange seen on one claims its timings; and the
//!   client says which connection an answer came over ([`Over`]) before `FlagFetch` reads
//!   its head.
//!
//! What this module holds is free of I/O.

use hyper::HeaderMap;
use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// The phases of one exchange; `None` where a phase did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// Until a connection was ready, or began to be opened, for this request.
    #[serde(serialize_with = "as_ms")]
    pub queued: Option<Duration>,
    /// Name resolution for a new connection (`None` for an IP address).
    #[serde(serialize_with = "as_ms")]
    pub dns: Option<Duration>,
    /// The TCP handshake of a new connection (and its TLS handshake where the client
    /// cannot tell them apart: reqwest).
    #[serde(serialize_with = "as_ms")]
    pub connect: Option<Duration>,
    /// The TLS handshake of a new connection.
    #[serde(serialize_with = "as_ms")]
    pub tls: Option<Duration>,
    /// From the connection being ready to the answer's headers.
    #[serde(serialize_with = "as_ms")]
    pub wait: Option<Duration>,
    /// From the headers to the body's last byte.
    #[serde(serialize_with = "as_ms")]
    pub receive: Option<Duration>,
    /// After the last byte: the flag's file synced and renamed.
    #[serde(serialize_with = "as_ms")]
    pub save: Option<Duration>,
}

/// A duration in milliseconds with three decimals, as every output gives it.
pub fn ms(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1000.0).round() / 1000.0
}

fn as_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(ms(*d)),
        None => s.serialize_none(),
    }
}

impl Phases {
    /// The phases in order: queued, dns, connect, tls, wait, receive, save.
    pub fn all(&self) -> [Option<Duration>; 7] {
        [
            self.queued,
            self.dns,
            self.connect,
            self.tls,
            self.wait,
            self.receive,
            self.save,
        ]
    }

    fn all_mut(&mut self) -> [&mut Option<Duration>; 7] {
        [
            &mut self.queued,
            &mut self.dns,
            &mut self.connect,
            &mut self.tls,
            &mut self.wait,
            &mut self.receive,
            &mut self.save,
        ]
    }

    /// Adds `other`'s phases to these, phase by phase: a phase stays `None` only where
    /// neither had it.
    pub fn add(&mut self, other: &Phases) {
        for (mine, theirs) in self.all_mut().into_iter().zip(other.all()) {
            if let Some(theirs) = theirs {
                *mine = Some(mine.unwrap_or_default() + theirs);
            }
        }
    }

    /// The short form `-v` ends its lines with: `q 130.2 c 0.4 w 501.3 r 0.1 s 0.2`, in
    /// ms with one decimal, the phases that did not happen left out.
    pub fn short(&self) -> String {
        const SHORT: [&str; 7] = ["q", "d", "c", "t", "w", "r", "s"];
        let mut out = String::new();
        for (name, phase) in SHORT.iter().zip(self.all()) {
            if let Some(d) = phase {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&format!("{name} {:.1}", d.as_secs_f64() * 1000.0));
            }
        }
        out
    }
}

/// The connection an exchange went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionUse {
    /// Shared by the exchanges that used the same connection, counted from 1 in the order
    /// the connections came up.
    pub id: u64,
    /// This exchange was the first on it, and has its `dns`, `connect` and `tls`.
    pub new: bool,
}

/// How a connection is known again when an answer comes back over it: by its local
/// address (reqwest tells it for each response), or by a tag its transport carries
/// (ureq, see [`super::timed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnKey {
    Local(SocketAddr),
    Tagged(u64),
}

/// The connection an answer came over, as its client tells it (see [`super::timed`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Over {
    /// How the connection is known in the run's [`Connections`].
    pub connection: Option<ConnKey>,
    /// The address the answer came from, where the client tells it.
    pub remote: Option<SocketAddr>,
}

/// How a connection was opened, as its connector timed it.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    /// When opening it began (its name lookup, if any, included).
    pub started: Instant,
    pub dns: Option<Duration>,
    pub connect: Duration,
    pub tls: Option<Duration>,
    /// The address connected to (a proxy's, through one).
    pub remote: Option<SocketAddr>,
}

impl Opened {
    fn ready(&self) -> Instant {
        self.started + self.dns.unwrap_or_default() + self.connect + self.tls.unwrap_or_default()
    }
}

/// Every connection of a run the connectors opened, until an exchange claims it.
#[derive(Debug, Default)]
pub struct Connections {
    ids: AtomicU64,
    tags: AtomicU64,
    known: Mutex<HashMap<ConnKey, Known>>,
}

#[derive(Debug)]
struct Known {
    id: u64,
    /// The opening's timings, until the first exchange on it takes them.
    unclaimed: Option<Opened>,
    remote: Option<SocketAddr>,
}

impl Connections {
    /// Registers a connection that came up. A key seen before (a local port used again
    /// after its connection closed) now names this one: so the map holds at most one
    /// entry per local port, however long the run.
    pub fn opened(&self, key: ConnKey, opened: Opened) {
        let id = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        let known = Known {
            id,
            unclaimed: Some(opened),
            remote: opened.remote,
        };
        lock(&self.known).insert(key, known);
    }

    /// A new tag for a transport to carry (see [`ConnKey::Tagged`]).
    pub fn new_tag(&self) -> u64 {
        self.tags.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The connection is closed: forget it.
    pub fn closed(&self, key: ConnKey) {
        lock(&self.known).remove(&key);
    }

    /// The connection an answer came over, and how it was opened if this exchange is the
    /// first on it that could have asked for it: one sent before the opening began. (Over
    /// HTTP/2 the requests that joined a connection may be answered before the one it was
    /// opened for; and hyper may give a connection opened for one request to another,
    /// which did not wait for it: neither claims the opening.)
    fn claim(
        &self,
        key: ConnKey,
        sent: Instant,
    ) -> Option<(ConnectionUse, Option<Opened>, Option<SocketAddr>)> {
        let mut known = lock(&self.known);
        let entry = known.get_mut(&key)?;
        let opened = match entry.unclaimed {
            Some(opened) if opened.started >= sent => entry.unclaimed.take(),
            _ => None,
        };
        let used = ConnectionUse {
            id: entry.id,
            new: opened.is_some(),
        };
        Some((used, opened, entry.remote))
    }
}

/// One exchange, as `--har` and the timeline need it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Upper case.
    pub cc: String,
    pub url: String,
    /// When its queueing began.
    pub start: Instant,
    /// When it ended: saved, read, or failed.
    pub end: Instant,
    pub phases: Phases,
    pub connection: Option<ConnectionUse>,
    /// The address the answer came from (a proxy's, through one).
    pub server: Option<SocketAddr>,
    pub status: Option<u16>,
    pub http_version: Option<&'static str>,
    /// The request's header fields as
    /// [`FlagFetch::request`](super::response::FlagFetch::request) made them (the client
    /// adds `Host`), kept only for `--har`.
    pub request_headers: Vec<(String, String)>,
    /// The answer's headers, kept only for `--har`.
    pub response_headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// Body bytes received.
    pub body_bytes: u64,
    /// It ended without a complete answer (a failure, or the run's end).
    pub failed: bool,
}

/// What a run measures and keeps beyond each code's last exchange.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// Time each exchange at all: for NDJSON, `-v`, the pictures, the HAR and the bench.
    /// A run that shows none of them is not timed, so that it costs what it did before the
    /// phases (measured: +8% of `--every -m 200` against nginx, every exchange timed and
    /// nothing shown; see BENCHMARKS.md); its codes' `ms` is then from their first request
    /// to their outcome, as before.
    pub measure: bool,
    /// Every exchange (for `--har`, `--timeline` and `--trace`).
    pub exchanges: bool,
    /// Their response headers too (for `--har`).
    pub headers: bool,
}

/// The exchanges of one run, from every task or thread.
#[derive(Debug)]
pub struct ExchangeLog {
    keep: Keep,
    pub connections: Arc<Connections>,
    state: Mutex<LogState>,
}

#[derive(Debug)]
struct LogState {
    /// The run's start: where a code's first exchange starts queueing.
    start: Instant,
    wall: SystemTime,
    codes: HashMap<String, CodeState>,
    kept: Vec<Exchange>,
    total: Phases,
}

#[derive(Debug, Default)]
struct CodeState {
    /// Where its next exchange starts queueing, when not the run's start.
    queue_from: Option<Instant>,
    /// Where its first exchange's queueing ended: the start of the record's `ms`.
    first_ready: Option<Instant>,
    /// The last exchange's phases, connection and end.
    last: Option<(Phases, Option<ConnectionUse>, Instant)>,
}

/// What an outcome gets of its exchanges.
#[derive(Debug, Clone, Copy)]
pub struct CodeTimings {
    /// The last exchange's phases and connection.
    pub phases: Phases,
    pub connection: Option<ConnectionUse>,
    /// When its first exchange stopped queueing.
    pub first_ready: Option<Instant>,
    /// When its last exchange ended (its file saved, for a flag).
    pub last_end: Instant,
}

impl Default for ExchangeLog {
    fn default() -> Self {
        ExchangeLog::new(Keep::default())
    }
}

impl ExchangeLog {
    pub fn new(keep: Keep) -> ExchangeLog {
        ExchangeLog {
            keep,
            connections: Arc::default(),
            state: Mutex::new(LogState {
                start: Instant::now(),
                wall: SystemTime::now(),
                codes: HashMap::new(),
                kept: Vec::new(),
                total: Phases::default(),
            }),
        }
    }

    /// The run starts now: codes start queueing from here.
    pub fn restart(&self) {
        let mut state = lock(&self.state);
        state.start = Instant::now();
        state.wall = SystemTime::now();
    }

    /// When the run started, by the clock and by the wall.
    pub fn started(&self) -> (Instant, SystemTime) {
        let state = lock(&self.state);
        (state.start, state.wall)
    }

    /// Whether the run's exchanges are timed (see [`Keep::measure`]).
    pub fn measuring(&self) -> bool {
        self.keep.measure
    }

    /// `cc`'s next exchange starts queueing at `at` (a retry's wait has ended).
    pub fn queue_from(&self, cc: &str, at: Instant) {
        if !self.keep.measure {
            return;
        }
        lock(&self.state)
            .codes
            .entry(cc.to_string())
            .or_default()
            .queue_from = Some(at);
    }

    /// Takes what `cc`'s exchanges say for its outcome.
    pub fn conclude(&self, cc: &str) -> Option<CodeTimings> {
        let code = lock(&self.state).codes.remove(cc)?;
        let (phases, connection, last_end) = code.last?;
        Some(CodeTimings {
            phases,
            connection,
            first_ready: code.first_ready,
            last_end,
        })
    }

    /// Every exchange kept, in the order they ended.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.state).kept.clone()
    }

    /// The run's exchanges' phases, summed.
    pub fn total(&self) -> Phases {
        lock(&self.state).total
    }

    fn queue_start(&self, cc: &str) -> Instant {
        let state = lock(&self.state);
        state
            .codes
            .get(cc)
            .and_then(|code| code.queue_from)
            .unwrap_or(state.start)
    }

    fn add(&self, exchange: Exchange) {
        let mut state = lock(&self.state);
        state.total.add(&exchange.phases);
        let code = state.codes.entry(exchange.cc.clone()).or_default();
        // The next exchange queues from this one's end.
        code.queue_from = Some(exchange.end);
        code.first_ready
            .get_or_insert(exchange.start + exchange.phases.queued.unwrap_or_default());
        code.last = Some((exchange.phases, exchange.connection, exchange.end));
        if self.keep.exchanges {
            state.kept.push(exchange);
        }
    }
}

/// Times the exchanges of one attempt at one code, as [`FlagFetch`](super::response)
/// goes: one is open from its request being made to its answer's end, and closed (into
/// the run's [`ExchangeLog`]) then, or when the attempt is dropped half-way.
#[derive(Debug)]
pub struct Stopwatch<'j> {
    log: &'j ExchangeLog,
    cc: &'j str,
    /// Boxed: a stopwatch lives in every request's future, and an open exchange is some
    /// 450 bytes that a run which times nothing would carry in each of them.
    open: Option<Box<Open>>,
}

/// The exchange in progress.
#[derive(Debug)]
struct Open {
    url: String,
    start: Instant,
    /// The request was made, to be handed to the client.
    sent: Instant,
    head: Option<Instant>,
    body_end: Option<Instant>,
    saved: Option<Instant>,
    status: Option<u16>,
    version: Option<&'static str>,
    connection: Option<ConnectionUse>,
    opened: Option<Opened>,
    server: Option<SocketAddr>,
    /// The connection the answer came over, as its client told it.
    over: Over,
    request_headers: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    content_type: Option<String>,
    body_bytes: u64,
    /// The attempt failed in this exchange.
    failed: bool,
}

impl<'j> Stopwatch<'j> {
    /// A stopwatch for `cc`'s exchanges, none open yet.
    pub fn new(log: &'j ExchangeLog, cc: &'j str) -> Stopwatch<'j> {
        Stopwatch {
            log,
            cc,
            open: None,
        }
    }

    /// A request for `url`, with these header fields, goes out now: the exchange before
    /// it, if any, is over.
    pub fn sending(&mut self, url: &str, headers: &HeaderMap) {
        self.close();
        if !self.log.keep.measure {
            // Not timed: no exchange is opened, so every mark below does nothing.
            return;
        }
        let now = Instant::now();
        let request_headers = if self.log.keep.headers {
            fields(headers)
        } else {
            Vec::new()
        };
        self.open = Some(Box::new(Open {
            url: url.to_string(),
            start: self.log.queue_start(self.cc).min(now),
            sent: now,
            head: None,
            body_end: None,
            saved: None,
            status: None,
            version: None,
            connection: None,
            opened: None,
            server: None,
            over: Over::default(),
            request_headers,
            headers: Vec::new(),
            content_type: None,
            body_bytes: 0,
            failed: false,
        }));
    }

    /// The answer is coming over this connection.
    pub fn answered_over(&mut self, over: Over) {
        if let Some(open) = &mut self.open {
            open.over = over;
        }
    }

    /// The answer's head has come, with this status and version (over the connection
    /// [`Self::answered_over`] named, which it claims if it is new).
    pub fn head(
        &mut self,
        status: u16,
        version: Option<&'static str>,
        content_type: Option<&str>,
        headers: Option<&HeaderMap>,
    ) {
        let Some(open) = &mut self.open else { return };
        open.head = Some(Instant::now());
        open.status = Some(status);
        open.version = version;
        open.content_type = content_type.map(str::to_string);
        if let Some((used, opened, remote)) = open
            .over
            .connection
            .and_then(|key| self.log.connections.claim(key, open.sent))
        {
            open.connection = Some(used);
            open.opened = opened;
            open.server = remote;
        }
        open.server = open.over.remote.or(open.server);
        if self.log.keep.headers {
            open.headers = headers.map(fields).unwrap_or_default();
        }
    }

    /// `n` more bytes of the body.
    pub fn fed(&mut self, n: usize) {
        if let Some(open) = &mut self.open {
            open.body_bytes += n as u64;
        }
    }

    /// The body has been read to its end (or as far as needed).
    pub fn body_ended(&mut self) {
        if let Some(open) = &mut self.open {
            open.body_end.get_or_insert_with(Instant::now);
        }
    }

    /// The flag's file is saved.
    pub fn saved(&mut self) {
        if let Some(open) = &mut self.open {
            open.saved = Some(Instant::now());
        }
    }

    /// The attempt failed in the open exchange (its answer was refused, or could not be
    /// saved).
    pub fn failed(&mut self) {
        if let Some(open) = &mut self.open {
            open.failed = true;
        }
    }

    /// Closes the open exchange, if any, into the log.
    pub fn close(&mut self) {
        if let Some(open) = self.open.take() {
            self.log.add((*open).close(self.cc));
        }
    }
}

impl Drop for Stopwatch<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

impl Open {
    /// The phases, laid end to end from the marks (see the module's picture).
    fn close(self, cc: &str) -> Exchange {
        let now = Instant::now();
        let since = |from: Instant, to: Instant| to.saturating_duration_since(from);
        let mut phases = Phases::default();
        // Where opening began and where the connection was ready, for this request (a
        // connection claimed was opened after it went out: see `Connections::claim`).
        let (opening, ready) = match self.opened {
            Some(opened) => (opened.started, opened.ready()),
            None => (self.sent, self.sent),
        };
        phases.queued = Some(since(self.start, opening));
        if let Some(opened) = self.opened {
            phases.dns = opened.dns;
            phases.connect = Some(opened.connect);
            phases.tls = opened.tls;
        }
        let failed = match (self.head, self.body_end) {
            (Some(head), Some(body_end)) => {
                phases.wait = Some(since(ready, head));
                phases.receive = Some(since(head, body_end));
                phases.save = self.saved.map(|saved| since(body_end, saved));
                self.failed
            }
            (Some(head), None) => {
                // Failed while reading the body.
                phases.wait = Some(since(ready, head));
                phases.receive = Some(since(head, now));
                true
            }
            (None, _) => {
                // No answer: the time it was awaited is its wait.
                phases.wait = Some(since(ready, now));
                true
            }
        };
        let end = self.saved.or(self.body_end).unwrap_or(now);
        Exchange {
            cc: cc.to_string(),
            url: self.url,
            start: self.start,
            end,
            phases,
            connection: self.connection,
            server: self.server,
            status: self.status,
            http_version: self.version,
            request_headers: self.request_headers,
            response_headers: self.headers,
            content_type: self.content_type,
            body_bytes: self.body_bytes,
            failed,
        }
    }
}

/// A header map's fields as text (a value that is not UTF-8, lossily).
fn fields(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn open(base: Instant) -> Open {
        Open {
            url: "http://x/br/br.gif".into(),
            start: base,
            sent: at(base, 100),
            head: Some(at(base, 700)),
            body_end: Some(at(base, 710)),
            saved: Some(at(base, 712)),
            status: Some(200),
            version: Some("1.1"),
            connection: None,
            opened: None,
            server: None,
            over: Over::default(),
            request_headers: Vec::new(),
            headers: Vec::new(),
            content_type: None,
            body_bytes: 10,
            failed: false,
        }
    }

    #[test]
    fn a_new_connections_phases_follow_each_other_and_add_up() {
        let base = Instant::now();
        let mut exchange = open(base);
        exchange.opened = Some(Opened {
            started: at(base, 130),
            dns: None,
            connect: Duration::from_millis(50),
            tls: Some(Duration::from_millis(60)),
            remote: None,
        });
        let closed = exchange.close("BR");
        let p = closed.phases;
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis());
        assert_eq!(
            [p.queued, p.dns, p.connect, p.tls, p.wait, p.receive, p.save].map(ms),
            [
                Some(130),
                None,
                Some(50),
                Some(60),
                Some(460),
                Some(10),
                Some(2)
            ]
        );
        // From the end of queueing to the file saved.
        let after_queue: Duration = p.all()[1..].iter().flatten().sum();
        assert_eq!(after_queue, Duration::from_millis(712 - 130));
        assert!(!closed.failed);
    }

    #[test]
    fn a_reused_connection_has_no_connect_phases() {
        let base = Instant::now();
        let p = open(base).close("BR").phases;
        assert_eq!((p.dns, p.connect, p.tls), (None, None, None));
        assert_eq!(p.queued, Some(Duration::from_millis(100)));
        assert_eq!(p.wait, Some(Duration::from_millis(600)));
    }

    #[test]
    fn the_first_exchange_on_a_connection_claims_it_the_others_share_its_id() {
        let connections = Connections::default();
        let key = ConnKey::Tagged(connections.new_tag());
        let sent = Instant::now();
        let opened = Opened {
            started: sent + Duration::from_millis(1),
            dns: None,
            connect: Duration::from_millis(1),
            tls: None,
            remote: None,
        };
        connections.opened(key, opened);
        let (first, timings, _) = connections.claim(key, sent).unwrap();
        let (second, none, _) = connections.claim(key, sent).unwrap();
        assert!(first.new && timings.is_some());
        assert!(!second.new && none.is_none());
        assert_eq!(first.id, second.id);
        connections.closed(key);
        assert!(connections.claim(key, sent).is_none());
        // A request sent once the opening had begun did not ask for it.
        let other = ConnKey::Tagged(connections.new_tag());
        connections.opened(other, opened);
        let (joined, none, _) = connections
            .claim(other, opened.started + opened.connect)
            .unwrap();
        assert!(!joined.new && none.is_none());
    }

    #[test]
    fn phases_sum_phase_by_phase_and_print_short() {
        let mut total = Phases::default();
        let one = Phases {
            queued: Some(Duration::from_micros(1500)),
            wait: Some(Duration::from_millis(500)),
            ..Phases::default()
        };
        total.add(&one);
        total.add(&one);
        assert_eq!(total.queued, Some(Duration::from_millis(3)));
        assert_eq!(total.tls, None);
        assert_eq!(total.short(), "q 3.0 w 1000.0");
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            r#"{"queued":1.5,"dns":null,"connect":null,"tls":null,"wait":500.0,"receive":null,"save":null}"#
        );
    }
}
