//! Issue 9, from the server's side: what a server that takes its connections one at a time
//! sees of flags-dl's pace at `-m 100`.
//!
//! [`QueueServer`] works as `python3 -m http.server` does under its GIL: one thread takes
//! a connection from the listen queue, reads its request, answers HTTP/1.0 with a small
//! GIF, closes, and only then takes the next. Each time it takes one, it asks the kernel
//! how many more are waiting in its queue (`TCP_INFO` on the listening socket: for a
//! listener, `tcpi_unacked` is the accept queue's length) and keeps the most. Its queue
//! holds 128, so that nothing is dropped and the count shows what the client piled up,
//! where a queue of 5 would hide it behind dropped handshakes.
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
    fn start() -> QueueServer {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind on loopback");
        socket.listen(128).expect("listen");
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

fn a_server_taking_one_connection_at_a_time_sees_a_handful_waiting(mode: &str) {
    let server = QueueServer::start();
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(Duration::from_secs(30))
        .current_dir(sandbox.path())
        .args(["--all", "--json", "-m", "100", "--mode", mode])
        .args(["-s", &format!("http://{}/flags", server.addr)])
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let summary = parse_ndjson(&text(&output.stdout)).summary;
    assert_eq!(summary.ok, all_codes().len(), "{}", show(&output));
    let most = server.most_waiting.load(Ordering::Relaxed);
    println!(
        "{mode}: at most {most} connections waiting, {} served, {} late",
        server.served.load(Ordering::Relaxed),
        summary.more["late_connects"]
    );
    // Opening all 100 at once left about 95 waiting, and pacing connections only as they
    // came up 45 to 91 (and 92 to 98 when a loaded machine made the first answer look
    // slow); the book's servers keep 5, and drop the rest. Paced as now: 2 to 4, in the
    // full suite too, and up to 22 in threads mode with four runs at once and two busy
    // loops on two cores (49 there, before a slow first answer could no longer turn the
    // counting off; 37 under the Vegas rule before 48ecea7).
    assert!(most <= 30, "{most} connections waited in the queue at once");
}

#[test]
fn async_mode() {
    a_server_taking_one_connection_at_a_time_sees_a_handful_waiting("async");
}

#[test]
fn threads_mode() {
    a_server_taking_one_connection_at_a_time_sees_a_handful_waiting("threads");
}
