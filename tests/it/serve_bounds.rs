//! `flags-dl serve` under the floods that once held it (hardening II): HTTP/2 clients that
//! never open their flow-control window, thousands of streams of one flag, a server out of
//! file descriptors, and the connection cap taken at its word. Each test reproduces the
//! attack against a real server child with a client of its own (h2 over rustls, or plain
//! sockets), bounded in time and memory.

use crate::harness::{flags_dl, scratch, show, Server};
use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A TLS client config that trusts only `ca` and offers HTTP/2.
fn h2_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// An HTTP/2 connection whose streams start with a window of `window` bytes; the task
/// drives it and ends when the server closes it.
struct H2 {
    send: h2::client::SendRequest<Bytes>,
    driver: JoinHandle<()>,
}

async fn h2_connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>, window: u32) -> H2 {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .expect("a TLS handshake");
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(window)
        // The connection's window never stands in the way: each test starves or feeds
        // its streams on their own.
        .initial_connection_window_size(64 << 20)
        .handshake(tls)
        .await
        .expect("an HTTP/2 handshake");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    H2 { send, driver }
}

impl H2 {
    /// Sends a GET of `path`; the answer's head and body come with the future.
    async fn get(&mut self, path: &str) -> h2::client::ResponseFuture {
        let request = http::Request::get(format!("https://localhost{path}"))
            .body(())
            .unwrap();
        let mut send = self.send.clone().ready().await.expect("room for a stream");
        send.send_request(request, true).expect("a stream").0
    }
}

/// A `--dir` folder holding `lk/lk.gif` of `len` bytes (a GIF header, then noise) and
/// `fr/fr.gif`.
fn folder_with_a_flag_of(len: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("flags");
    for cc in ["lk", "fr"] {
        std::fs::create_dir_all(root.join(cc)).unwrap();
    }
    let mut gif = b"GIF89a".to_vec();
    gif.extend((0..len - 6).map(|i| (i * 7 + i / 251) as u8));
    std::fs::write(root.join("lk/lk.gif"), &gif).unwrap();
    std::fs::write(root.join("fr/fr.gif"), b"GIF89a-fr").unwrap();
    (tmp, root)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// 4,100 HTTP/2 connections that set `SETTINGS_INITIAL_WINDOW_SIZE` to 0 and asked once
/// held their slots for good (a window-starved answer never ended), and every real client
/// was turned away for as long; with `--max-connections 50`, 49 sufficed. Now an answer
/// its client takes nothing of is ended after the send timeout, and at the cap such a
/// connection makes room for a newcomer.
#[test]
fn window_starved_http2_connections_hold_no_slot() {
    let server = Server::start(&["--tls", "--max-connections", "20", "--send-timeout", "2"]);
    let ca = server.cacert().unwrap();
    let config = h2_config(&ca);
    let rt = runtime();
    let (addr, ca_arg) = (server.addr, ca.to_str().unwrap().to_string());
    rt.block_on(async {
        // The cap's worth of starved connections, each with its answer's head in.
        let mut starved = Vec::new();
        for _ in 0..20 {
            let mut conn = h2_connect(addr, &config, 0).await;
            let answer = conn.get("/flags/br/br.gif").await;
            let head = tokio::time::timeout(Duration::from_secs(10), answer)
                .await
                .expect("the answer's head within 10 s")
                .unwrap();
            assert_eq!(head.status(), 200);
            starved.push((conn, head));
        }
        // A real client at once: room is made for it.
        let out = scratch();
        let base = format!("https://localhost:{}/flags", addr.port());
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || {
            let out_dir = out.out_arg();
            let result = flags_dl()
                .current_dir(out.path())
                .args([
                    "-s", &base, "--cacert", &ca_arg, "-o", &out_dir, "BR", "FR", "--json",
                ])
                .output()
                .unwrap();
            (result, out)
        });
        let (result, _out) = run.await.unwrap();
        assert!(result.status.success(), "{}", show(&result));
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "served within the send timeout's order, not held up: {:?}",
            started.elapsed()
        );
        // And each starved answer ends: its connection closed within the send timeout.
        for (conn, head) in starved {
            let mut body = head.into_body();
            tokio::time::timeout(Duration::from_secs(10), conn.driver)
                .await
                .expect("the server closed the starved connection")
                .unwrap();
            assert!(
                body.data().await.is_none_or(|data| data.is_err()),
                "nothing of the starved answer arrives"
            );
        }
    });
}

/// One stream that stops taking its answer is reset on its own: the connection's other
/// streams go on (the connection closes only once nothing on it moves).
#[test]
fn a_stalled_http2_stream_is_reset_and_its_connections_other_streams_go_on() {
    let (_tmp, root) = folder_with_a_flag_of(512 * 1024);
    let server = Server::start(&[
        "--tls",
        "--dir",
        root.to_str().unwrap(),
        "--send-timeout",
        "1",
    ]);
    let config = h2_config(&server.cacert().unwrap());
    let rt = runtime();
    rt.block_on(async {
        let mut conn = h2_connect(server.addr, &config, 65_535).await;
        // Stalled: takes its first window (64 KiB) and never gives it back.
        let stalled = conn.get("/flags/lk/lk.gif").await.await.unwrap();
        let mut stalled = stalled.into_body();
        let mut got = 0;
        while got < 65_535 {
            got += stalled.data().await.unwrap().unwrap().len();
        }
        // Moving: the same file, taken at 16 KiB every 60 ms, about 2 s in all.
        let moving = conn.get("/flags/lk/lk.gif").await.await.unwrap();
        let mut moving = moving.into_body();
        let mut taken = 0;
        let started = Instant::now();
        while let Some(data) = moving.data().await {
            let data = data.expect("the moving stream is never reset");
            taken += data.len();
            let _ = moving.flow_control().release_capacity(data.len());
            tokio::time::sleep(Duration::from_millis(60 * data.len() as u64 / 16_384)).await;
        }
        assert_eq!(taken, 512 * 1024, "the moving stream's whole file");
        assert!(
            started.elapsed() > Duration::from_secs(1),
            "it was still moving when the other stalled: {:?}",
            started.elapsed()
        );
        let reset = stalled.data().await;
        assert!(
            matches!(&reset, Some(Err(e)) if e.reason() == Some(h2::Reason::CANCEL)),
            "the stalled stream was reset: {reset:?}"
        );
        assert!(!conn.driver.is_finished(), "the connection stays");
    });
}

