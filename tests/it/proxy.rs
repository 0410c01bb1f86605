//! Proxies (the hardening issue's item 6): which proxy each request goes through, and how,
//! the same in every mode, the reachability check before a run included.
//!
//! Tiny proxies run in this process on 127.0.0.1, each recording what it was asked: an
//! HTTP forward proxy (absolute-form GETs and CONNECT), SOCKS5 and SOCKS4 (and their
//! variants that take a name). They forward to a `flags-dl serve` child, and know the
//! name [`NAME`] as that server: a name nothing else resolves, so a run that gets flags by
//! it went through the proxy, and never looked the name up itself.

use crate::harness::{
    assert_exit, flags_dl, free_port, one_stderr_line, scratch, show, text, Server,
};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The server's name that only the test proxies know.
const NAME: &str = "flags.example";

/// Every mode, each run in turn by the tests.
const MODES: [&str; 3] = ["async", "threads", "sequential"];

/// The variables a proxy can come from, cleared for every run so that the shell running
/// the tests cannot change what is tested.
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// How long a proxy's connection may wait for a byte before it gives up: no thread of a
/// test proxy outlives its test by much.
const IDLE: Duration = Duration::from_secs(10);

/// What a proxy was asked to do, once per connection (or, for an HTTP proxy's GETs, per
/// request).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    how: How,
    /// `host:port` as the client gave it: a name, or an address it resolved.
    target: String,
    /// The `Proxy-Authorization` header of an HTTP proxy's request, if any.
    authorization: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// `GET http://host:port/path`: what an HTTP proxy is asked for an `http` URL.
    AbsoluteGet,
    /// `GET /path`: what a server is asked, not a proxy (answered 400).
    OriginGet,
    Connect,
    /// SOCKS5 or SOCKS4a given the server's name.
    SocksName,
    /// SOCKS5 or SOCKS4 given an address.
    SocksAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    /// An HTTP proxy spoken to over TLS (`https://`), for absolute-form requests only.
    Https,
    Socks5,
    Socks4,
    /// An HTTP proxy that answers every CONNECT 403 Forbidden.
    HttpRefusing,
    /// A SOCKS5 proxy that answers every request "connection refused".
    Socks5Refusing,
}

/// A proxy on 127.0.0.1 that records what it is asked and forwards to `server`; stopped
/// when dropped.
struct TestProxy {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
    stop: Arc<AtomicBool>,
    /// The CA of an `https://` proxy's certificate, as PEM, for `--cacert`.
    ca_file: Option<tempfile::NamedTempFile>,
}

