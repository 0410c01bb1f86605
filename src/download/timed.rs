//! Connections timed where they are opened: in each client's connector, the only place
//! that sees a name lookup, a TCP handshake and a TLS handshake happen. Each connection
//! that comes up is registered in the run's [`Connections`] under a key the answers on it
//! will carry, so that the first exchange on it can claim its timings (see
//! [`super::phases`]).
//!
//! - reqwest ([`opened`], [`TimedResolver`]): the pace's connector layer times reqwest's
//!   whole connector, which does TCP and TLS in one call, so `connect` covers both and `tls` is
//!   `None`. A connection is known by its local address, which reqwest gives each
//!   response (`HttpInfo`). The name lookup runs inside the layer's future, so the
//!   resolver finds the connection it resolves for in [`LOOKING_UP`], set by the layer
//!   only while it polls the connector (never a task-local: hyper may finish a connection
//!   in a task of its own).
//! - ureq ([`TimedConnector`], [`connector_chain`]): its connectors form a chain, so a mark
//!   ([`TcpUp`]) between the TCP and the TLS connector splits the two. ureq connects and
//!   sends on the calling thread, so the lookup's time, the TCP mark and the connection a
//!   request was written on are that thread's ([`thread_local!`]); a connection is known
//!   by a tag its transport ([`Tagged`]) carries.

use super::phases::{ConnKey, Connections, Opened, Over};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, RustlsConnector,
    SocksConnector, TcpConnector, Transport,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a name lookup's time goes: the connection being opened.
type LookupSlot = Arc<Mutex<Option<Duration>>>;

thread_local! {
    /// The connection reqwest's connector is opening on this thread, while the layer
    /// polls it.
    static LOOKING_UP: RefCell<Option<LookupSlot>> = const { RefCell::new(None) };
    /// ureq: the last name lookup on this thread (`None` for an IP address).
    static LOOKUP_TOOK: Cell<Option<Duration>> = const { Cell::new(None) };
    /// ureq: when the TCP connection (or the proxy's handshake) of the connection being
    /// opened on this thread was up.
    static TCP_UP: Cell<Option<Instant>> = const { Cell::new(None) };
    /// ureq: the tag of the connection the last request on this thread was written on.
    static SENT_ON: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Opens one of reqwest's connections with `connect`, timing it (see the module's notes)
/// and registering it in `connections` under its local address. The pace's connector
/// layer (`asyncio::PacedConnect`) calls it once the opening slot is had, so the wait for
/// the slot is the request's `queued`, not its `connect`.
pub async fn opened<C, F>(connections: &Connections, connect: F) -> Result<C, BoxError>
where
    F: Future<Output = Result<C, BoxError>>,
    C: hyper_util::client::legacy::connect::Connection,
{
    let started = Instant::now();
    let slot = LookupSlot::default();
    let connection = InScope {
        slot: slot.clone(),
        inner: Box::pin(connect),
    }
    .await?;
    let took = started.elapsed();
    let mut extras = hyper::http::Extensions::new();
    connection.connected().get_extras(&mut extras);
    if let Some(info) = extras.get::<hyper_util::client::legacy::connect::HttpInfo>() {
        let dns = *slot.lock().unwrap_or_else(|e| e.into_inner());
        let opened = Opened {
            started,
            dns,
            connect: took.saturating_sub(dns.unwrap_or_default()),
            tls: None,
            remote: Some(info.remote_addr()),
        };
        connections.opened(ConnKey::Local(info.local_addr()), opened);
    }
    Ok(connection)
}

/// Polls a connector's future with [`LOOKING_UP`] naming its connection, and only then.
struct InScope<F> {
    slot: LookupSlot,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for InScope<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let slot = self.slot.clone();
        let before = LOOKING_UP.with(|current| current.replace(Some(slot)));
        let polled = self.inner.as_mut().poll(cx);
        LOOKING_UP.with(|current| current.replace(before));
        polled
    }
}

/// reqwest's name lookups, as its own resolver does them (the system's `getaddrinfo` on
/// a blocking thread), timed for the connection they are made for.
#[derive(Debug, Default)]
pub struct TimedResolver;

