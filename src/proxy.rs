//! Which proxy a request goes through, if any: decided here, once per URL, for both clients
//! (reqwest in async mode, ureq in threads and sequential mode) and for the reachability
//! check before a run, from `--proxy`, `--noproxy` and the environment.
//!
//! The rules, as curl has them, with this project's one exception for this machine:
//!
//! 1. A host that the bypass list names is reached directly: `--noproxy LIST` if given,
//!    else `no_proxy` (or `NO_PROXY`). See [`NoProxy`].
//! 2. `--proxy URL` sends every other request through that proxy, this machine's servers
//!    included: it was asked for by name. `--proxy ""` uses no proxy at all.
//! 3. Without `--proxy`, a proxy from the environment is never used for this machine's own
//!    servers (loopback names and addresses, the embedded server among them): a proxy
//!    elsewhere cannot reach them, and a test server must not be reached through one.
//! 4. Otherwise an `http` URL goes through `http_proxy` (or `HTTP_PROXY`), an `https` URL
//!    through `https_proxy` (or `HTTPS_PROXY`), each falling back on `all_proxy` (or
//!    `ALL_PROXY`). The lower-case name is read first, as curl does; an empty value counts
//!    as unset. A variable that cannot be used is an error for the URLs it applies to only
//!    (see [`ProxyRules::unusable_for`]): such a URL is requested neither through it nor
//!    around it.
//!
//! A proxy is `http://`, `https://`, `socks4://`, `socks4a://`, `socks5://` or `socks5h://`
//! (a URL without a scheme is `http://`). With `socks4` and `socks5` the server's name is
//! resolved here and the proxy is given its address; with every other scheme the proxy is
//! given the name and resolves it, so the name is never looked up here.
//!
//! This module does no I/O and knows nothing of either client: it only answers "which
//! proxy for this URL", and parses what the user and the environment give.

use crate::address::{is_loopback_host, shown_url};
use std::fmt;
use std::net::IpAddr;

/// The kinds of proxy flags-dl speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// An HTTP proxy: `http` URLs as absolute-form requests, `https` ones by CONNECT.
    Http,
    /// The same, over TLS to the proxy.
    Https,
    /// SOCKS4: given an IPv4 address resolved here.
    Socks4,
    /// SOCKS4a: given the server's name.
    Socks4a,
    /// SOCKS5: given an address resolved here.
    Socks5,
    /// SOCKS5 given the server's name (`h` for hostname).
    Socks5h,
}

impl ProxyScheme {
    /// Every scheme, as written in a URL.
    const ALL: [(&'static str, ProxyScheme); 6] = [
        ("http", ProxyScheme::Http),
        ("https", ProxyScheme::Https),
        ("socks4", ProxyScheme::Socks4),
        ("socks4a", ProxyScheme::Socks4a),
        ("socks5", ProxyScheme::Socks5),
        ("socks5h", ProxyScheme::Socks5h),
    ];

    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        ProxyScheme::ALL
            .iter()
            .find(|(_, scheme)| *scheme == self)
            .map(|(name, _)| *name)
            .expect("every scheme is listed")
    }

    /// The port a proxy URL without one means: the web's for an HTTP proxy, as reqwest,
    /// ureq and Python's requests take it (curl alone takes 1080), and SOCKS's own.
    fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            _ => 1080,
        }
    }

    /// Whether this is one of the SOCKS schemes.
    pub fn is_socks(self) -> bool {
        !matches!(self, ProxyScheme::Http | ProxyScheme::Https)
    }

    /// Whether the proxy is given the server's name and resolves it; if not, the name is
    /// resolved here and the proxy is given an address (`socks4`, `socks5`).
    pub fn proxy_resolves(self) -> bool {
        !matches!(self, ProxyScheme::Socks4 | ProxyScheme::Socks5)
    }
}

/// Where a proxy was asked for: named in errors, so the user knows what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--proxy`.
    Option,
    /// An environment variable, by name.
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Option => f.write_str("--proxy"),
            Source::Env(name) => f.write_str(name),
        }
    }
}

/// One proxy: where it is, how to speak to it, and who asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyChoice {
    pub scheme: ProxyScheme,
    /// A name, or an IP address (without brackets).
    pub host: String,
    pub port: u16,
    /// User name and password, percent-decoded.
    pub credentials: Option<(String, String)>,
    pub source: Source,
}

