//! Issue 10: the failure promises hold over HTTP/2. A reset stream or a GOAWAY is a
//! transient failure of that request only; a stream that never answers times out; a body
//! past `--max-size` is refused with nothing saved; Ctrl-C stops a run at once. Async mode
//! against [`H2Server`], an HTTPS server that speaks HTTP/2 only (ALPN `h2`), so a flag it
//! served proves the request went over HTTP/2.
//!
//! The server is the `h2` crate's, over tokio-rustls, with a certificate from a CA the
//! test makes; its base URL's first segment names what it does (see [`Fault`]). It counts
//! connections and the requests of each path.

use crate::fault_server::gif_bytes;
use crate::harness::{bin_path, command, flags_dl, parse_ndjson, scratch, show, text, Spawned};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server does, by the first segment of the path.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `/ok/...`: the GIF.
    Ok,
    /// `/reset/...`: the first request of each path gets RST_STREAM(INTERNAL_ERROR).
    ResetOnce,
    /// `/goaway/...`: each connection answers two requests, then sends GOAWAY and closes.
    GoAwayAfterTwo,
    /// `/hang/...`: the request is taken and never answered.
    Hang,
    /// `/big/...`: a GIF of 2 MiB, past a `--max-size` of 1M.
    Big,
}

impl Fault {
    fn of(path: &str) -> Fault {
        match path.split('/').nth(1) {
            Some("reset") => Fault::ResetOnce,
            Some("goaway") => Fault::GoAwayAfterTwo,
            Some("hang") => Fault::Hang,
            Some("big") => Fault::Big,
            _ => Fault::Ok,
        }
    }
}