impl TestProxy {
    fn start(kind: Kind, server: SocketAddr) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (asked.clone(), stop.clone());
        let (tls, ca_file) = match kind {
            Kind::Https => {
                let (config, ca_file) = tls_identity();
                (Some(config), Some(ca_file))
            }
            _ => (None, None),
        };
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (log, tls) = (log.clone(), tls.clone());
                thread::spawn(move || {
                    let _ = client.set_read_timeout(Some(IDLE));
                    let _ = client.set_write_timeout(Some(IDLE));
                    let _ = match kind {
                        Kind::Http => http_proxy(Conn::Plain(client), server, &log, false),
                        Kind::Https => match rustls::ServerConnection::new(tls.unwrap()) {
                            Ok(tls) => {
                                let stream = rustls::StreamOwned::new(tls, client);
                                http_proxy(Conn::Tls(Box::new(stream)), server, &log, false)
                            }
                            Err(e) => Err(io::Error::other(e)),
                        },
                        Kind::HttpRefusing => http_proxy(Conn::Plain(client), server, &log, true),
                        Kind::Socks5 => socks5_proxy(client, server, &log, false),
                        Kind::Socks5Refusing => socks5_proxy(client, server, &log, true),
                        Kind::Socks4 => socks4_proxy(client, server, &log),
                    };
                });
            }
        });
        TestProxy {
            addr,
            asked,
            stop,
            ca_file,
        }
    }

    /// The CA file of an `https://` proxy.
    fn ca(&self) -> String {
        let file = self.ca_file.as_ref().expect("an https proxy");
        file.path().to_str().unwrap().to_string()
    }

    /// `<scheme>://127.0.0.1:<port>`.
    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    /// Fails unless the proxy was asked at least once, and every time `how` for `target`.
    fn assert_only(&self, how: How, target: &str, context: &str) {
        let asked = self.asked();
        assert!(!asked.is_empty(), "the proxy was never asked\n{context}");
        for one in &asked {
            assert_eq!(
                (one.how, one.target.as_str()),
                (how, target),
                "{asked:?}\n{context}"
            );
        }
    }

    fn assert_never_asked(&self, context: &str) {
        assert_eq!(self.asked(), [], "the proxy was asked\n{context}");
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Where a proxy connects for `host:port`: the server for [`NAME`], any address itself,
/// `localhost` as 127.0.0.1.
fn upstream(target: &str, server: SocketAddr) -> io::Result<TcpStream> {
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| io::Error::other("no port"))?;
    let addr = if host == NAME {
        server
    } else {
        let port: u16 = port.parse().map_err(io::Error::other)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (host, port)
            .to_socket_addrs()?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| io::Error::other("no address"))?
    };
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(IDLE))?;
    Ok(stream)
}

/// Copies each way between `a` and `b` until both ends are done.
fn splice(mut a: TcpStream, mut b: TcpStream) {
    let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let back = thread::spawn(move || {
        let _ = io::copy(&mut b2, &mut a2);
        let _ = a2.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut a, &mut b);
    let _ = b.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// A TLS identity for an `https://` proxy: a certificate for 127.0.0.1 and localhost,
/// signed by a CA of its own, whose PEM is in the file returned.
fn tls_identity() -> (Arc<rustls::ServerConfig>, tempfile::NamedTempFile) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    ca_file.write_all(ca.pem().as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    (Arc::new(config), ca_file)
}

/// An HTTP proxy's connection from its client: plain, or over TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.read(buf),
            Conn::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(tls) => tls.flush(),
        }
    }
}

/// Reads a request head byte by byte (nothing past it), `None` at a clean end.
fn read_head(stream: &mut impl Read) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("head too long"));
        }
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// An HTTP forward proxy: CONNECT tunnels (or, `refusing`, 403 for each), and
/// absolute-form requests forwarded one per connection (the answer says
/// `Connection: close`).
fn http_proxy(
    mut client: Conn,
    server: SocketAddr,
    log: &Mutex<Vec<Asked>>,
    refusing: bool,
) -> io::Result<()> {
    let Some(head) = read_head(&mut client)? else {
        return Ok(());
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let authorization = headers.iter().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    let record = |how, target: &str| {
        log.lock().unwrap().push(Asked {
            how,
            target: target.to_string(),
            authorization: authorization.clone(),
        })
    };
    if method == "CONNECT" {
        record(How::Connect, target);
        if refusing {
            client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        }
        let Conn::Plain(mut client) = client else {
            // Not needed by the tests: a tunnel inside TLS would need a relay of its own.
            client.write_all(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        };
        let upstream = upstream(target, server)?;
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        splice(client, upstream);
        return Ok(());
    }
    let Some(rest) = target.strip_prefix("http://") else {
        record(How::OriginGet, target);
        client.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    record(How::AbsoluteGet, &authority);
    let mut upstream = upstream(&authority, server)?;
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for header in headers {
        let name = header.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "connection" && !name.starts_with("proxy-") {
            forwarded.push_str(header);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes())?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    client.write_all(&answer)?;
    client.flush()?;
    if let Conn::Tls(tls) = &mut client {
        // A TLS close, so the answer's end is not taken for a cut.
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    Ok(())
}

/// A SOCKS5 proxy (RFC 1928) without authentication, CONNECT only; `refusing`, it
/// answers each request "connection refused".
fn socks5_proxy(
    mut client: TcpStream,
    server: SocketAddr,
    log: &Mutex<Vec<Asked>>,
    refusing: bool,
) -> io::Result<()> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting)?;
    let mut methods = vec![0u8; greeting[1] as usize];
    client.read_exact(&mut methods)?;
    client.write_all(&[5, 0])?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request)?;
    let (how, host) = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip)?;
            (How::SocksAddress, std::net::Ipv4Addr::from(ip).to_string())
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip)?;
            (
                How::SocksAddress,
                format!("[{}]", std::net::Ipv6Addr::from(ip)),
            )
        }
        3 => {
            let mut len = [0u8];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name)?;
            (How::SocksName, String::from_utf8_lossy(&name).into_owned())
        }
        _ => return Err(io::Error::other("unknown address type")),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    log.lock().unwrap().push(Asked {
        how,
        target: target.clone(),
        authorization: None,
    });
    if refusing {
        client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Ok(());
    }
    let upstream = upstream(&target, server)?;
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    splice(client, upstream);
    Ok(())
}