impl ProxyChoice {
    /// Parses a proxy URL (`socks5h://user:pass@host:1080`; `host:3128` is `http://`).
    /// The error says what is wrong, without the URL itself (the caller quotes it masked).
    pub fn parse(text: &str, source: Source) -> Result<ProxyChoice, String> {
        let text = text.trim();
        // `proxy:3128` would parse as the scheme `proxy`: a URL without `://` has none.
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| format!("not a URL ({e})"))?;
        let scheme = match url.scheme() {
            "socks" => return Err("socks:// is SOCKS4 to curl and SOCKS5 to others: say socks4://, socks4a://, socks5:// or socks5h://".into()),
            name => ProxyScheme::ALL
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, scheme)| *scheme)
                .ok_or_else(|| format!("{name}:// is not a proxy scheme: give http://, https://, socks4://, socks4a://, socks5:// or socks5h://, as http://proxy:3128"))?,
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("it names no host")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("a proxy URL is a scheme, a host and a port, with no path or query".into());
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| "its user name or password is not UTF-8 once percent-decoded")
        };
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or(""))?,
            ))
        };
        Ok(ProxyChoice {
            scheme,
            port: url.port().unwrap_or(scheme.default_port()),
            host,
            credentials,
            source,
        })
    }

    /// The proxy's URL for the clients, its credentials percent-encoded.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let plain = format!("{}://{host}:{}", self.scheme.as_str(), self.port);
        let Some((user, password)) = &self.credentials else {
            return plain;
        };
        let mut url = url::Url::parse(&plain).expect("made of a parsed URL's parts");
        // Cannot fail: the URL has a host.
        let _ = url.set_username(user);
        let _ = url.set_password(Some(password));
        // `Url` adds a `/` path to the special schemes only; the clients take either.
        url.as_str().trim_end_matches('/').to_string()
    }

    /// The proxy's URL as it may be printed: its password masked.
    pub fn shown(&self) -> String {
        shown_url(&self.url())
    }

    /// `the proxy socks5h://127.0.0.1:1080 (from ALL_PROXY)`, for messages.
    pub fn describe(&self) -> String {
        format!("the proxy {} (from {})", self.shown(), self.source)
    }
}

/// The bypass list: hosts reached directly, never through a proxy.
///
/// As curl reads it: entries separated by commas (or spaces); `*` matches every host; a
/// name matches itself and every name below it (`example.com` matches `www.example.com`,
/// and a leading `.` or `*.` changes nothing); an IP address matches itself, and
/// `192.168.0.0/16` a range. Names are compared without case or a trailing dot; a name
/// never matches an address nor the reverse (nothing is resolved to compare).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    everything: bool,
    names: Vec<String>,
    ranges: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    /// Parses a list; an entry that is neither an address nor a range is taken as a name.
    pub fn parse(list: &str) -> NoProxy {
        let mut parsed = NoProxy::default();
        for entry in list.split([',', ' ', '\t']).map(str::trim) {
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = entry.trim_end_matches('.').to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                parsed.everything = true;
            } else if let Some(range) = parse_range(&entry) {
                parsed.ranges.push(range);
            } else {
                parsed.names.push(entry);
            }
        }
        parsed
    }

    /// Whether `host` (a name, or an address with or without brackets) is to be reached
    /// directly.
    pub fn matches(&self, host: &str) -> bool {
        if self.everything {
            return true;
        }
        let host = normal_host(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self
                .ranges
                .iter()
                .any(|&(net, bits)| in_range(ip, net, bits));
        }
        self.names.iter().any(|name| {
            host == *name
                || host
                    .strip_suffix(name.as_str())
                    .is_some_and(|above| above.ends_with('.'))
        })
    }
}

/// `10.0.0.1`, `[::1]`, `10.0.0.0/8` or `fd00::/8` as an address and a prefix length.
fn parse_range(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok()?)),
        None => (entry, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

/// Whether `ip` is within `net/bits` (never across address families).
fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (ip >> shift) == (net >> shift)
}

/// A host as compared: lower case, without IPv6 brackets or a trailing dot.
fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// What `--proxy` asks for: a proxy, or (`--proxy ""`) none at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyOption(pub Option<ProxyChoice>);

