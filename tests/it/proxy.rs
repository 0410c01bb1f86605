//! Proxies (the hardening issue's item 6): which proxy each request goes through, and how,
//! the same in every mode, the reachability check before a run included.
//!
//! Tiny proxies run in this process on 127.0.0.1, each recording what it was asked: an
//! HTTP forward proxy (absolute-form GETs and CONNECT), SOCKS5 and SOCKS4 (and their
//! variants that take a name). They forward to a `flags-dl serve` child, and know the
//! name [`NAME`] as that server: a name nothing else resolves, so a run that gets flags by
//! it went through the proxy, and never looked the name up itself.
//!
//! The cases are one table ([`proxy_cases`]): the proxies each run starts and what each
//! must have been asked (or not), the environment and options, and whether the run gets
//! both flags or fails with one line saying what; one test runs each in every mode.

use crate::harness::{
    assert_exit, assert_stdout_has, check_each, flags_dl, free_port, one_stderr_line, scratch,
    show, text, Server,
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
    fn ca(&self) -> Option<String> {
        let file = self.ca_file.as_ref()?;
        Some(file.path().to_str().unwrap().to_string())
    }

    /// `<scheme>://127.0.0.1:<port>`.
    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    /// Fails unless the proxy was asked at least once, and every time `how` for `target`
    /// (a `*` at its end stands for any rest); for absolute-form GETs, one a flag: two.
    fn assert_only(&self, how: How, target: &str, context: &str) {
        let asked = self.asked();
        assert!(!asked.is_empty(), "the proxy was never asked\n{context}");
        for one in &asked {
            let fits = match target.strip_suffix('*') {
                Some(start) => one.target.starts_with(start),
                None => one.target == target,
            };
            assert!(
                one.how == how && fits,
                "{asked:?}, not {how:?} {target}\n{context}"
            );
        }
        if how == How::AbsoluteGet {
            assert!(asked.len() >= 2, "one GET a flag: {asked:?}\n{context}");
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
    assert_stdout_has(out, "2 flags downloaded.");
}

// ---- The proxy cases ----

/// What a proxy of a case must have been asked.
enum Expect {
    /// At least once, and each time `how` for this target (a template, see [`Case`]), as
    /// [`TestProxy::assert_only`] checks.
    Only(How, &'static str),
    Never,
}

use Expect::{Never, Only};
use How::{AbsoluteGet, Connect, SocksAddress, SocksName};
use Kind::{Http, Https, Socks4, Socks5};

/// One run of `flags-dl BR CN` in each mode, with proxies of its own. Its environment,
/// options and expectations are templates: `{name}` is [`NAME`], `{port}` the server's
/// port, `{base}` its base URL, `{addr}` its address, `{ca}` its CA file (`serve --tls`),
/// `{p0}` and `{p1}` the proxies' `127.0.0.1:<port>`, `{p0port}` the first one's port,
/// `{p0ca}` its CA file (an `https://` proxy), `{dead}` an address nothing listens on.
struct Case {
    name: &'static str,
    /// The server is `serve --tls`.
    tls: bool,
    proxies: Vec<(Kind, Expect)>,
    env: Vec<(&'static str, &'static str)>,
    args: Vec<&'static str>,
    /// `None`: both flags are downloaded. Otherwise the run exits 1 with one line on
    /// stderr that holds each of these (`^...`: starts with it; `!...`: does not hold it).
    fails: Option<Vec<&'static str>>,
    /// The `Proxy-Authorization` of every request the first proxy is asked.
    authorization: Option<&'static str>,
    modes: &'static [&'static str],
}

/// A case: `flags-dl BR CN <args>`, in every mode; its proxies and environment follow.
fn case(name: &'static str, args: &[&'static str]) -> Case {
    Case {
        name,
        tls: false,
        proxies: Vec::new(),
        env: Vec::new(),
        args: args.to_vec(),
        fails: None,
        authorization: None,
        modes: &MODES,
    }
}

impl Case {
    /// A proxy of `kind`, `{p0}` for the first, `{p1}` for the second.
    fn proxy(mut self, kind: Kind, expect: Expect) -> Case {
        self.proxies.push((kind, expect));
        self
    }

    fn env(mut self, name: &'static str, value: &'static str) -> Case {
        self.env.push((name, value));
        self
    }

    fn tls(mut self) -> Case {
        self.tls = true;
        self
    }

    fn fails(mut self, line: &[&'static str]) -> Case {
        self.fails = Some(line.to_vec());
        self
    }

    fn authorization(mut self, value: &'static str) -> Case {
        self.authorization = Some(value);
        self
    }

    fn only_async(mut self) -> Case {
        self.modes = &["async"];
        self
    }
}

/// The proxy cases, by what they show: a table, laid out by hand.
#[rustfmt::skip]
fn proxy_cases() -> Vec<Case> {
    let named = "http://{name}:{port}/flags";
    let name_port = "{name}:{port}";
    let local = "http://localhost:{port}/flags";
    let cannot_resolve = "cannot resolve {name}";
    let unreachable = "^flags-dl: cannot reach the proxy http://{dead} (from HTTP_PROXY) for the \
                       Custom server at http://flags.example/flags: connection refused";
    let mut cases = vec![
        // Which proxy, and how it is asked.
        case("an_http_url_goes_to_http_proxy_as_absolute_form_gets_never_connect", &["-s", named])
            .proxy(Http, Only(AbsoluteGet, name_port)).env("HTTP_PROXY", "http://{p0}"),
        // The port the proxy is given is the URL's.
        case("an_http_url_through_http_proxy_at_the_default_port_is_asked_for_by_name",
             &["-s", "http://{name}/flags"])
            .proxy(Http, Only(AbsoluteGet, "{name}:80")).env("http_proxy", "http://{p0}"),
        case("https_proxy_is_never_applied_to_http_urls", &["-s", named])
            .proxy(Http, Only(AbsoluteGet, name_port)).env("HTTP_PROXY", "http://{p0}")
            .proxy(Http, Never).env("HTTPS_PROXY", "http://{p1}"),
        case("all_proxy_serves_a_scheme_without_a_variable_of_its_own", &["-s", named])
            .proxy(Socks5, Only(SocksName, name_port)).env("ALL_PROXY", "socks5h://{p0}")
            .proxy(Http, Never).env("HTTPS_PROXY", "http://{p1}"),
        case("socks5h_is_given_the_name_that_only_the_proxy_knows",
             &["-s", named, "--proxy", "socks5h://{p0}"])
            .proxy(Socks5, Only(SocksName, name_port)),
        case("socks4a_is_given_the_name_that_only_the_proxy_knows",
             &["-s", named, "--proxy", "socks4a://{p0}"])
            .proxy(Socks4, Only(SocksName, name_port)),
        case("socks5_is_given_an_address_resolved_here", &["-s", local, "--proxy", "socks5://{p0}"])
            .proxy(Socks5, Only(SocksAddress, "127.0.0.1:{port}")),
        case("socks4_is_given_an_address_resolved_here", &["-s", local, "--proxy", "socks4://{p0}"])
            .proxy(Socks4, Only(SocksAddress, "127.0.0.1:{port}")),
        case("socks5_with_a_name_only_the_proxy_knows_is_one_line_pointing_to_socks5h",
             &["-s", named])
            .proxy(Socks5, Never).env("ALL_PROXY", "socks5://{p0}")
            .fails(&[cannot_resolve, "socks5h://"]),
        case("an_https_url_goes_through_http_proxy_by_connect",
             &["-s", "https://localhost:{port}/flags", "--cacert", "{ca}",
               "--proxy", "http://{p0}"])
            .proxy(Http, Only(Connect, "localhost:{port}")).tls(),
        case("an_https_proxy_is_spoken_to_over_tls", &["-s", named, "--cacert", "{p0ca}"])
            .proxy(Https, Only(AbsoluteGet, name_port))
            .env("HTTP_PROXY", "https://localhost:{p0port}"),
        // Without its CA, the proxy's certificate is refused, and named as the proxy's.
        case("an_https_proxy_has_its_certificate_checked", &["-s", named])
            .proxy(Https, Never).env("HTTP_PROXY", "https://localhost:{p0port}")
            .fails(&["the certificate of the proxy localhost:{p0port} is not trusted"]),
        // NO_PROXY, with a leading dot, bypasses the environment's proxy: flags.example is
        // then looked up here, and is not found. It binds --proxy too, and --noproxy takes
        // its place.
        case("no_proxy_bypasses_the_environments_proxy", &["-s", named])
            .proxy(Http, Never).env("HTTP_PROXY", "http://{p0}").env("NO_PROXY", ".example")
            .fails(&[cannot_resolve]),
        case("no_proxy_binds_the_proxy_option", &["-s", "{base}", "--proxy", "http://{p0}"])
            .proxy(Http, Never).env("no_proxy", "127.0.0.1"),
        case("noproxy_takes_the_place_of_no_proxy",
             &["-s", "{base}", "--proxy", "http://{p0}", "--noproxy", "localhost,127.0.0.0/8"])
            .proxy(Http, Never),
        case("an_empty_noproxy_undoes_no_proxy",
             &["-s", "{base}", "--proxy", "http://{p0}", "--noproxy", ""])
            .proxy(Http, Only(AbsoluteGet, "{addr}")).env("NO_PROXY", "127.0.0.1"),
        case("the_proxy_option_takes_the_place_of_the_environment",
             &["-s", named, "--proxy", "http://{p0}"])
            .proxy(Http, Only(AbsoluteGet, name_port))
            .proxy(Http, Never).env("http_proxy", "http://{p1}").env("ALL_PROXY", "http://{p1}"),
        case("a_proxy_that_cannot_be_reached_is_one_line_naming_it",
             &["-s", "http://flags.example/flags"])
            .env("HTTP_PROXY", "http://{dead}")
            .fails(&[unreachable, "--noproxy flags.example or unset HTTP_PROXY"]),
        // The embedded server, through any proxy: the proxy's way on is its address.
        case("the_proxy_option_is_used_for_the_embedded_server_too", &["--proxy", "socks5h://{p0}"])
            .proxy(Socks5, Only(SocksAddress, "127.0.0.1:*")),
        case("an_unreachable_proxy_for_the_embedded_server_is_one_line_naming_it",
             &["--proxy", "socks5h://{dead}"])
            .fails(&["^flags-dl: cannot reach the proxy socks5h://{dead} (from --proxy) \
                      for the EMBEDDED server"]),
        // base64("alice:s3cr@t")
        case("a_proxy_password_is_sent_to_the_proxy",
             &["-s", named, "--proxy", "http://alice:s3cr%40t@{p0}"])
            .proxy(Http, Only(AbsoluteGet, name_port)).authorization("Basic YWxpY2U6czNjckB0"),
        case("a_proxy_password_is_never_shown",
             &["-s", "http://flags.example/flags", "--proxy", "http://alice:s3cret@{dead}"])
            .fails(&["the proxy http://alice:***@127.0.0.1:", "!s3cret"]).only_async(),
    ];
    // The environment never proxies this machine, named or not, nor the embedded server.
    for (name, args) in [
        ("the_environment_never_proxies_127_0_0_1", &["-s", "http://127.0.0.1:{port}/flags"][..]),
        ("the_environment_never_proxies_localhost", &["-s", local]),
        ("the_environment_never_proxies_the_embedded_server", &[]),
    ] {
        cases.push(case(name, args).proxy(Http, Never).env("http_proxy", "http://{p0}")
            .env("HTTPS_PROXY", "http://{p0}").env("ALL_PROXY", "http://{p0}"));
    }
    cases
}

#[test]
fn every_proxy_case_in_every_mode() {
    let plain = Server::start(&[]);
    let tls = Server::start(&["--tls"]);
    let runs = proxy_cases().into_iter().flat_map(|case| {
        let modes = case.modes;
        let case = std::rc::Rc::new(case);
        modes.iter().map(move |mode| (case.clone(), *mode))
    });
    check_each(
        runs,
        |(case, mode)| format!("{} in {mode} mode", case.name),
        |(case, mode)| run_case(case, mode, if case.tls { &tls } else { &plain }),
    );
}

/// Starts the case's proxies in front of `server`, runs it in `mode` and checks it.
fn run_case(case: &Case, mode: &str, server: &Server) {
    let proxies: Vec<TestProxy> = case
        .proxies
        .iter()
        .map(|(kind, _)| TestProxy::start(*kind, server.addr))
        .collect();
    let ca = server.cacert().map(|ca| ca.to_str().unwrap().to_string());
    let mut values = vec![
        ("{name}", NAME.to_string()),
        ("{port}", server.addr.port().to_string()),
        ("{base}", server.base_url.clone()),
        ("{addr}", server.addr.to_string()),
        ("{ca}", ca.unwrap_or_default()),
        ("{dead}", format!("127.0.0.1:{}", free_port())),
    ];
    for (i, proxy) in proxies.iter().enumerate() {
        values.push((["{p0}", "{p1}"][i], proxy.addr.to_string()));
    }
    if let Some(proxy) = proxies.first() {
        values.push(("{p0port}", proxy.addr.port().to_string()));
        values.push(("{p0ca}", proxy.ca().unwrap_or_default()));
    }
    let fill = |template: &str| {
        values
            .iter()
            .fold(template.to_string(), |text, (key, value)| {
                text.replace(key, value)
            })
    };
    let env: Vec<(&str, String)> = case
        .env
        .iter()
        .map(|(name, value)| (*name, fill(value)))
        .collect();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let args: Vec<String> = case.args.iter().map(|arg| fill(arg)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_mode(mode, &env, &args);
    let context = format!("{} in {mode} mode\n{}", case.name, show(&out));
    match &case.fails {
        None => assert_both_downloaded(&out),
        Some(wants) => {
            assert_exit(&out, 1);
            let line = one_stderr_line(&out);
            for want in wants.iter().map(|want| fill(want)) {
                let holds = match (want.strip_prefix('^'), want.strip_prefix('!')) {
                    (Some(start), _) => line.starts_with(start),
                    (_, Some(absent)) => !line.contains(absent),
                    _ => line.contains(&want),
                };
                assert!(holds, "{want:?}: {line}\n{context}");
            }
        }
    }
    for (proxy, (_, expect)) in proxies.iter().zip(&case.proxies) {
        match expect {
            Never => proxy.assert_never_asked(&context),
            Only(how, target) => proxy.assert_only(*how, &fill(target), &context),
        }
    }
    if let Some(value) = case.authorization {
        for one in proxies[0].asked() {
            assert_eq!(one.authorization.as_deref(), Some(value), "{context}");
        }
    }
}

#[test]
fn what_a_proxy_refuses_is_a_connect_error_saying_so_in_every_mode() {
    let server = Server::start(&["--tls"]);
    let ca = server.cacert().expect("serve --tls names its CA");
    let https = format!("https://localhost:{}/flags", server.addr.port());
    for (kind, scheme, base) in [
        (
            Kind::Socks5Refusing,
            "socks5h",
            format!("http://{NAME}:{}/flags", server.addr.port()),
        ),
        (Kind::HttpRefusing, "http", https),
    ] {
        for mode in MODES {
            let proxy = TestProxy::start(kind, server.addr);
            let url = proxy.url(scheme);
            let args = [
                "-s",
                &base,
                "--cacert",
                ca.to_str().unwrap(),
                "--proxy",
                &url,
            ];
            let out = run_mode(
                mode,
                &[],
                &[&args[..], &["--json", "--retries", "0"]].concat(),
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
