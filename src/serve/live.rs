//! The live figures of the server's side: how many flag requests are being answered at
//! once, the connections open, the answers per second, the peak since start, and the same
//! per client address. They are what the book's sequential, threaded and async clients
//! differ in, seen from the server (the gallery at `/` shows them as they change).
//!
//! Only requests for the flag files at their usual paths count (see
//! [`super::FlagServer::handle_from`]); a request is in flight from its arrival, through
//! `--delay`, until its answer is made. Counting costs five relaxed atomic operations per
//! flag request: two on the one count all connections share (the peak needs it), three on
//! its connection's own, which no other connection touches; and one lock per connection
//! that asks for a flag, to enter it among its client's. A snapshot adds the connections'
//! counts up. Nothing is sampled, formatted or sent while nobody watches.
//!
//! Watchers of `/_live` (Server-Sent Events) get snapshots that one ticker task makes five
//! times a second, only while someone watches; it sends each while requests are in
//! flight, else only a change. Each watcher holds the latest snapshot only (a
//! `tokio::sync::watch`): one that reads slowly skips stale ones, and one that reads
//! nothing is not polled by hyper, so it costs its connection and nothing that grows. At
//! most [`MAX_WATCHERS`] watch at once; one that has taken nothing for [`STALE`] gives up
//! its place to a newcomer.

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Most watchers of `/_live` at once; more are answered 503.
pub const MAX_WATCHERS: usize = 16;

/// How often the ticker looks while someone watches: five updates a second at most.
const TICK: Duration = Duration::from_millis(200);

/// A comment line this often to an idle watcher, so that no proxy or browser timeout
/// closes the stream while nothing changes.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A watcher that has taken nothing for this long (three keep-alives) is stuck: its place
/// goes to the next watcher that needs one.
pub const STALE: Duration = Duration::from_secs(45);

/// Clients remembered: past it, those with nothing open are forgotten.
const MAX_CLIENTS: usize = 64;

/// Clients shown in a snapshot, the busiest first.
const SHOWN_CLIENTS: usize = 16;

/// The live figures of one server; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Live(Arc<Shared>);

struct Shared {
    /// Flag requests being answered now.
    in_flight: AtomicUsize,
    /// The most in flight since the last snapshot: a burst shorter than a tick still shows.
    busiest: AtomicUsize,
    /// The most in flight since start.
    peak: AtomicUsize,
    /// The open connections that have asked for a flag, by client address, and what the
    /// closed ones answered.
    clients: Mutex<Clients>,
    /// The requests counted with no connection known (a test calling `handle`).
    unattached: Counts,
    /// The latest snapshot as a Server-Sent Event, for the watchers.
    frames: watch::Sender<Bytes>,
    watching: Mutex<Watching>,
    /// The origin of [`Slot::taken`]'s clock.
    started: Instant,
}

/// One connection's requests: touched by its own requests only, so that counting them
/// does not pull a cache line from another core.
#[derive(Default)]
struct Counts {
    in_flight: AtomicUsize,
    served: AtomicU64,
}

#[derive(Default)]
struct Clients {
    by_address: HashMap<IpAddr, Client>,
    /// Answered on connections that have closed.
    served_closed: u64,
}

/// One client address: its open connections, and what its closed ones answered.
#[derive(Default)]
struct Client {
    open: Vec<Arc<Counts>>,
    served_closed: u64,
}

/// The watchers' side, behind one lock taken only by watchers and snapshots.
#[derive(Default)]
struct Watching {
    slots: Vec<Arc<Slot>>,
    /// Whether a ticker task runs.
    ticking: bool,
    /// `(when, served)` over the last second or so, for the rate.
    samples: VecDeque<(Instant, u64)>,
    /// The rate last given, for a snapshot taken too soon after the previous one to say.
    rate: f64,
}

/// One watcher's place.
struct Slot {
    /// When hyper last asked its stream for more, in milliseconds from `Shared::started`.
    taken: AtomicU64,
    /// Its place was given to another: its stream ends when next asked.
    evicted: AtomicBool,
}

impl Default for Live {
    fn default() -> Live {
        Live(Arc::new(Shared {
            in_flight: AtomicUsize::new(0),
            busiest: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            clients: Mutex::new(Clients::default()),
            unattached: Counts::default(),
            frames: watch::Sender::new(Bytes::new()),
            watching: Mutex::new(Watching::default()),
            started: Instant::now(),
        }))
    }
}

