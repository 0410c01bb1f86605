//! `--latency MS`: a round trip, simulated at the transport layer, for a machine whose
//! loopback has none.
//!
//! Every byte the server receives and every byte it sends is held for half the round trip,
//! in order, each chunk on its own clock, so a chunk never waits for the one before it to
//! be released (no head-of-line blocking beyond the real socket's). A TLS handshake, each
//! HTTP/1.1 request and each HTTP/2 frame therefore pay real round trips, unlike
//! `--delay`, which is the server's think time once per request. What it cannot model:
//! the kernel's TCP handshake (the connection is accepted before the wrapper exists),
//! loss and retransmission, and bandwidth.
//!
//! A connection can be let off ([`Bypass`]): from then on what crosses it is not held
//! (what is held already still goes out first, in order). The server lets off one that
//! asked for its own page (`/`, `/_gallery/`, `/_live`), which pays no round trip but half
//! of one for the head of its first request, read before anyone knows what it asks.
//!
//! Each connection gets two pump tasks, one per direction, and an in-memory pipe
//! ([`tokio::io::duplex`]) whose far end is what the server reads and writes. What they
//! hold is bounded ([`MAX_HELD`] each way: past it the sender waits, as TCP's window would
//! make it), and they end with the connection: the server's end closing ends both, so a
//! client that never closes its own keeps nothing open.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most bytes held in one direction at once. A sender faster than this per `one_way`
/// waits, as it would on a link of that bandwidth-delay product: 4 MiB per 25 ms is
/// 160 MiB/s, far above what a flag download needs, while a connection's memory stays
/// bounded.
const MAX_HELD: usize = 4 << 20;

/// The in-memory pipe between the pumps and the server: how much either side may write
/// before the other reads.
const PIPE: usize = 64 << 10;

/// Set, a connection's bytes are no longer held.
#[derive(Debug, Clone, Default)]
pub struct Bypass(Arc<AtomicBool>);

impl Bypass {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn hold(&self, hold: Duration) -> Duration {
        if self.0.load(Ordering::Relaxed) {
            Duration::ZERO
        } else {
            hold
        }
    }
}

/// Wraps an accepted connection so that what crosses it is held `one_way` each way, until
/// `bypass` is set. Returns the end to serve, and what completes once the socket is closed
/// (the server's end closed, and what it sent delivered), for the connection to hold its
/// slot until then.
pub fn delayed<S>(
    socket: S,
    one_way: Duration,
    bypass: Bypass,
) -> (DuplexStream, impl std::future::Future<Output = ()> + Send)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (served, pipe) = tokio::io::duplex(PIPE);
    let (from_client, to_client) = tokio::io::split(socket);
    let (from_server, to_server) = tokio::io::split(pipe);
    // The server's end closing (the response sent, or the connection dropped) is what
    // ends a connection; the client's half may stay open to the last byte.
    let done = CancellationToken::new();
    let up = tokio::spawn(pump(
        from_client,
        to_server,
        one_way,
        bypass.clone(),
        done.clone(),
    ));
    let down = tokio::spawn(async move {
        pump(
            from_server,
            to_client,
            one_way,
            bypass,
            CancellationToken::new(),
        )
        .await;
        done.cancel();
    });
    let closed = async move {
        let _ = up.await;
        let _ = down.await;
    };
    (served, closed)
}

/// Copies `from` to `to`, each chunk written `hold` after it was read, in order; at the
/// end of `from` (or a read error, which is how a reset looks), shuts `to` down `hold`
/// after the last chunk, as a FIN would arrive. Returns when `to` is shut down or fails,
/// or when `stop` is cancelled.
async fn pump<R, W>(mut from: R, mut to: W, hold: Duration, bypass: Bypass, stop: CancellationToken)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut held: VecDeque<(Instant, Bytes)> = VecDeque::new();
    let mut held_bytes = 0;
    let mut ended_at: Option<Instant> = None;
    let mut buf = BytesMut::new();
    loop {
        // The next thing due: the oldest chunk, else the end (later than every chunk).
        let due = held.front().map(|(at, _)| *at).or(ended_at);
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                match held.pop_front() {
                    Some((_, chunk)) => {
                        held_bytes -= chunk.len();
                        // Written while nothing is read: a receiver that does not keep up
                        // slows the sender, as TCP's window would.
                        if to.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        let _ = to.shutdown().await;
                        return;
                    }
                }
            }
            read = read_chunk(&mut from, &mut buf), if ended_at.is_none() && held_bytes < MAX_HELD => {
                let at = Instant::now() + bypass.hold(hold);
                match read {
                    Some(chunk) => {
                        held_bytes += chunk.len();
                        held.push_back((at, chunk));
                    }
                    None => ended_at = Some(at),
                }
            }
        }
    }
}

/// The next chunk read from `from`, or `None` at its end or on an error. Cancel-safe
/// (`read_buf` is), so it can lose a `select!` without losing bytes.
async fn read_chunk<R: AsyncRead + Unpin>(from: &mut R, buf: &mut BytesMut) -> Option<Bytes> {
    buf.reserve(16 << 10);
    match from.read_buf(buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(buf.split().freeze()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each byte is held `one_way` each way: an echo through the wrapper takes a round
    /// trip, and a second message sent right after the first is not held up behind it.
    /// On tokio's paused clock, so the times are exact whatever the machine's load.
    #[tokio::test(start_paused = true)]
    async fn an_echo_takes_a_round_trip_and_messages_are_not_serialised() {
        let (client, socket) = tokio::io::duplex(1024);
        let one_way = Duration::from_millis(100);
        let (mut served, _closed) = delayed(socket, one_way, Bypass::default());
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match served.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => served.write_all(&buf[..n]).await.unwrap(),
                }
            }
        });
        let (mut read, mut write) = tokio::io::split(client);
        let start = Instant::now();
        write.write_all(b"ping").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        write.write_all(b"pong").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        let mut first_at = None;
        while got.len() < 8 {
            let n = read.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            first_at.get_or_insert_with(|| start.elapsed());
        }
        let (first, both) = (first_at.unwrap(), start.elapsed());
        assert_eq!(got, b"pingpong");
        assert!(first >= 2 * one_way, "first echo after {first:?}");
        // The second was sent 20 ms later, so it comes back about 20 ms later, not a
        // round trip later.
        assert!(
            both < first + 2 * Duration::from_millis(20),
            "both echoes after {both:?}"
        );
        // The client closing reaches the server, whose end then closes the client's.
        write.shutdown().await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), read.read(&mut buf))
            .await
            .expect("closed within 2 s")
            .unwrap();
        assert_eq!(n, 0);
    }
}
