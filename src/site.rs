//! Where flags come from: the book's server labels (`SERVERS` in flags2_common.py) and
//! plain base URLs, and the check that a server can be reached before a run starts.
//!
//! A flag's URL is `<base>/<cc>/<cc>.gif` with `cc` in lower case. The embedded server has
//! no URL until it is started, so it is a variant of its own.
//!
//! A URL is printed only through [`shown_url`], which masks a password in it, as curl and
//! git do: the report, NDJSON, errors and the bench all show `http://alice:***@host/…`.

use crate::address::{is_loopback, shown_url};
use crate::proxy::{ProxyChoice, ProxyRules, ProxyScheme, Source};
use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The server a download run talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// The built-in server, started in this process on an ephemeral loopback port.
    Embedded,
    /// A server named by a label or a URL.
    Remote {
        /// `LOCAL`, `DELAY`, `ERROR`, `REMOTE`, or `None` for a URL given by the user.
        label: Option<&'static str>,
        /// Base URL without a trailing slash.
        base: String,
    },
}

/// A site ready to download from: the embedded server started (and kept running while
/// this lives), or a remote server found reachable.
pub struct OpenSite {
    /// `<base>` of `<base>/<cc>/<cc>.gif`.
    pub base_url: String,
    embedded: Option<crate::serve::Embedded>,
}

impl OpenSite {
    /// The embedded server's CA, when it speaks TLS: the run trusts it by itself.
    pub fn embedded_ca(&self) -> Option<&rustls_pki_types::CertificateDer<'static>> {
        self.embedded.as_ref()?.ca.as_ref()
    }

    /// A remote site taken as reachable, for unit tests of what follows a start.
    #[cfg(test)]
    pub fn remote_for_tests(base_url: &str) -> OpenSite {
        OpenSite {
            base_url: base_url.to_string(),
            embedded: None,
        }
    }

    /// Whether the server runs in this process (each connection then costs two file
    /// descriptors, one at each end).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// The book's labels and their base URLs.
pub const LABELS: [(&str, &str); 4] = [
    ("LOCAL", "http://localhost:8000/flags"),
    ("DELAY", "http://localhost:8001/flags"),
    ("ERROR", "http://localhost:8002/flags"),
    ("REMOTE", "https://www.fluentpython.com/data/flags"),
];

