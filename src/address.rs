//! A server's address as flags-dl shows it and judges it: a URL printed with any password
//! in it masked ([`shown_url`]), and whether a URL or a host names this machine
//! ([`is_loopback`]).
//!
//! Both the server's place ([`crate::site`]) and the proxy rules ([`crate::proxy`]) need
//! these, and the site's check goes through the proxy: here, below both, neither has to
//! name the other to print or place an address.

/// `url` as it may be printed: a password in it replaced by `***`
/// (`http://alice:***@host/flags`), control and format characters escaped (URL parsers
/// drop a tab or newline, so a URL that parses may still hold them), the rest exactly as
/// given.
///
/// The authority is found as URL parsers find it (RFC 3986 and WHATWG): after `://`, up to
/// the first `/`, `?`, `#` or `\`; the user information is what precedes its last `@`,
/// and the password what follows the first `:` in that.
pub fn shown_url(url: &str) -> String {
    crate::text::escaped(&masked_url(url)).into_owned()
}

/// `url` with a password in it replaced by `***`; any other text unchanged.
fn masked_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let start = scheme_end + "://".len();
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}:***{}",
        &url[..start],
        &authority[..colon],
        &rest[at..]
    )
}

/// Whether `base` names this machine (`localhost`, 127.0.0.0/8, `::1`): the embedded
/// server, and the book's LOCAL, DELAY and ERROR.
pub fn is_loopback(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base) else {
        return false;
    };
    url.host_str().is_some_and(is_loopback_host)
}

/// Whether `host` (a name, or an address with or without IPv6 brackets) is this machine's
/// loopback: `localhost` or an address of 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_are_recognised() {
        for base in [
            "http://127.0.0.1:8000/flags",
            "http://localhost:8001/flags",
            "http://[::1]:9/flags",
        ] {
            assert!(is_loopback(base), "{base}");
        }
        assert!(!is_loopback("https://www.fluentpython.com/data/flags"));
    }

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        let cases = [
            (
                "http://alice:s3cret@h:8000/flags",
                "http://alice:***@h:8000/flags",
            ),
            ("https://a:b@c@h/x?p=q:r@s", "https://a:***@h/x?p=q:r@s"),
            ("http://alice@h/flags", "http://alice@h/flags"),
            ("http://h/fl:a@gs", "http://h/fl:a@gs"),
            ("http://a:b@h", "http://a:***@h"),
            ("not a url", "not a url"),
            ("http://h/fl\u{202e}a\ngs", "http://h/fl\\u{202e}a\\ngs"),
        ];
        for (url, shown) in cases {
            assert_eq!(shown_url(url), shown, "{url}");
        }
    }
}