/// A lock whose holder cannot leave the figures half-updated: a panic elsewhere does not
/// make them unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raises `max` to `now`, writing only when it is higher: most requests only read.
fn raise(max: &AtomicUsize, now: usize) {
    if now > max.load(Relaxed) {
        max.fetch_max(now, Relaxed);
    }
}

/// One connection, as the live figures see it: counted among the connections open (and
/// its client's) from its first flag request until it ends.
pub struct Peer {
    live: Live,
    addr: IpAddr,
    counts: OnceLock<Arc<Counts>>,
}

impl Peer {
    /// Its counts, entered among its client's on the first call.
    fn counts(&self) -> &Counts {
        self.counts.get_or_init(|| self.live.0.connect(self.addr))
    }
}

impl Drop for Peer {
    /// The connection has ended, and its requests with it (each borrows it): what it
    /// answered moves to its client's closed connections.
    fn drop(&mut self) {
        let Some(counts) = self.counts.get() else {
            return;
        };
        let served = counts.served.load(Relaxed);
        let mut clients = lock(&self.live.0.clients);
        clients.served_closed += served;
        if let Some(client) = clients.by_address.get_mut(&self.addr) {
            client.open.retain(|open| !Arc::ptr_eq(open, counts));
            client.served_closed += served;
        }
    }
}

/// A flag request in flight; it is answered when this is dropped.
pub struct Answering<'a> {
    shared: &'a Shared,
    counts: &'a Counts,
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Relaxed);
        self.counts.in_flight.fetch_sub(1, Relaxed);
        self.counts.served.fetch_add(1, Relaxed);
    }
}

impl Shared {
    /// Enters a connection from `addr` among its client's open ones; returns its counts.
    fn connect(&self, addr: IpAddr) -> Arc<Counts> {
        let mut clients = lock(&self.clients);
        let known = clients.by_address.contains_key(&addr);
        if !known && clients.by_address.len() >= MAX_CLIENTS {
            // Many addresses (a server bound to a network): forget those that left.
            clients
                .by_address
                .retain(|_, client| !client.open.is_empty());
        }
        let counts = Arc::new(Counts::default());
        let client = clients.by_address.entry(addr).or_default();
        client.open.push(counts.clone());
        counts
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// The figures at one moment, as `/_live.json` and the watchers get them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Flag requests being answered now.
    pub in_flight: usize,
    /// The most in flight at once since the previous snapshot (at least `in_flight`):
    /// what the page shows, so that requests quicker than a tick are seen too.
    pub in_flight_recent_max: usize,
    /// Connections open that have asked for a flag.
    pub connections: usize,
    /// Flag requests answered since start.
    pub served: u64,
    /// The most in flight at once since start.
    pub peak_in_flight: usize,
    /// Answers per second over the last second (or since the previous snapshot, if that
    /// is longer ago), to a tenth.
    pub per_second: f64,
    /// Watchers of `/_live` now.
    pub watchers: usize,
    /// The busiest client addresses, at most 16.
    pub clients: Vec<ClientFigures>,
}

/// One client address in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientFigures {
    pub address: String,
    pub in_flight: usize,
    pub connections: usize,
    pub served: u64,
}

impl Live {
    /// A connection from `addr`, counted once it asks for a flag.
    pub fn peer(&self, addr: IpAddr) -> Peer {
        Peer {
            live: self.clone(),
            addr,
            counts: OnceLock::new(),
        }
    }

    /// A flag request starts, on `peer`'s connection if known.
    pub fn answering<'a>(&'a self, peer: Option<&'a Peer>) -> Answering<'a> {
        let shared = &*self.0;
        let counts = peer.map_or(&shared.unattached, Peer::counts);
        let now = shared.in_flight.fetch_add(1, Relaxed) + 1;
        raise(&shared.peak, now);
        raise(&shared.busiest, now);
        counts.in_flight.fetch_add(1, Relaxed);
        Answering { shared, counts }
    }