impl reqwest::dns::Resolve for TimedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let slot = LOOKING_UP.with(|current| current.borrow().clone());
        let host = name.as_str().to_string();
        Box::pin(async move {
            let started = Instant::now();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(slot) = slot {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(started.elapsed());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Runs ureq's name lookup for `uri` on this thread, timing it for the connection that
/// may be opened next.
pub fn timed_lookup<T>(uri: &ureq::http::Uri, lookup: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let found = lookup();
    let literal = uri
        .host()
        .is_some_and(|host| host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok());
    LOOKUP_TOOK.set((!literal).then(|| started.elapsed()));
    found
}

/// The connection the last request on this thread was written on (ureq): the answer
/// comes over it. Its address is the one its connector connected to.
pub fn sent_on_this_thread() -> Over {
    Over {
        connection: SENT_ON.get().map(ConnKey::Tagged),
        remote: None,
    }
}

/// The connector type ureq's agent is given.
pub type BoxedConnector = dyn Connector<(), Out = Box<dyn Transport>>;

/// ureq's default chain (SOCKS, CONNECT proxy, TCP, rustls) with [`TcpUp`] between TCP
/// and TLS.
pub fn connector_chain() -> Arc<BoxedConnector> {
    Arc::new(
        ().chain(SocksConnector::default())
            .chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TcpUp)
            .chain(RustlsConnector::default())
            .chain(Boxed),
    )
}

/// Notes when the connection below TLS is up.
#[derive(Debug)]
pub struct TcpUp;

impl<In: Transport> Connector<In> for TcpUp {
    type Out = In;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        if chained.is_some() {
            TCP_UP.set(Some(Instant::now()));
        }
        Ok(chained)
    }
}

/// The end of a chain: the transport, boxed.
#[derive(Debug)]
struct Boxed;

impl<In: Transport> Connector<In> for Boxed {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|transport| Box::new(transport) as Box<dyn Transport>))
    }
}

/// Times each connection ureq opens through `inner`, and tags it. Inside the pace's
/// connector, so the wait for an opening slot is the request's `queued`.
#[derive(Debug)]
pub struct TimedConnector<C> {
    pub inner: C,
    pub connections: Arc<Connections>,
    /// Whether the run times its exchanges (see `phases::Keep::measure`): if not, the
    /// connection is passed on as it is.
    pub measure: bool,
}

impl<C: Connector<(), Out = Box<dyn Transport>>> Connector<()> for TimedConnector<C> {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if !self.measure {
            return self.inner.connect(details, chained);
        }
        let started = Instant::now();
        TCP_UP.set(None);
        // ureq looks the name up just before it asks for a connection.
        let dns = LOOKUP_TOOK.take();
        let Some(transport) = self.inner.connect(details, chained)? else {
            return Ok(None);
        };
        let up = Instant::now();
        let (connect, tls) = match TCP_UP.take() {
            Some(tcp) if details.needs_tls() => (tcp - started, Some(up - tcp)),
            _ => (up - started, None),
        };
        let tag = self.connections.new_tag();
        let opened = Opened {
            // The lookup is laid just before the connect, as a browser shows it.
            started: started
                .checked_sub(dns.unwrap_or_default())
                .unwrap_or(started),
            dns,
            connect,
            tls,
            remote: details.addrs.first().copied(),
        };
        self.connections.opened(ConnKey::Tagged(tag), opened);
        Ok(Some(Box::new(Tagged {
            inner: transport,
            tag,
            connections: self.connections.clone(),
        })))
    }
}

/// A ureq connection that says, as a request is written on it, which one it is.
#[derive(Debug)]
struct Tagged {
    inner: Box<dyn Transport>,
    tag: u64,
    connections: Arc<Connections>,
}

impl Transport for Tagged {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        SENT_ON.set(Some(self.tag));
        self.inner.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl Drop for Tagged {
    fn drop(&mut self) {
        self.connections.closed(ConnKey::Tagged(self.tag));
    }
}

/// The connection a reqwest answer came over, and the address it came from.
pub fn answered_over(response: &reqwest::Response) -> Over {
    let info = response
        .extensions()
        .get::<hyper_util::client::legacy::connect::HttpInfo>();
    Over {
        connection: info.map(|info| ConnKey::Local(info.local_addr())),
        remote: info.map(|info| info.remote_addr()),
    }
}
