//! Issues 9 and 19, from the server's side: what a server that takes its connections one
//! at a time sees of flags-dl's pace at `-m 100`.
//!
//! [`QueueServer`] works as `python3 -m http.server` does under its GIL: one thread takes
//! a connection from the listen queue, reads its request, answers HTTP/1.0 with a small
//! GIF, closes, and only then takes the next. Each time it takes one, it asks the kernel
//! how many more are waiting in its queue (`TCP_INFO` on the listening socket: for a
//! listener, `tcpi_unacked` is the accept queue's length) and keeps the most.
//!
//! With a queue that holds every connection (128), nothing is dropped: the pace has no
//! evidence to act on and opens them all at once (issue 19: it costs nothing where it is
//! not needed). With the book's queue of 5, the handshakes past it are dropped: each is
//! made again at once rather than left to TCP's retransmission a second later.
//!
//! Linux only (`TCP_INFO` on a listener is Linux's).

#![cfg(target_os = "linux")]

use crate::fault_server::gif_bytes;
use crate::harness::{all_codes, flags_dl, parse_ndjson, scratch, show, text};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the server works on each request, about what `http.server` takes for a flag.
const WORK: Duration = Duration::from_micros(500);

struct QueueServer {
    addr: SocketAddr,
    /// The most connections waiting in the queue when one was taken.
    most_waiting: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl QueueServer {
    /// A server whose listen queue holds `backlog` connections.
    fn start(backlog: i32) -> QueueServer {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind on loopback");
        socket.listen(backlog).expect("listen");
        let listener: TcpListener = socket.into();
        let addr = listener.local_addr().unwrap();
        let (most_waiting, served, stop) = Default::default();
        let thread = {
            let (most_waiting, served, stop): (
                Arc<AtomicUsize>,
                Arc<AtomicUsize>,
                Arc<AtomicBool>,
            ) = (
                Arc::clone(&most_waiting),
                Arc::clone(&served),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                while let Ok((stream, _)) = listener.accept() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    most_waiting.fetch_max(waiting(&listener), Ordering::Relaxed);
                    if answer(stream).is_ok() {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        QueueServer {
            addr,
            most_waiting,
            served,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for QueueServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept so that the thread sees the stop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connections waiting in `listener`'s accept queue, as the kernel counts them.
fn waiting(listener: &TcpListener) -> usize {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a tcp_info of `len` bytes, as getsockopt(TCP_INFO) expects.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_unacked as usize
}

/// Reads one request and answers it as an HTTP/1.0 server does, then closes.
fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(WORK);
    let body = gif_bytes("queue");
    let mut response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: image/gif\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    stream.write_all(&response)
}

/// A run of `--all -m 100` in `mode` against `server`: its NDJSON, checked.
fn run_against(server: &QueueServer, mode: &str) -> crate::harness::JsonRun {
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(Duration::from_secs(30))
        .current_dir(sandbox.path())
        .args([
            "--all",
            "--json",
            "-m",
            "100",
            "--retries",
            "0",
            "--mode",
            mode,
        ])
        .args(["-s", &format!("http://{}/flags", server.addr)])
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let run = parse_ndjson(&text(&output.stdout));
    assert_eq!(run.summary.ok, all_codes().len(), "{}", show(&output));
    println!(
        "{mode}: at most {} connections waiting, {} served, {} late",
        server.most_waiting.load(Ordering::Relaxed),
        server.served.load(Ordering::Relaxed),
        run.summary.more["late_connects"]
    );
    run
}

fn a_deep_queue_gets_every_connection_at_once(mode: &str) {
    let server = QueueServer::start(128);
    let run = run_against(&server, mode);
    // Nothing was dropped: nothing to react to. The old pace opened 4 at a time, grew
    // them, and held each until answered: 2 to 4 waited here, and every fast server paid.
    assert_eq!(
        run.summary.more["late_connects"], 0,
        "no evidence, no pacing"
    );
    let most = server.most_waiting.load(Ordering::Relaxed);
    assert!(most > 30, "all at once: {most} waited in the queue at most");
}

fn the_books_queue_of_5_never_leaves_a_handshake_to_tcps_retransmission(mode: &str) {
    let server = QueueServer::start(5);
    let run = run_against(&server, mode);
    // Opening all 100 at once, about 95 handshakes were dropped and each sent again by
    // TCP a second later (`--pace off` does so, as the book's scripts do). Each is now
    // made again once it is late, a couple of milliseconds in.
    assert!(
        run.summary.more["late_connects"].as_u64().unwrap() > 0,
        "the queue overflowed, and the pace saw it"
    );
    let slowest = run.codes.values().map(|code| code.ms).max().unwrap();
    assert!(
        slowest < 1000,
        "a code took {slowest} ms: a handshake waited out TCP's retransmission"
    );
}

#[test]
fn a_deep_queue_async() {
    a_deep_queue_gets_every_connection_at_once("async");
}

#[test]
fn a_deep_queue_threads() {
    a_deep_queue_gets_every_connection_at_once("threads");
}

#[test]
fn a_queue_of_5_async() {
    the_books_queue_of_5_never_leaves_a_handshake_to_tcps_retransmission("async");
}

#[test]
fn a_queue_of_5_threads() {
    the_books_queue_of_5_never_leaves_a_handshake_to_tcps_retransmission("threads");
}