    /// The figures now. It starts a new "recent" window for `in_flight_recent_max`.
    pub fn snapshot(&self) -> Snapshot {
        let shared = &*self.0;
        let in_flight = shared.in_flight.load(Relaxed);
        let busiest = shared.busiest.swap(in_flight, Relaxed).max(in_flight);
        let (mut clients, mut served, mut connections) = (Vec::new(), 0, 0);
        {
            let all = lock(&shared.clients);
            served += all.served_closed + shared.unattached.served.load(Relaxed);
            for (addr, client) in &all.by_address {
                let mut figures = ClientFigures {
                    address: addr.to_string(),
                    in_flight: 0,
                    connections: client.open.len(),
                    served: client.served_closed,
                };
                for counts in &client.open {
                    let answered = counts.served.load(Relaxed);
                    figures.in_flight += counts.in_flight.load(Relaxed);
                    figures.served += answered;
                    served += answered;
                }
                connections += figures.connections;
                clients.push(figures);
            }
        }
        let (per_second, watchers) = {
            let mut watching = lock(&shared.watching);
            (watching.rate(Instant::now(), served), watching.slots.len())
        };
        clients.sort_by(|a, b| {
            (b.in_flight, b.connections, b.served)
                .cmp(&(a.in_flight, a.connections, a.served))
                .then_with(|| a.address.cmp(&b.address))
        });
        clients.truncate(SHOWN_CLIENTS);
        Snapshot {
            in_flight,
            in_flight_recent_max: busiest,
            connections,
            served,
            peak_in_flight: shared.peak.load(Relaxed).max(busiest),
            per_second,
            watchers,
            clients,
        }
    }

    /// The figures now as one JSON line.
    pub fn json(&self) -> Bytes {
        let mut json = serde_json::to_vec(&self.snapshot()).expect("a snapshot serialises");
        json.push(b'\n');
        Bytes::from(json)
    }

    /// A new watcher's event stream, as a response body; `None` when [`MAX_WATCHERS`]
    /// watch already and none of them is stale. Must be called within the runtime: the
    /// first watcher starts the ticker.
    pub fn watch(&self) -> Option<super::ServeBody> {
        let shared = &*self.0;
        let now = shared.elapsed_ms();
        let (slot, frames) = {
            let mut watching = lock(&shared.watching);
            if watching.slots.len() >= MAX_WATCHERS {
                let stalest = (0..watching.slots.len())
                    .min_by_key(|&i| watching.slots[i].taken.load(Relaxed))
                    .filter(|&i| {
                        let taken = watching.slots[i].taken.load(Relaxed);
                        now.saturating_sub(taken) >= STALE.as_millis() as u64
                    })?;
                let evicted = watching.slots.swap_remove(stalest);
                evicted.evicted.store(true, Relaxed);
            }
            let slot = Arc::new(Slot {
                taken: AtomicU64::new(now),
                evicted: AtomicBool::new(false),
            });
            watching.slots.push(slot.clone());
            // Subscribed under the lock the ticker checks its watchers under, so that it
            // either sees this one or has stopped and is started again here.
            let frames = shared.frames.subscribe();
            if !watching.ticking {
                watching.ticking = true;
                tokio::spawn(tick(self.clone()));
            }
            (slot, frames)
        };
        // The reconnection delay, then the figures now, before any tick.
        let first = Bytes::from([&b"retry: 2000\n"[..], &event(&self.snapshot())].concat());
        let watcher = Watcher {
            live: self.clone(),
            slot,
            frames,
            first: Some(first),
        };
        let stream = futures_util::stream::unfold(watcher, Watcher::next);
        Some(http_body_util::StreamBody::new(stream).boxed_unsync())
    }
}

impl Watching {
    /// Answers per second since the newest sample at least a second old (or the oldest
    /// kept), recording `served` now.
    fn rate(&mut self, now: Instant, served: u64) -> f64 {
        while self.samples.len() >= 2 && now - self.samples[1].0 >= Duration::from_secs(1) {
            self.samples.pop_front();
        }
        if let Some(&(at, then)) = self.samples.front() {
            let span = now - at;
            // Two snapshots a moment apart say nothing new: keep the last rate.
            if span >= Duration::from_millis(100) {
                let rate = served.saturating_sub(then) as f64 / span.as_secs_f64();
                self.rate = (rate * 10.0).round() / 10.0;
            }
        }
        // At most one sample each 50 ms, so that a flood of `/_live.json` keeps a few.
        if self
            .samples
            .back()
            .is_none_or(|&(at, _)| now - at >= Duration::from_millis(50))
        {
            self.samples.push_back((now, served));
        }
        self.rate
    }
}