/// The value parser of `--proxy`: the message is a usage error.
pub fn parse_proxy_option(arg: &str) -> Result<ProxyOption, String> {
    if arg.trim().is_empty() {
        return Ok(ProxyOption(None));
    }
    ProxyChoice::parse(arg, Source::Option).map(|p| ProxyOption(Some(p)))
}

/// The value parser of `--noproxy`.
pub fn parse_noproxy_option(arg: &str) -> Result<NoProxy, String> {
    Ok(NoProxy::parse(arg))
}

/// A proxy as the environment gives it: usable, or why not (a usage error naming the
/// variable).
type FromEnv = Result<ProxyChoice, String>;

/// The proxy of every URL of a run, decided by the rules of this module's doc.
#[derive(Debug, Clone, Default)]
pub struct ProxyRules {
    /// `--proxy` was given: the environment's proxies are not read.
    option_given: bool,
    /// `--proxy`'s proxy.
    option: Option<FromEnv>,
    /// From the environment, for `http` and `https` URLs (`all_proxy` already folded in).
    /// A variable that cannot be used is an error only for a URL it would apply to, so a
    /// stray one does not stop runs it has nothing to do with (this machine's servers).
    http: Option<FromEnv>,
    https: Option<FromEnv>,
    bypass: NoProxy,
}