/// A SOCKS4 proxy, and SOCKS4a when given `0.0.0.x` and a name.
fn socks4_proxy(
    mut client: TcpStream,
    server: SocketAddr,
    log: &Mutex<Vec<Asked>>,
) -> io::Result<()> {
    let mut request = [0u8; 8];
    client.read_exact(&mut request)?;
    let read_string = |client: &mut TcpStream| -> io::Result<String> {
        let mut text = Vec::new();
        let mut byte = [0u8];
        loop {
            client.read_exact(&mut byte)?;
            if byte[0] == 0 {
                return Ok(String::from_utf8_lossy(&text).into_owned());
            }
            text.push(byte[0]);
        }
    };
    let _user = read_string(&mut client)?;
    let port = u16::from_be_bytes([request[2], request[3]]);
    let ip = std::net::Ipv4Addr::new(request[4], request[5], request[6], request[7]);
    let (how, host) = if ip.octets()[..3] == [0, 0, 0] && ip.octets()[3] != 0 {
        (How::SocksName, read_string(&mut client)?)
    } else {
        (How::SocksAddress, ip.to_string())
    };
    let target = format!("{host}:{port}");
    log.lock().unwrap().push(Asked {
        how,
        target: target.clone(),
        authorization: None,
    });
    let upstream = upstream(&target, server)?;
    client.write_all(&[0, 90, 0, 0, 0, 0, 0, 0])?;
    splice(client, upstream);
    Ok(())
}

/// Runs `flags-dl BR CN --mode <mode> <args>` with only the proxy variables of `env`.
fn run_mode(mode: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let tmp = scratch();
    let mut cmd = flags_dl();
    for name in PROXY_VARIABLES {
        cmd.env_remove(name);
    }
    cmd.current_dir(tmp.path())
        .envs(env.iter().copied())
        .args([
            "BR",
            "CN",
            "--mode",
            mode,
            "-o",
            "out",
            "--connect-timeout",
            "3",
        ])
        .args(args)
        .output()
        .unwrap()
}

/// Fails unless the run got both flags.
fn assert_both_downloaded(out: &Output) {
    assert_exit(out, 0);
    assert!(
        text(&out.stdout).contains("2 flags downloaded."),
        "{}",
        show(out)
    );
}

/// `http://flags.example:<port>/flags`: the server, by the name only the proxies know.
fn by_name(server: &Server) -> String {
    format!("http://{NAME}:{}/flags", server.addr.port())
}