/// `figures` as a Server-Sent Event (JSON holds no newline, so one `data:` line).
fn event(figures: &Snapshot) -> Bytes {
    let json = serde_json::to_string(figures).expect("a snapshot serialises");
    Bytes::from(format!("data: {json}\n\n"))
}

/// Makes a snapshot each [`TICK`] and sends it to the watchers when it changed or while
/// requests are in flight, until none is left.
async fn tick(live: Live) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        {
            let mut watching = lock(&live.0.watching);
            if live.0.frames.receiver_count() == 0 {
                watching.ticking = false;
                return;
            }
        }
        let figures = live.snapshot();
        let event = event(&figures);
        // Each tick while requests are in flight (the page's chart moves), else only on
        // a change.
        let busy = figures.in_flight_recent_max > 0;
        live.0.frames.send_if_modified(|sent| {
            let changed = *sent != event;
            if changed || busy {
                *sent = event;
            }
            changed || busy
        });
    }
}

/// One watcher's stream; its place is given back when it is dropped (the connection
/// closed, or the server stopped).
struct Watcher {
    live: Live,
    slot: Arc<Slot>,
    frames: watch::Receiver<Bytes>,
    first: Option<Bytes>,
}

type Frame = Result<hyper::body::Frame<Bytes>, std::io::Error>;

