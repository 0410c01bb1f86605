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

use bytes::Bytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The size of one read, and of the in-memory pipe between the server and the wrapper.
const CHUNK: usize = 64 * 1024;

/// Wraps an accepted connection: the server reads and writes the returned stream, and
/// whatever crosses it reaches the other side `one_way` later.
pub fn delayed(socket: TcpStream, one_way: Duration) -> DuplexStream {
    let (server_side, wrapper_side) = tokio::io::duplex(CHUNK);
    let (socket_read, socket_write) = socket.into_split();
    let (wrapper_read, wrapper_write) = tokio::io::split(wrapper_side);
    // Client -> server, and server -> client: each a reader that stamps chunks with their
    // release time and a writer that waits for it.
    tokio::spawn(pump(socket_read, wrapper_write, one_way));
    tokio::spawn(pump(wrapper_read, socket_write, one_way));
    server_side
}

/// Copies `from` to `to`, each chunk released `delay` after it was read.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    mut to: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    delay: Duration,
) {
    let (chunks, mut released) = mpsc::unbounded_channel::<(Instant, Option<Bytes>)>();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0; CHUNK];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    // The end, released after the data before it.
                    let _ = chunks.send((Instant::now() + delay, None));
                    return;
                }
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    if chunks.send((Instant::now() + delay, Some(chunk))).is_err() {
                        return;
                    }
                }
            }
        }
    });
    while let Some((at, chunk)) = released.recv().await {
        tokio::time::sleep_until(at).await;
        match chunk {
            Some(chunk) => {
                if to.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            None => {
                let _ = to.shutdown().await;
                break;
            }
        }
    }
    reader.abort();
}