#[test]
fn an_http_url_goes_to_http_proxy_as_absolute_form_gets_never_connect() {
    let server = Server::start(&[]);
    for mode in MODES {
        let proxy = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[("HTTP_PROXY", &proxy.url("http"))],
            &["-s", &by_name(&server)],
        );
        assert_both_downloaded(&out);
        let target = format!("{NAME}:{}", server.addr.port());
        proxy.assert_only(
            How::AbsoluteGet,
            &target,
            &format!("{mode}\n{}", show(&out)),
        );
        assert!(proxy.asked().len() >= 2, "{mode}: {:?}", proxy.asked());
    }
}

#[test]
fn an_http_url_through_http_proxy_at_the_default_port_is_asked_for_by_name() {
    // `http://flags.example/flags` (port 80): the port the proxy is given is the URL's.
    let server = Server::start(&[]);
    for mode in MODES {
        let proxy = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[("http_proxy", &proxy.url("http"))],
            &["-s", &format!("http://{NAME}/flags")],
        );
        assert_both_downloaded(&out);
        proxy.assert_only(
            How::AbsoluteGet,
            &format!("{NAME}:80"),
            &format!("{mode}\n{}", show(&out)),
        );
    }
}

#[test]
fn https_proxy_is_never_applied_to_http_urls() {
    let server = Server::start(&[]);
    for mode in MODES {
        let for_http = TestProxy::start(Kind::Http, server.addr);
        let for_https = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[
                ("HTTPS_PROXY", &for_https.url("http")),
                ("HTTP_PROXY", &for_http.url("http")),
            ],
            &["-s", &by_name(&server)],
        );
        assert_both_downloaded(&out);
        let context = format!("{mode}\n{}", show(&out));
        for_https.assert_never_asked(&context);
        for_http.assert_only(
            How::AbsoluteGet,
            &format!("{NAME}:{}", server.addr.port()),
            &context,
        );
    }
}

#[test]
fn all_proxy_serves_a_scheme_without_a_variable_of_its_own() {
    let server = Server::start(&[]);
    for mode in MODES {
        let all = TestProxy::start(Kind::Socks5, server.addr);
        let for_https = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[
                ("ALL_PROXY", &all.url("socks5h")),
                ("HTTPS_PROXY", &for_https.url("http")),
            ],
            &["-s", &by_name(&server)],
        );
        assert_both_downloaded(&out);
        let context = format!("{mode}\n{}", show(&out));
        for_https.assert_never_asked(&context);
        all.assert_only(
            How::SocksName,
            &format!("{NAME}:{}", server.addr.port()),
            &context,
        );
    }
}

#[test]
fn socks5h_and_socks4a_are_given_the_name_that_only_the_proxy_knows() {
    let server = Server::start(&[]);
    for (kind, scheme) in [(Kind::Socks5, "socks5h"), (Kind::Socks4, "socks4a")] {
        for mode in MODES {
            let proxy = TestProxy::start(kind, server.addr);
            let out = run_mode(
                mode,
                &[],
                &["-s", &by_name(&server), "--proxy", &proxy.url(scheme)],
            );
            assert_both_downloaded(&out);
            proxy.assert_only(
                How::SocksName,
                &format!("{NAME}:{}", server.addr.port()),
                &format!("{scheme} {mode}\n{}", show(&out)),
            );
        }
    }
}

#[test]
fn socks5_and_socks4_are_given_an_address_resolved_here() {
    let server = Server::start(&[]);
    let port = server.addr.port();
    for (kind, scheme) in [(Kind::Socks5, "socks5"), (Kind::Socks4, "socks4")] {
        for mode in MODES {
            let proxy = TestProxy::start(kind, server.addr);
            let out = run_mode(
                mode,
                &[],
                &[
                    "-s",
                    &format!("http://localhost:{port}/flags"),
                    "--proxy",
                    &proxy.url(scheme),
                ],
            );
            assert_both_downloaded(&out);
            proxy.assert_only(
                How::SocksAddress,
                &format!("127.0.0.1:{port}"),
                &format!("{scheme} {mode}\n{}", show(&out)),
            );
        }
    }
}