impl Watcher {
    /// The next event: hyper asks only once it has sent the previous one, so a watcher
    /// that does not read is not asked, and gets the latest snapshot when it reads again.
    async fn next(mut self) -> Option<(Frame, Watcher)> {
        self.slot.taken.store(self.live.0.elapsed_ms(), Relaxed);
        if self.slot.evicted.load(Relaxed) {
            return None;
        }
        let frame = match self.first.take() {
            Some(first) => first,
            None => tokio::select! {
                changed = self.frames.changed() => {
                    changed.ok()?;
                    self.frames.borrow_and_update().clone()
                }
                () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": nothing new\n\n"),
            },
        };
        Some((Ok(hyper::body::Frame::data(frame)), self))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        lock(&self.live.0.watching)
            .slots
            .retain(|slot| !Arc::ptr_eq(slot, &self.slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addr(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn requests_count_while_answered_and_connections_from_their_first_flag() {
        let live = Live::default();
        let (a, b) = (live.peer(addr(1)), live.peer(addr(2)));
        let idle = live.peer(addr(3));
        let first = live.answering(Some(&a));
        let second = live.answering(Some(&a));
        let third = live.answering(Some(&b));
        let unknown = live.answering(None);
        let now = live.snapshot();
        assert_eq!(
            (
                now.in_flight,
                now.connections,
                now.served,
                now.peak_in_flight
            ),
            (4, 2, 0, 4)
        );
        assert_eq!(now.clients[0].address, "127.0.0.1");
        assert_eq!(
            (now.clients[0].in_flight, now.clients[0].connections),
            (2, 1)
        );
        assert_eq!(now.clients.len(), 2, "a connection that asked nothing");
        drop((first, second, third, unknown));
        drop((a, idle));
        let now = live.snapshot();
        assert_eq!(
            (
                now.in_flight,
                now.connections,
                now.served,
                now.peak_in_flight
            ),
            (0, 1, 4, 4)
        );
        // The four were in flight since the snapshot before; the next window is empty.
        assert_eq!(now.in_flight_recent_max, 4);
        assert_eq!(live.snapshot().in_flight_recent_max, 0);
        drop(b);
        assert_eq!(live.snapshot().connections, 0);
    }

    /// Not a check: what counting costs a flag request when two threads (the server's two
    /// workers on a two-core machine) count at once, on the same counters, the worst case
    /// for their cache lines; for BENCHMARKS.md, section 10:
    /// `cargo test --release --lib counting_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn counting_cost() {
        const REQUESTS: u32 = 10_000_000;
        let live = Live::default();
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    let peer = live.peer(addr(1));
                    for _ in 0..REQUESTS {
                        drop(std::hint::black_box(live.answering(Some(&peer))));
                    }
                });
            }
        });
        let each = started.elapsed() / REQUESTS;
        println!("counting costs {each:?} per flag request, two threads counting at once");
    }

    #[test]
    fn a_burst_between_two_snapshots_shows_in_the_recent_maximum() {
        let live = Live::default();
        live.snapshot();
        let burst: Vec<_> = (0..30).map(|_| live.answering(None)).collect();
        drop(burst);
        let now = live.snapshot();
        assert_eq!((now.in_flight, now.in_flight_recent_max), (0, 30));
        assert_eq!(live.snapshot().in_flight_recent_max, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_is_answers_over_the_last_second_and_falls_to_zero() {
        let live = Live::default();
        live.snapshot();
        for _ in 0..5 {
            tokio::time::sleep(TICK).await;
            for _ in 0..20 {
                drop(live.answering(None));
            }
            live.snapshot();
        }
        // 20 answers each fifth of a second.
        assert_eq!(live.snapshot().per_second, 100.0);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        live.snapshot();
        tokio::time::sleep(TICK).await;
        assert_eq!(live.snapshot().per_second, 0.0);
    }

    /// Reads one frame of a watcher's body, waiting at most `limit` (on the paused clock).
    async fn frame(body: &mut super::super::ServeBody, limit: Duration) -> Option<String> {
        let next = tokio::time::timeout(limit, body.frame()).await.ok()??;
        let data = next.ok()?.into_data().ok()?;
        Some(String::from_utf8(data.to_vec()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn watchers_get_the_figures_now_then_changes_then_keep_alives() {
        let live = Live::default();
        let mut body = live.watch().unwrap();
        let first = frame(&mut body, TICK).await.unwrap();
        assert!(
            first.starts_with("retry: 2000\ndata: {\"in_flight\":0,"),
            "{first}"
        );
        let held: Vec<_> = (0..3).map(|_| live.answering(None)).collect();
        let next = frame(&mut body, 2 * TICK).await.unwrap();
        assert!(next.starts_with("data: {\"in_flight\":3,"), "{next}");
        drop(held);
        let next = frame(&mut body, 2 * TICK).await.unwrap();
        assert!(next.starts_with("data: {\"in_flight\":0,"), "{next}");
        // Then, with nothing changing, a comment line each 15 s and nothing else.
        let mut quiet = String::new();
        while !quiet.starts_with(':') {
            quiet = frame(&mut body, KEEP_ALIVE + TICK).await.unwrap();
        }
        assert_eq!(quiet, ": nothing new\n\n");
        let next = frame(&mut body, KEEP_ALIVE - TICK).await;
        assert_eq!(next, None, "nothing changed");
        drop(body);
        // The ticker stops once the last watcher has gone.
        tokio::time::sleep(2 * TICK).await;
        assert!(!lock(&live.0.watching).ticking);
    }

    /// A watcher that reads nothing holds no queue: when it reads again it gets the
    /// latest figures, not the changes it missed.
    #[tokio::test(start_paused = true)]
    async fn a_watcher_that_stops_reading_gets_only_the_latest_figures() {
        let live = Live::default();
        let mut stuck = live.watch().unwrap();
        frame(&mut stuck, TICK).await.unwrap();
        for n in 1..=50 {
            let held: Vec<_> = (0..n).map(|_| live.answering(None)).collect();
            tokio::time::sleep(TICK).await;
            drop(held);
        }
        let held: Vec<_> = (0..7).map(|_| live.answering(None)).collect();
        tokio::time::sleep(2 * TICK).await;
        let next = frame(&mut stuck, TICK).await.unwrap();
        assert!(next.starts_with("data: {\"in_flight\":7,"), "{next}");
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn past_16_watchers_a_newcomer_is_refused_unless_one_is_stale() {
        let live = Live::default();
        let mut watchers: Vec<_> = (0..MAX_WATCHERS).map(|_| live.watch().unwrap()).collect();
        assert!(live.watch().is_none(), "a 17th");
        assert_eq!(live.snapshot().watchers, MAX_WATCHERS);
        // One leaves: its place is free.
        watchers.pop();
        watchers.push(live.watch().unwrap());
        // None reads for longer than STALE: the newcomer takes the place of one of them,
        // whose stream ends when it reads again.
        tokio::time::sleep(STALE + TICK).await;
        let mut newcomer = live.watch().unwrap();
        assert!(frame(&mut newcomer, TICK).await.is_some());
        let mut ended = 0;
        for body in &mut watchers {
            if body.frame().await.is_none() {
                ended += 1;
            }
        }
        assert_eq!(ended, 1, "one stale watcher made room");
        assert_eq!(live.snapshot().watchers, MAX_WATCHERS);
    }
}