struct H2Server {
    port: u16,
    ca: tempfile::NamedTempFile,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    connections: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl H2Server {
    fn start() -> H2Server {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let mut ca_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut ca_file, ca.pem().as_bytes()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        {
            let (hits, connections) = (hits.clone(), connections.clone());
            runtime.spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::Relaxed);
                    let (acceptor, hits) = (acceptor.clone(), hits.clone());
                    tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            serve(tls, hits).await;
                        }
                    });
                }
            });
        }
        H2Server {
            port,
            ca: ca_file,
            hits,
            connections,
            runtime: Some(runtime),
        }
    }

    fn base_url(&self, fault: &str) -> String {
        format!("https://localhost:{}/{fault}", self.port)
    }

    fn cacert(&self) -> String {
        self.ca.path().display().to_string()
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn requests(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves one connection: each request as its path's [`Fault`] says.
async fn serve(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
) {
    let Ok(mut connection) = h2::server::handshake(tls).await else {
        return;
    };
    let mut answered = 0;
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        let path = request.uri().path().to_string();
        let hit = {
            let mut hits = hits.lock().unwrap();
            let hit = hits.entry(path.clone()).or_insert(0);
            *hit += 1;
            *hit
        };
        let fault = Fault::of(&path);
        let body = match fault {
            Fault::ResetOnce if hit == 1 => {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
                continue;
            }
            Fault::Hang => {
                // Kept open, unanswered, until the client goes away.
                tokio::spawn(async move {
                    let _respond = respond;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
                continue;
            }
            Fault::Big => {
                let mut gif = b"GIF89a".to_vec();
                gif.resize(2 << 20, b'x');
                gif
            }
            _ => gif_bytes(&path),
        };
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "image/gif")
            .header("content-length", body.len())
            .body(())
            .unwrap();
        if let Ok(mut stream) = respond.send_response(response, false) {
            tokio::spawn(async move {
                for chunk in body.chunks(16 * 1024) {
                    stream.reserve_capacity(chunk.len());
                    if stream
                        .send_data(Bytes::copy_from_slice(chunk), false)
                        .is_err()
                    {
                        return;
                    }
                }
                let _ = stream.send_data(Bytes::new(), true);
            });
        }
        answered += 1;
        if matches!(fault, Fault::GoAwayAfterTwo) && answered == 2 {
            connection.graceful_shutdown();
        }
    }
    // The answers still being sent need the connection driven until it closes.
    let _ = std::future::poll_fn(|cx| connection.poll_closed(cx)).await;
}

fn run(
    server: &H2Server,
    fault: &str,
    args: &[&str],
) -> (std::process::Output, crate::harness::Scratch) {
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(Duration::from_secs(30))
        .current_dir(sandbox.path())
        .args([
            "-s",
            &server.base_url(fault),
            "--cacert",
            &server.cacert(),
            "--json",
        ])
        .args(args)
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    (output, sandbox)
}

#[test]
fn a_reset_stream_is_sent_again_and_only_that_request() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "reset", &["BR", "CN", "IN", "--retries", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let json = parse_ndjson(&text(&output.stdout));
    assert_eq!(json.summary.ok, 3, "{}", show(&output));
    for cc in ["br", "cn", "in"] {
        let path = format!("/reset/{cc}/{cc}.gif");
        assert_eq!(server.hits(&path), 2, "{path}: reset once, then served");
        let saved = std::fs::read(sandbox.out().join(format!("{cc}.gif"))).unwrap();
        assert_eq!(saved, gif_bytes(&path));
    }
    assert_eq!(server.requests(), 6, "no other request was sent again");
    for (cc, line) in &json.codes {
        assert_eq!(
            line.attempts, 2,
            "{cc}: the reset counted as one failed attempt"
        );
    }
    assert!(text(&output.stdout).contains(r#""http_version":"2""#));
}

#[test]
fn a_goaway_moves_the_other_requests_to_a_new_connection_and_loses_none() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "goaway", &["--all", "-m", "20"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let json = parse_ndjson(&text(&output.stdout));
    assert_eq!(
        (json.summary.ok, json.summary.error),
        (194, 0),
        "{}",
        show(&output)
    );
    assert_eq!(std::fs::read_dir(sandbox.out()).unwrap().count(), 194);
    let retried = json.codes.values().filter(|line| line.attempts > 1).count();
    // hyper sends the streams past the GOAWAY again on a new connection by itself.
    println!("{retried} codes took more than one attempt");
    assert!(
        json.codes
            .values()
            .all(|line| line.http_version.as_deref() == Some("2")),
        "{}",
        show(&output)
    );
    // Each sent again at once, not after a timeout (10 s by default).
    assert!(json.summary.elapsed_s < 5.0, "{}", show(&output));
    let connections = server.connections.load(Ordering::Relaxed);
    assert!(
        connections >= 97,
        "two answers per connection: {connections} connections"
    );
}

#[test]
fn a_stream_never_answered_times_out_as_over_http11() {
    let server = H2Server::start();
    let started = Instant::now();
    let (output, sandbox) = run(&server, "hang", &["BR", "--timeout", "1", "--retries", "0"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}",
        show(&output)
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(r#""error_kind":"timeout""#),
        "{}",
        show(&output)
    );
    assert_eq!(server.hits("/hang/br/br.gif"), 1);
    assert_eq!(std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()), 0);
}

#[test]
fn a_body_past_max_size_is_refused_and_nothing_is_left() {
    let server = H2Server::start();
    let (output, sandbox) = run(&server, "big", &["BR", "--max-size", "1M"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(r#""error_kind":"too_large""#),
        "{}",
        show(&output)
    );
    assert_eq!(
        std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()),
        0,
        "no file, no temporary"
    );
}

#[test]
fn ctrl_c_stops_an_http2_run_at_once_and_leaves_nothing() {
    let server = H2Server::start();
    let sandbox = scratch();
    let mut cmd = command(bin_path());
    cmd.current_dir(sandbox.path())
        .args([
            "BR",
            "CN",
            "--timeout",
            "20",
            "-s",
            &server.base_url("hang"),
        ])
        .args(["--cacert", &server.cacert(), "-o"])
        .arg(sandbox.out());
    let mut child = Spawned::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests() < 2 {
        assert!(Instant::now() < deadline, "the requests never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal("INT");
    let status = child.wait(Duration::from_secs(5));
    let (stdout, stderr) = child.kill();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("2 cancelled"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(sandbox.out()).map_or(0, |d| d.count()),
        0,
        "no temporary"
    );
}