/// The server's resident memory, at its peak (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

/// 500 connections × 200 streams of a 36 KB flag took 3.8 GB (773 MB at 100 × 200): each
/// answer read the file into a buffer of its own and kept it until the client took it.
/// Now a small file's bytes are shared, and what one answer holds is bounded.
#[test]
fn a_hundred_connections_of_200_streams_of_one_flag_stay_within_256_mib() {
    let (_tmp, root) = folder_with_a_flag_of(36_332);
    let server = Server::start(&["--tls", "--dir", root.to_str().unwrap()]);
    let config = h2_config(&server.cacert().unwrap());
    let rt = runtime();
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..100 {
            let mut conn = h2_connect(server.addr, &config, 0).await;
            let mut answers = Vec::new();
            for _ in 0..200 {
                answers.push(conn.get("/flags/lk/lk.gif").await);
            }
            held.push((conn, answers));
        }
        // Every stream answered (the heads come whatever the windows), none taken.
        for (_, answers) in &mut held {
            for answer in answers.drain(..) {
                let head = tokio::time::timeout(Duration::from_secs(30), answer)
                    .await
                    .expect("every head within 30 s")
                    .unwrap();
                assert_eq!(head.status(), 200);
            }
        }
        let peak = peak_rss_mib(server.pid());
        assert!(peak <= 256.0, "the server's peak RSS: {peak:.0} MiB");
        println!("peak RSS with 20,000 streams of a 36 KB flag held: {peak:.0} MiB");
    });
}

/// Out of file descriptors, `fr.gif`, which exists, was answered 404. A failure of the
/// server's own is a 503 with `Retry-After`, which clients retry; never a 404.
#[test]
fn out_of_file_descriptors_a_flag_that_exists_is_503_not_404() {
    let (_tmp, root) = folder_with_a_flag_of(20 << 20);
    // A hard limit of 128 descriptors, which the server can raise its soft limit no
    // higher than: room for 64 connections and 16 files open (see `Fit`).
    let mut cmd = Server::command(&[]);
    let program = cmd.get_program().to_owned();
    let mut shell = crate::harness::command("sh");
    shell
        .args(["-c", "ulimit -n 128 && exec \"$0\" \"$@\""])
        .arg(program)
        .args([
            "serve",
            "--port",
            "0",
            "--quiet",
            "--dir",
            root.to_str().unwrap(),
        ]);
    cmd = shell;
    let server = Server::from_banner(crate::harness::Spawned::start(cmd));
    let addr = server.addr;
    // A kept-alive connection, opened first, asks for fr.gif at the end.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Requests for the large file, never read: each keeps the file open.
    let mut hogs = Vec::new();
    for _ in 0..60 {
        let Ok(mut hog) = TcpStream::connect(addr) else {
            break;
        };
        let _ = hog.write_all(b"GET /flags/lk/lk.gif HTTP/1.1\r\nHost: x\r\n\r\n");
        hogs.push(hog);
    }
    std::thread::sleep(Duration::from_millis(500));
    kept.write_all(b"GET /flags/fr/fr.gif HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(kept.read(&mut byte).unwrap(), 1, "an answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(
        head.starts_with("http/1.1 503") && head.contains("retry-after: 1"),
        "{head}"
    );
    // Once they are gone, it is there.
    drop(hogs);
    std::thread::sleep(Duration::from_millis(500));
    let again = server.get("/flags/fr/fr.gif");
    assert_eq!(again.status, Some(200), "{again:?}");
}

/// `--max-connections 1` served the first of requests made one after another and reset
/// a later one, depending on timing: the loop closed the connection just accepted, which
/// had not yet sent its request, to make room for no one. `--max-connections N` serves N;
/// past it, a newcomer waits in the listen queue.
#[test]
fn max_connections_n_serves_n_and_a_newcomer_waits_rather_than_being_reset() {
    let server = Server::start(&["--max-connections", "1"]);
    for i in 0..200 {
        let got = server.get("/flags/br/br.gif");
        assert_eq!(got.status, Some(200), "request {i}: {got:?}");
    }
    // Three in flight, with a delay: with 3, all three are served at once, and a fourth
    // waits for one of them rather than being reset.
    let server = Server::start(&["--max-connections", "3", "--delay", "1"]);
    for round in 0..3 {
        let started = Instant::now();
        let fetches: Vec<_> = (0..4)
            .map(|_| {
                let addr = server.addr;
                std::thread::spawn(move || {
                    crate::harness::raw_request(addr, "GET", "/flags/br/br.gif")
                })
            })
            .collect();
        let statuses: Vec<_> = fetches
            .into_iter()
            .map(|f| f.join().unwrap().status)
            .collect();
        assert_eq!(statuses, [Some(200); 4], "round {round}");
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "the fourth waited for a slot: {:?}",
            started.elapsed()
        );
    }
}