impl Site {
    /// Parses `EMBEDDED`, one of [`LABELS`] (any case), or an http(s) base URL.
    pub fn parse(arg: &str) -> Result<Site, String> {
        if arg.eq_ignore_ascii_case("EMBEDDED") {
            return Ok(Site::Embedded);
        }
        if let Some((label, base)) = LABELS.iter().find(|(l, _)| l.eq_ignore_ascii_case(arg)) {
            return Ok(Site::Remote {
                label: Some(label),
                base: base.to_string(),
            });
        }
        let shown = crate::text::quoted_short(&shown_url(arg));
        let url = reqwest::Url::parse(arg).map_err(|e| {
            format!("{shown} is neither a server label (EMBEDDED, LOCAL, DELAY, ERROR, REMOTE) nor a URL ({e})")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "{shown} is not an http or https URL; give one like http://localhost:8000/flags"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{shown} has a query or fragment; give the folder that holds <cc>/<cc>.gif"
            ));
        }
        // The book's own servers keep their label however their URL is spelled
        // (`127.0.0.1` for `localhost`, a trailing slash), so that the report says LOCAL
        // and a server that is down gets the hint to start it.
        let label = LABELS
            .iter()
            .find(|(_, base)| reqwest::Url::parse(base).is_ok_and(|b| same_server(&b, &url)))
            .map(|(label, _)| *label);
        Ok(Site::Remote {
            label,
            base: arg.trim_end_matches('/').to_string(),
        })
    }

    /// Makes the site ready: starts the embedded server as `embedded` asks, or
    /// checks, within `connect_timeout`, that a remote server can be reached at all, so
    /// that a server that is down is one line rather than one error per code.
    ///
    /// Where `proxies` send the server's requests through a proxy, the server is never
    /// contacted from here, and its name is not even resolved unless the proxy is given
    /// addresses (`socks4`, `socks5`): the check is that the proxy can be reached.
    pub fn open(
        &self,
        embedded: crate::serve::EmbeddedOptions,
        connect_timeout: Duration,
        proxies: &ProxyRules,
    ) -> anyhow::Result<OpenSite> {
        match self {
            Site::Embedded => {
                let server = crate::serve::start_embedded(embedded)?;
                // Only `--proxy` can send the embedded server's requests through a proxy.
                let url = reqwest::Url::parse(&server.base_url)?;
                if let Some(proxy) = proxies.for_url(&url) {
                    self.check_proxy(proxy, &server.base_url, &url, connect_timeout)?;
                }
                Ok(OpenSite {
                    base_url: server.base_url.clone(),
                    embedded: Some(server),
                })
            }
            Site::Remote { base, .. } => {
                let unreachable = |reason| crate::error::Error::Unreachable {
                    label: self.label().to_string(),
                    url: shown_url(base),
                    reason,
                    hint: self.unreachable_hint(),
                };
                let url = reqwest::Url::parse(base).map_err(|e| unreachable(e.to_string()))?;
                if let Some(why) = proxies.unusable_for(&url) {
                    return Err(crate::error::Error::Usage(why.to_string()).into());
                }
                match proxies.for_url(&url) {
                    None => check_reachable(base, connect_timeout).map_err(unreachable)?,
                    Some(proxy) => self.check_proxy(proxy, base, &url, connect_timeout)?,
                }
                Ok(OpenSite {
                    base_url: base.clone(),
                    embedded: None,
                })
            }
        }
    }

    /// The check of [`Site::open`] through `proxy`: the server's name resolved here only if
    /// the proxy is to be given an address, and a connection opened to the proxy alone.
    fn check_proxy(
        &self,
        proxy: &ProxyChoice,
        base: &str,
        url: &reqwest::Url,
        timeout: Duration,
    ) -> Result<(), crate::error::Error> {
        let host = url.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !proxy.scheme.proxy_resolves() {
            let port = url.port_or_known_default().unwrap_or(80);
            resolve(host, port, timeout).map_err(|reason| crate::error::Error::Unreachable {
                label: self.label().to_string(),
                url: shown_url(base),
                reason,
                hint: format!(
                    "{} asks for {}://, with which flags-dl resolves the server's name itself; {}:// lets the proxy resolve it",
                    proxy.source,
                    proxy.scheme.as_str(),
                    if proxy.scheme == ProxyScheme::Socks4 { "socks4a" } else { "socks5h" }
                ),
            })?;
        }
        connect(&proxy.host, proxy.port, timeout).map_err(|reason| {
            let bypass = match proxy.source {
                Source::Option => "leave out --proxy".to_string(),
                Source::Env(name) => format!("unset {name}"),
            };
            crate::error::Error::ProxyUnreachable {
                proxy: proxy.describe(),
                label: self.label().to_string(),
                url: shown_url(base),
                reason,
                hint: format!(
                    "check that the proxy is running, or reach the server directly: --noproxy {host} or {bypass}"
                ),
            }
        })
    }

    /// The label the report shows (`LOCAL site: …`).
    pub fn label(&self) -> &'static str {
        match self {
            Site::Embedded => "EMBEDDED",
            Site::Remote {
                label: Some(label), ..
            } => label,
            Site::Remote { label: None, .. } => "Custom",
        }
    }

    /// What to do when this server cannot be reached.
    pub fn unreachable_hint(&self) -> String {
        match self.label() {
            "LOCAL" => "start it with `flags-dl serve local` in another terminal".into(),
            "DELAY" => "start it with `flags-dl serve delay` in another terminal".into(),
            "ERROR" => "start it with `flags-dl serve error` in another terminal".into(),
            _ if std::env::var_os("FLAGS_DL_SERVER").is_some() => "check the URL and that the server is running, or unset FLAGS_DL_SERVER to use the embedded server".into(),
            _ => "check the URL and that the server is running, or leave out -s to use the embedded server".into(),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Embedded => f.write_str("EMBEDDED"),
            Site::Remote { base, .. } => f.write_str(&shown_url(base)),
        }
    }
}

