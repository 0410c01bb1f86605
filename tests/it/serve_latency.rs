//! `flags-dl serve --latency` holds what crosses each connection, so it must hold it
//! within bounds: a client that sends faster than the server reads cannot grow the
//! server's memory, and nothing of a connection (its socket, its tasks) outlives the
//! server closing it, whatever the client does afterwards. Each test reproduces the
//! misuse against a real server child.

use crate::harness::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One line of `/proc/<pid>/status`, in kB (`None` where there is no /proc).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The server's open file descriptors (`None` where there is no /proc).
fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The wrapper read the client as fast as it sent, into a queue without bound, while the
/// server (busy with a delayed request) read nothing: 400 MiB sent made 400 MiB of server
/// memory. Now it holds at most a few MiB each way, and then the client has to wait, as
/// TCP's window would make it.
#[test]
fn a_client_sending_faster_than_the_server_reads_cannot_grow_its_memory() {
    let server = Server::start(&["--latency", "20", "--delay", "4"]);
    let pid = server.pid();
    let Some(before) = status_kib(pid, "VmHWM:") else {
        println!("skipping: no /proc/<pid>/status");
        return;
    };
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // One request, answered after the 4 s delay; meanwhile the server reads nothing more.
    let head = format!(
        "GET /flags/br/br.gif HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let junk = vec![b'x'; 1 << 20];
    let (started, mut sent) = (Instant::now(), 0usize);
    while sent < 400 << 20 && started.elapsed() < Duration::from_secs(3) {
        match stream.write(&junk) {
            Ok(n) => sent += n,
            // Held back: the server is bounding what it takes.
            Err(_) => break,
        }
    }
    let grew = status_kib(pid, "VmHWM:").unwrap() - before;
    println!(
        "sent {} MiB; the server grew {} MiB",
        sent >> 20,
        grew >> 10
    );
    assert!(
        grew < 64 << 10,
        "the server grew {} MiB while a client sent {} MiB it did not read",
        grew >> 10,
        sent >> 20
    );
}

/// The wrapper's reader stayed on the socket after the server had closed the connection,
/// until the client closed too: a client that never does kept a socket and two tasks each,
/// past the connection cap, since the connection's slot was free. Now the connection's
/// end ends its reader, and the socket is closed with it.
#[test]
fn a_connection_closed_by_the_server_leaves_nothing_open_whatever_the_client_does() {
    let server = Server::start(&["--latency", "10"]);
    let pid = server.pid();
    let Some(before) = open_fds(pid) else {
        println!("skipping: no /proc/<pid>/fd");
        return;
    };
    // 100 clients, each answered and closed by the server (Connection: close), each
    // keeping its own end open afterwards.
    let mut kept = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET /flags/br/br.gif HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "an answer, then the end"
        );
        kept.push(stream);
    }
    // Each connection's end reaches the server's side within the latency; give it a
    // generous second, polling, so the test waits no longer than it must.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut now_open = open_fds(pid).unwrap();
    while now_open > before + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now_open = open_fds(pid).unwrap();
    }
    assert!(
        now_open <= before + 5,
        "{} descriptors still open for 100 connections the server closed ({before} before)",
        now_open
    );
    drop(kept);
}