#[test]
fn socks5_with_a_name_only_the_proxy_knows_is_one_line_pointing_to_socks5h() {
    let server = Server::start(&[]);
    for mode in MODES {
        let proxy = TestProxy::start(Kind::Socks5, server.addr);
        let out = run_mode(
            mode,
            &[("ALL_PROXY", &proxy.url("socks5"))],
            &["-s", &by_name(&server)],
        );
        assert_exit(&out, 1);
        let line = one_stderr_line(&out);
        assert!(line.contains(&format!("cannot resolve {NAME}")), "{line}");
        assert!(line.contains("socks5h://"), "{line}");
        proxy.assert_never_asked(&format!("{mode}\n{}", show(&out)));
    }
}

#[test]
fn an_https_url_goes_through_http_proxy_by_connect() {
    let server = Server::start(&["--tls"]);
    let ca = server.cacert().expect("serve --tls names its CA");
    let url = format!("https://localhost:{}/flags", server.addr.port());
    for mode in MODES {
        let proxy = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[],
            &[
                "-s",
                &url,
                "--cacert",
                ca.to_str().unwrap(),
                "--proxy",
                &proxy.url("http"),
            ],
        );
        assert_both_downloaded(&out);
        proxy.assert_only(
            How::Connect,
            &format!("localhost:{}", server.addr.port()),
            &format!("{mode}\n{}", show(&out)),
        );
    }
}

#[test]
fn an_https_proxy_is_spoken_to_over_tls_its_certificate_checked() {
    let server = Server::start(&[]);
    for mode in MODES {
        let proxy = TestProxy::start(Kind::Https, server.addr);
        let url = format!("https://localhost:{}", proxy.addr.port());
        let out = run_mode(
            mode,
            &[("HTTP_PROXY", &url)],
            &["-s", &by_name(&server), "--cacert", &proxy.ca()],
        );
        assert_both_downloaded(&out);
        proxy.assert_only(
            How::AbsoluteGet,
            &format!("{NAME}:{}", server.addr.port()),
            &format!("{mode}\n{}", show(&out)),
        );
        // Without its CA: the proxy's certificate is refused, and named as the proxy's.
        let out = run_mode(mode, &[("HTTP_PROXY", &url)], &["-s", &by_name(&server)]);
        assert_exit(&out, 1);
        let line = one_stderr_line(&out);
        assert!(
            line.contains(&format!(
                "the certificate of the proxy localhost:{} is not trusted",
                proxy.addr.port()
            )),
            "{mode}: {line}"
        );
    }
}

#[test]
fn no_proxy_and_noproxy_reach_the_server_directly() {
    let server = Server::start(&[]);
    for mode in MODES {
        // The environment's NO_PROXY, with a leading dot, bypasses the environment's
        // proxy: flags.example is then looked up here, and is not found.
        let proxy = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[("HTTP_PROXY", &proxy.url("http")), ("NO_PROXY", ".example")],
            &["-s", &by_name(&server)],
        );
        assert_exit(&out, 1);
        let line = one_stderr_line(&out);
        assert!(line.contains(&format!("cannot resolve {NAME}")), "{line}");
        proxy.assert_never_asked(&format!("{mode}\n{}", show(&out)));

        // NO_PROXY binds --proxy too, and --noproxy takes NO_PROXY's place.
        let cases: [Case; 3] = [
            (&[("no_proxy", "127.0.0.1")], &[], false),
            (&[], &["--noproxy", "localhost,127.0.0.0/8"], false),
            (&[("NO_PROXY", "127.0.0.1")], &["--noproxy", ""], true),
        ];
        for (env, noproxy, proxied) in cases {
            let proxy = TestProxy::start(Kind::Http, server.addr);
            let mut args = vec!["-s", &server.base_url, "--proxy"];
            let url = proxy.url("http");
            args.push(&url);
            args.extend_from_slice(noproxy);
            let out = run_mode(mode, env, &args);
            assert_both_downloaded(&out);
            let context = format!("{mode} {env:?} {noproxy:?}\n{}", show(&out));
            if proxied {
                proxy.assert_only(How::AbsoluteGet, &server.addr.to_string(), &context);
            } else {
                proxy.assert_never_asked(&context);
            }
        }
    }
}