/// Whether two base URLs name the same folder of the same server: same scheme, port and
/// path (a trailing slash aside), and the same host, every loopback name (`localhost`,
/// 127.0.0.0/8, `::1`) counting as one. A user name and password do not change the server.
fn same_server(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    let host = |u: &reqwest::Url| {
        if is_loopback(u.as_str()) {
            "loopback".to_string()
        } else {
            u.host_str().unwrap_or_default().to_ascii_lowercase()
        }
    };
    a.scheme() == b.scheme()
        && a.port_or_known_default() == b.port_or_known_default()
        && host(a) == host(b)
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

/// The flag URL for one code under a base URL.
pub fn flag_url(base: &str, cc: &str) -> String {
    let cc = cc.to_ascii_lowercase();
    format!("{base}/{cc}/{cc}.gif")
}

/// The metadata URL for one code under a base URL (the book's flags3).
pub fn metadata_url(base: &str, cc: &str) -> String {
    format!("{base}/{}/metadata.json", cc.to_ascii_lowercase())
}

/// Opens, and at once closes, one TCP connection to the server of `base`.
///
/// One refused connection says more than 194 "connection refused" lines, so the run checks
/// once before it starts. A server that accepts and then fails is left to the per-code
/// outcomes. Returns the reason in lower case on failure.
pub fn check_reachable(base: &str, timeout: Duration) -> Result<(), String> {
    let url = reqwest::Url::parse(base).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    connect(host, port, timeout)
}

/// Resolves `host` and opens, and at once closes, one TCP connection to it, trying each
/// address. Returns the reason in lower case on failure.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addrs = resolve(host, port, timeout)?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!("connection refused by {addr}");
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no answer from {addr} within {} s", timeout.as_secs_f64());
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Resolves `host` within `timeout`: the system resolver has no deadline of its own, so it
/// runs on a thread that is left behind if it hangs.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<std::net::SocketAddr>, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::spawn(move || {
        let _ = sender.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect),
        );
    });
    match receiver.recv_timeout(timeout) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "cannot resolve {host} within {} s",
            timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_case_insensitive() {
        assert_eq!(Site::parse("embedded"), Ok(Site::Embedded));
        let local = Site::parse("local").unwrap();
        assert_eq!(local.label(), "LOCAL");
        assert_eq!(local.to_string(), "http://localhost:8000/flags");
    }

    #[test]
    fn urls_lose_their_trailing_slash_and_must_be_http() {
        assert_eq!(
            Site::parse("http://127.0.0.1:9/flags/")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9/flags"
        );
        assert!(Site::parse("ftp://example.com/flags")
            .unwrap_err()
            .contains("http or https"));
        assert!(Site::parse("nowhere")
            .unwrap_err()
            .contains("neither a server label"));
    }

    #[test]
    fn passwords_are_masked_in_a_site_and_its_errors() {
        let site = Site::parse("http://alice:s3cret@127.0.0.1:9/flags").unwrap();
        assert_eq!(site.to_string(), "http://alice:***@127.0.0.1:9/flags");
        assert!(!Site::parse("http://alice:s3cret@h/f?x")
            .unwrap_err()
            .contains("s3cret"));
    }

    #[test]
    fn the_books_servers_keep_their_label_however_spelled() {
        let cases = [
            ("http://localhost:8000/flags", Some("LOCAL")),
            ("http://127.0.0.1:8000/flags/", Some("LOCAL")),
            ("http://LOCALHOST:8000/flags", Some("LOCAL")),
            ("http://[::1]:8001/flags", Some("DELAY")),
            ("http://127.0.0.1:8002/flags//", Some("ERROR")),
            ("https://www.fluentpython.com/data/flags/", Some("REMOTE")),
            ("http://127.0.0.1:8003/flags", None),
            ("http://127.0.0.1:8000/other", None),
            ("https://localhost:8000/flags", None),
        ];
        for (url, label) in cases {
            let Site::Remote { label: got, .. } = Site::parse(url).unwrap() else {
                panic!("{url} is not remote");
            };
            assert_eq!(got, label, "{url}");
        }
        let site = Site::parse("http://127.0.0.1:8000/flags/").unwrap();
        assert_eq!(site.to_string(), "http://127.0.0.1:8000/flags");
    }

    #[test]
    fn flag_urls_are_lower_case() {
        assert_eq!(flag_url("http://h/flags", "BR"), "http://h/flags/br/br.gif");
        assert_eq!(
            metadata_url("http://h/flags", "BR"),
            "http://h/flags/br/metadata.json"
        );
    }
}