impl ProxyRules {
    /// The rules of `--proxy` and `--noproxy` (each if given) and of the environment, as
    /// `env` reads it.
    pub fn new(
        option: Option<&ProxyOption>,
        noproxy: Option<&NoProxy>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> ProxyRules {
        // The first of the names set to something.
        let first = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|name| Some((name, env(name).filter(|v| !v.trim().is_empty())?)))
        };
        let from_env = |names| {
            let (name, value) = first(names)?;
            Some(
                ProxyChoice::parse(&value, Source::Env(name)).map_err(|why| {
                    format!(
                        "{name}={} is not a proxy flags-dl can use: {why}; fix or unset {name}",
                        crate::text::quoted_short(&shown_url(&value))
                    )
                }),
            )
        };
        let bypass = match noproxy {
            Some(list) => list.clone(),
            None => first(["no_proxy", "NO_PROXY"])
                .map(|(_, list)| NoProxy::parse(&list))
                .unwrap_or_default(),
        };
        if let Some(ProxyOption(option)) = option {
            return ProxyRules {
                option_given: true,
                option: option.clone().map(Ok),
                bypass,
                ..ProxyRules::default()
            };
        }
        let all = from_env(["all_proxy", "ALL_PROXY"]);
        ProxyRules {
            option_given: false,
            option: None,
            http: from_env(["http_proxy", "HTTP_PROXY"]).or_else(|| all.clone()),
            https: from_env(["https_proxy", "HTTPS_PROXY"]).or(all),
            bypass,
        }
    }

    /// The rules of the environment alone (a run without `--proxy` or `--noproxy`).
    pub fn from_env() -> ProxyRules {
        ProxyRules::new(None, None, &|name| std::env::var(name).ok())
    }

    /// The proxy for a URL, if one applies (see the module's doc).
    pub fn for_url(&self, url: &url::Url) -> Option<&ProxyChoice> {
        self.for_target(url.scheme(), url.host_str()?)
    }

    /// The proxy for a request of `scheme` (`http` or `https`) to `host`, if one applies.
    pub fn for_target(&self, scheme: &str, host: &str) -> Option<&ProxyChoice> {
        self.applying(scheme, host)?.as_ref().ok()
    }

    /// Why the proxy variable that applies to `url` cannot be used, if it cannot: a usage
    /// error before a run, a refused redirect during one. Such a URL is never requested
    /// (directly neither: the environment asked for a proxy).
    pub fn unusable_for(&self, url: &url::Url) -> Option<&str> {
        let applying = self.applying(url.scheme(), url.host_str()?)?;
        applying.as_ref().err().map(String::as_str)
    }

    /// What applies to a request of `scheme` to `host`: the rules of the module's doc.
    fn applying(&self, scheme: &str, host: &str) -> Option<&FromEnv> {
        if self.bypass.matches(host) {
            return None;
        }
        if self.option_given {
            return self.option.as_ref();
        }
        if is_loopback_host(host) {
            return None;
        }
        match scheme {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }
    }

    /// Every proxy that a URL of this run may go through, each once.
    pub fn proxies(&self) -> Vec<&ProxyChoice> {
        let mut distinct: Vec<&ProxyChoice> = Vec::new();
        for proxy in [&self.option, &self.http, &self.https]
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_ref().ok())
        {
            if !distinct.contains(&proxy) {
                distinct.push(proxy);
            }
        }
        distinct
    }

    /// Whether no URL at all goes through a proxy: the clients then skip asking.
    pub fn never(&self) -> bool {
        self.proxies().is_empty() || self.bypass.everything
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rules(option: Option<&str>, noproxy: Option<&str>, env: &[(&str, &str)]) -> ProxyRules {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let option = option.map(|o| parse_proxy_option(o).unwrap());
        let noproxy = noproxy.map(NoProxy::parse);
        ProxyRules::new(option.as_ref(), noproxy.as_ref(), &|name| {
            env.get(name).cloned()
        })
    }

    /// The proxy URL and its source for `url`, or `None`.
    fn proxy_for(rules: &ProxyRules, url: &str) -> Option<(String, String)> {
        let url = url::Url::parse(url).unwrap();
        rules.for_url(&url).map(|p| (p.url(), p.source.to_string()))
    }

    fn via(url: &str, source: &str) -> Option<(String, String)> {
        Some((url.to_string(), source.to_string()))
    }

    #[test]
    fn each_scheme_takes_its_own_variable_then_all_proxy() {
        let env = [
            ("HTTP_PROXY", "http://h:1"),
            ("HTTPS_PROXY", "http://s:2"),
            ("ALL_PROXY", "socks5h://a:3"),
        ];
        let r = rules(None, None, &env);
        assert_eq!(
            proxy_for(&r, "http://x.org/f"),
            via("http://h:1", "HTTP_PROXY")
        );
        assert_eq!(
            proxy_for(&r, "https://x.org/f"),
            via("http://s:2", "HTTPS_PROXY")
        );
        let r = rules(None, None, &env[1..]);
        assert_eq!(
            proxy_for(&r, "http://x.org/f"),
            via("socks5h://a:3", "ALL_PROXY"),
            "HTTPS_PROXY is never for http URLs"
        );
        let r = rules(None, None, &[("HTTP_PROXY", "http://h:1")]);
        assert_eq!(proxy_for(&r, "https://x.org/f"), None);
    }

    #[test]
    fn lower_case_variables_come_first_and_empty_ones_count_as_unset() {
        let r = rules(
            None,
            None,
            &[
                ("http_proxy", "http://lower:1"),
                ("HTTP_PROXY", "http://upper:1"),
            ],
        );
        assert_eq!(
            proxy_for(&r, "http://x.org/"),
            via("http://lower:1", "http_proxy")
        );
        let r = rules(
            None,
            None,
            &[("http_proxy", " "), ("HTTP_PROXY", "http://upper:1")],
        );
        assert_eq!(
            proxy_for(&r, "http://x.org/"),
            via("http://upper:1", "HTTP_PROXY")
        );
    }

    #[test]
    fn this_machine_is_never_proxied_by_the_environment_but_is_by_the_option() {
        let env = [("ALL_PROXY", "http://p:1")];
        let r = rules(None, None, &env);
        for url in [
            "http://localhost:8000/flags",
            "http://127.0.0.1:8000/flags",
            "http://127.1.2.3/flags",
            "https://[::1]:8443/flags",
            "http://LOCALHOST./flags",
        ] {
            assert_eq!(proxy_for(&r, url), None, "{url}");
        }
        let r = rules(Some("socks5://p:9"), None, &env);
        assert_eq!(
            proxy_for(&r, "http://127.0.0.1:8000/flags"),
            via("socks5://p:9", "--proxy")
        );
        assert_eq!(
            proxy_for(&r, "https://x.org/"),
            via("socks5://p:9", "--proxy"),
            "the option takes the place of the environment"
        );
        let r = rules(Some(""), None, &env);
        assert_eq!(proxy_for(&r, "http://x.org/"), None, "--proxy '' is none");
        assert!(r.never());
    }

    #[test]
    fn no_proxy_names_hosts_below_them_addresses_and_ranges() {
        let list = NoProxy::parse(" example.com,.internal , *.dev 10.0.0.0/8,[::1], 192.168.1.7");
        for host in [
            "example.com",
            "www.example.com",
            "EXAMPLE.COM.",
            "a.b.internal",
            "internal",
            "x.dev",
            "10.1.2.3",
            "::1",
            "[::1]",
            "192.168.1.7",
        ] {
            assert!(list.matches(host), "{host}");
        }
        for host in [
            "notexample.com",
            "example.com.evil",
            "11.0.0.1",
            "192.168.1.8",
            "::2",
            "devx",
        ] {
            assert!(!list.matches(host), "{host}");
        }
        assert!(NoProxy::parse("a,*").matches("anything"));
        assert!(!NoProxy::parse("").matches("anything"));
    }

    #[test]
    fn the_bypass_list_is_noproxy_else_the_environment_and_binds_the_option_too() {
        let env = [("HTTP_PROXY", "http://p:1"), ("NO_PROXY", "x.org")];
        let r = rules(None, None, &env);
        assert_eq!(proxy_for(&r, "http://www.x.org/"), None);
        assert!(proxy_for(&r, "http://y.org/").is_some());
        let r = rules(Some("http://q:2"), None, &env);
        assert_eq!(
            proxy_for(&r, "http://x.org/"),
            None,
            "NO_PROXY binds --proxy"
        );
        let r = rules(Some("http://q:2"), Some(""), &env);
        assert_eq!(
            proxy_for(&r, "http://x.org/"),
            via("http://q:2", "--proxy"),
            "--noproxy '' takes the place of NO_PROXY"
        );
        let r = rules(Some("http://q:2"), Some("127.0.0.1"), &[]);
        assert_eq!(proxy_for(&r, "http://127.0.0.1:9/flags"), None);
    }

    #[test]
    fn proxy_urls_parse_into_their_parts_decoded() {
        let p = ProxyChoice::parse("proxy.lan:3128", Source::Option).unwrap();
        assert_eq!(
            (p.scheme, p.host.as_str(), p.port),
            (ProxyScheme::Http, "proxy.lan", 3128)
        );
        let p = ProxyChoice::parse("socks5h://u%40x:p%3Aw@[::1]", Source::Option).unwrap();
        assert_eq!(p.port, 1080);
        assert_eq!(p.host, "::1");
        assert_eq!(p.credentials, Some(("u@x".into(), "p:w".into())));
        assert_eq!(p.url(), "socks5h://u%40x:p%3Aw@[::1]:1080");
        assert_eq!(p.shown(), "socks5h://u%40x:***@[::1]:1080");
        assert_eq!(
            ProxyChoice::parse("https://h/", Source::Option)
                .unwrap()
                .port,
            443
        );
        assert_eq!(
            ProxyChoice::parse("http://h", Source::Option)
                .unwrap()
                .url(),
            "http://h:80"
        );
        for (bad, why) in [
            ("ftp://h:21", "ftp:// is not a proxy scheme"),
            ("socks://h", "say socks4://"),
            ("http://h:3128/path", "no path"),
            ("http://", "not a URL"),
            ("http://h:99999", "not a URL"),
        ] {
            let error = ProxyChoice::parse(bad, Source::Option).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn a_bad_variable_is_named_masked_for_the_urls_it_applies_to_only() {
        let r = rules(None, None, &[("HTTPS_PROXY", "gopher://u:secret@h:1")]);
        let unusable = |url: &str| r.unusable_for(&url::Url::parse(url).unwrap());
        let error = unusable("https://x.org/").unwrap();
        assert!(
            error.starts_with("HTTPS_PROXY='gopher://u:***@h:1'"),
            "{error}"
        );
        assert!(error.ends_with("fix or unset HTTPS_PROXY"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert_eq!(proxy_for(&r, "https://x.org/"), None);
        assert_eq!(unusable("http://x.org/"), None);
        assert_eq!(unusable("https://localhost:8443/"), None);
        // --proxy takes the environment's place: its variables are not even read.
        let r = rules(Some("http://p:1"), None, &[("HTTPS_PROXY", "gopher://h")]);
        assert_eq!(
            r.unusable_for(&url::Url::parse("https://x.org/").unwrap()),
            None
        );
    }
}