/// The environment, the options, and whether the proxy is used.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], bool);

#[test]
fn the_proxy_option_takes_the_place_of_the_environment() {
    let server = Server::start(&[]);
    for mode in MODES {
        let chosen = TestProxy::start(Kind::Http, server.addr);
        let ambient = TestProxy::start(Kind::Http, server.addr);
        let out = run_mode(
            mode,
            &[
                ("http_proxy", &ambient.url("http")),
                ("ALL_PROXY", &ambient.url("http")),
            ],
            &["-s", &by_name(&server), "--proxy", &chosen.url("http")],
        );
        assert_both_downloaded(&out);
        let context = format!("{mode}\n{}", show(&out));
        ambient.assert_never_asked(&context);
        chosen.assert_only(
            How::AbsoluteGet,
            &format!("{NAME}:{}", server.addr.port()),
            &context,
        );
    }
}

#[test]
fn the_environment_never_proxies_this_machine() {
    let server = Server::start(&[]);
    let port = server.addr.port();
    for mode in MODES {
        for base in [
            Some(format!("http://127.0.0.1:{port}/flags")),
            Some(format!("http://localhost:{port}/flags")),
            None,
        ] {
            let proxy = TestProxy::start(Kind::Http, server.addr);
            let url = proxy.url("http");
            let env = [
                ("http_proxy", url.as_str()),
                ("HTTPS_PROXY", &url),
                ("ALL_PROXY", &url),
            ];
            let args: Vec<&str> = base.iter().flat_map(|b| ["-s", b.as_str()]).collect();
            let out = run_mode(mode, &env, &args);
            assert_both_downloaded(&out);
            proxy.assert_never_asked(&format!("{mode} {base:?}\n{}", show(&out)));
        }
    }
}

#[test]
fn a_proxy_that_cannot_be_reached_is_one_line_naming_it() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    for mode in MODES {
        let out = run_mode(
            mode,
            &[("HTTP_PROXY", &dead)],
            &["-s", "http://flags.example/flags"],
        );
        assert_exit(&out, 1);
        let line = one_stderr_line(&out);
        assert!(
            line.starts_with(&format!(
                "flags-dl: cannot reach the proxy {dead} (from HTTP_PROXY) for the Custom server at http://flags.example/flags: connection refused"
            )),
            "{line}"
        );
        assert!(
            line.contains("--noproxy flags.example or unset HTTP_PROXY"),
            "{line}"
        );
    }
}

#[test]
fn what_a_proxy_refuses_is_a_connect_error_saying_so_in_every_mode() {
    let server = Server::start(&["--tls"]);
    let ca = server.cacert().expect("serve --tls names its CA");
    let https = format!("https://localhost:{}/flags", server.addr.port());
    for (kind, scheme, base) in [
        (Kind::Socks5Refusing, "socks5h", by_name(&server)),
        (Kind::HttpRefusing, "http", https),
    ] {
        for mode in MODES {
            let proxy = TestProxy::start(kind, server.addr);
            let out = run_mode(
                mode,
                &[],
                &[
                    "-s",
                    &base,
                    "--cacert",
                    ca.to_str().unwrap(),
                    "--proxy",
                    &proxy.url(scheme),
                    "--json",
                    "--retries",
                    "0",
                ],
            );
            // Not the harness's `json_run`, which expects a server on loopback.
            assert_exit(&out, 1);
            let stdout = text(&out.stdout);
            let codes: Vec<serde_json::Value> = stdout
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .filter(|line: &serde_json::Value| line.get("cc").is_some())
                .collect();
            assert_eq!(codes.len(), 2, "{scheme} {mode}\n{}", show(&out));
            for line in codes {
                let context = format!("{scheme} {mode}: {line}");
                assert_eq!(line["error_kind"], "connect", "{context}");
                let reason = line["error"].as_str().unwrap_or_default();
                assert!(reason.starts_with("the proxy refused: "), "{context}");
            }
        }
    }
}

#[test]
fn the_proxy_option_is_used_for_the_embedded_server_too() {
    let dead = format!("socks5h://127.0.0.1:{}", free_port());
    for mode in MODES {
        // Any server will do as the proxy's way on: the embedded one is this process's.
        let anywhere = "127.0.0.1:9".parse().unwrap();
        let proxy = TestProxy::start(Kind::Socks5, anywhere);
        let out = run_mode(mode, &[], &["--proxy", &proxy.url("socks5h")]);
        // The proxy was asked for the embedded server's address, and connected to it.
        assert_both_downloaded(&out);
        let asked = proxy.asked();
        assert!(!asked.is_empty(), "{mode}\n{}", show(&out));
        assert!(
            asked
                .iter()
                .all(|a| a.how == How::SocksAddress && a.target.starts_with("127.0.0.1:")),
            "{mode}: {asked:?}"
        );
        // A proxy that cannot be reached is one line there too.
        let out = run_mode(mode, &[], &["--proxy", &dead]);
        assert_exit(&out, 1);
        let line = one_stderr_line(&out);
        assert!(
            line.starts_with(&format!(
                "flags-dl: cannot reach the proxy {dead} (from --proxy) for the EMBEDDED server"
            )),
            "{mode}: {line}"
        );
    }
}

#[test]
fn a_proxy_password_is_sent_to_the_proxy_and_never_shown() {
    let server = Server::start(&[]);
    for mode in MODES {
        let proxy = TestProxy::start(Kind::Http, server.addr);
        let with_password = format!("http://alice:s3cr%40t@{}", proxy.addr);
        let out = run_mode(
            mode,
            &[],
            &["-s", &by_name(&server), "--proxy", &with_password],
        );
        assert_both_downloaded(&out);
        let asked = proxy.asked();
        assert!(!asked.is_empty(), "{mode}\n{}", show(&out));
        for one in asked {
            // base64("alice:s3cr@t")
            assert_eq!(
                one.authorization.as_deref(),
                Some("Basic YWxpY2U6czNjckB0"),
                "{mode}"
            );
        }
    }
    let dead = format!("http://alice:s3cret@127.0.0.1:{}", free_port());
    let out = run_mode(
        "async",
        &[],
        &["-s", "http://flags.example/flags", "--proxy", &dead],
    );
    assert_exit(&out, 1);
    let line = one_stderr_line(&out);
    assert!(
        line.contains("the proxy http://alice:***@127.0.0.1:"),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");
}

#[test]
fn a_proxy_that_cannot_be_used_is_a_usage_error() {
    for (env, args, expected) in [
        (None, ["--proxy", "ftp://proxy:21"], "ftp:// is not a proxy scheme"),
        (None, ["--proxy", "socks://proxy"], "say socks4://"),
        (None, ["--proxy", "http://u:secret@proxy:1/path"], "no path"),
        (
            Some(("HTTPS_PROXY", "gopher://u:secret@proxy")),
            ["-s", "https://flags.example/flags"],
            "HTTPS_PROXY='gopher://u:***@proxy' is not a proxy flags-dl can use: gopher:// is not a proxy scheme",
        ),
    ] {
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        let out = run_mode("async", &env, &args);
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
        assert!(text(&out.stdout).is_empty(), "{}", show(&out));
    }
    // A variable that would apply to no request of the run stops nothing.
    let out = run_mode("async", &[("HTTPS_PROXY", "gopher://proxy")], &[]);
    assert_both_downloaded(&out);
}
