//! Why a fetch failed: its kind, which scripts and the bench can tell apart, and its
//! reason, worded once here for every mode.
//!
//! A [`FetchError`] is what one attempt ends with; it also says whether another attempt
//! may help. When the code's last attempt has failed, it becomes the [`Failure`] that the
//! outcome carries to the report, NDJSON (`error_kind`, `error`) and the bench.

use super::retry::{self, RetryPolicy};
use crate::sizes::human_bytes;
use std::fmt;
use std::time::Duration;

/// What kind of failure ended a code: NDJSON's `error_kind`, documented in README.md.
/// Add kinds, never rename them: scripts match on these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No connection: refused, unreachable, host not found.
    Connect,
    /// `--timeout` or `--connect-timeout` passed.
    Timeout,
    /// The connection was closed or reset before the response was complete (a body cut
    /// short included).
    ConnectionClosed,
    /// The server answered with a status other than 200 and 404.
    HttpStatus,
    /// The body was larger than `--max-size`.
    TooLarge,
    /// A 200 whose body is not a GIF.
    NotGif,
    /// The server's answer could not be parsed as HTTP.
    Malformed,
    /// Too many redirects, or one to an address that is not followed.
    Redirect,
    /// `metadata.json` (for `--names`) unusable: not JSON, no country, too large.
    Metadata,
    /// The flag arrived but could not be written into the output folder.
    Save,
    /// The server's certificate was refused (unknown issuer, wrong name, expired), or the
    /// TLS handshake failed. Never retried.
    Tls,
    /// The server asked the run to wait (a 429 or 503 with `Retry-After`) past
    /// `--max-wait` in all: the code was not fetched.
    Refused,
    /// Anything else.
    Other,
}

/// How one attempt failed, as the user will read it (its [`fmt::Display`] is the reason),
/// and whether another attempt may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub kind: ErrorKind,
    /// Lower case, no trailing period: `HTTP 418 I'm a teapot`, `connection refused`.
    pub reason: String,
    /// The status, when the server answered (200 for a body that failed after it).
    pub http_status: Option<u16>,
    /// The HTTP version it answered in.
    pub http_version: Option<&'static str>,
    /// Whether, and how soon, another attempt may help.
    pub retry: Retry,
    /// The server's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// Whether another attempt at a failed request may help, and how soon it is made (the
/// rules that act on it are in [`super::attempts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A final answer (a 418, a body that is not a GIF): another attempt would give the same.
    Final,
    /// A failure of the connection or of time (a reset, a timeout, a 503): worth another
    /// attempt, after a backoff, while `--retries` allows.
    Transient,
    /// The request never reached the server's hands: sent again at once, on a new
    /// connection, without counting an attempt; once those resends are spent, transient.
    Resend(Resend),
}

/// Why a request is sent again at once (see [`Retry::Resend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// The connection was closed or reset before any response arrived (most likely a
    /// kept-alive connection the server had already closed: RFC 9112 §9.3.1 allows the
    /// resend for a GET), or an HTTP/2 server said it did not process the request.
    Unprocessed,
    /// The pace abandoned the connection attempt as late (see `pace`).
    LateConnect,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for FetchError {}

impl FetchError {
    /// A final failure: trying again would give the same.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            reason: reason.into(),
            http_status: None,
            http_version: None,
            retry: Retry::Final,
            retry_after: None,
        }
    }

    /// A failure of the connection or of time, worth another attempt.
    pub fn transient(kind: ErrorKind, reason: impl Into<String>) -> FetchError {
        FetchError {
            retry: Retry::Transient,
            ..FetchError::new(kind, reason)
        }
    }

    /// A transient failure before the request reached the server: sent again at once
    /// (see [`Retry::Resend`]).
    pub fn resend(self, why: Resend) -> FetchError {
        match self.retry {
            Retry::Final => self,
            _ => FetchError {
                retry: Retry::Resend(why),
                ..self
            },
        }
    }

    /// This failure of a request that got no response; `closed`: the connection was closed
    /// or reset before any arrived, which is what a kept-alive connection the server had
    /// already closed looks like, so the request is sent again on a new one.
    pub fn before_response(self, closed: bool) -> FetchError {
        if closed {
            self.resend(Resend::Unprocessed)
        } else {
            self
        }
    }

    /// Whether another attempt may help.
    pub fn is_transient(&self) -> bool {
        self.retry != Retry::Final
    }

    /// A status other than 200 and 404; transient if the policy retries it.
    pub fn status(code: u16, policy: &RetryPolicy, retry_after: Option<&str>) -> FetchError {
        let reason = status_text(code);
        let again = if policy.retries_status(code) {
            Retry::Transient
        } else {
            Retry::Final
        };
        FetchError {
            http_status: Some(code),
            retry: again,
            retry_after: retry_after.and_then(retry::parse_retry_after),
            ..FetchError::new(ErrorKind::HttpStatus, reason)
        }
    }

    /// The run gave up on the server (see `pace::Refused`): this code is not fetched.
    pub fn refused(why: &super::pace::Refused) -> FetchError {
        FetchError::new(
            ErrorKind::Refused,
            format!(
                "{}: the server asks to wait {}, past --max-wait ({} of {} waited in all); raise --max-wait to wait longer",
                status_text(why.status),
                secs(why.wait),
                secs(why.waited),
                secs(why.max_wait)
            ),
        )
    }

    /// `--timeout` (or `--connect-timeout`) passed.
    pub fn timed_out(limit: Duration) -> FetchError {
        FetchError::transient(
            ErrorKind::Timeout,
            format!("timed out after {} s", limit.as_secs_f64()),
        )
    }

    /// A body larger than `limit`.
    pub fn too_large(limit: u64) -> FetchError {
        FetchError::new(
            ErrorKind::TooLarge,
            format!(
                "response larger than {} (raise --max-size to accept it)",
                human_bytes(limit)
            ),
        )
    }

    /// A 200 whose body is not a GIF: `not a GIF (text/html)`.
    pub fn not_a_gif(content_type: Option<&str>) -> FetchError {
        // The server's words, cut and escaped as every value a server gives is: a 60 KB
        // Content-Type was once echoed whole into `-v` and NDJSON.
        let what = content_type.map_or_else(|| "no content type".into(), crate::text::short);
        FetchError::new(ErrorKind::NotGif, format!("not a GIF ({what})"))
    }

    /// An answer that is not HTTP, worded the same whichever client parsed it.
    pub fn malformed() -> FetchError {
        FetchError::transient(
            ErrorKind::Malformed,
            "malformed response (not valid HTTP/1.1)",
        )
    }

    /// A header block over `limit` bytes (the response's rule, `response::MAX_HEADERS`),
    /// worded the same whichever limit, flags-dl's or a client's own, met it first.
    /// Retried as any malformed answer is.
    pub fn headers_too_large(limit: usize) -> FetchError {
        let limit = human_bytes(limit as u64);
        FetchError::transient(
            ErrorKind::Malformed,
            format!("the server's response headers are over {limit}"),
        )
    }

    /// The TLS handshake with `host` failed: for a certificate, the hint to trust its CA.
    pub fn tls(host: &str, e: &rustls::Error) -> FetchError {
        let reason = match e {
            rustls::Error::InvalidCertificate(why) => format!(
                "the certificate of {host} is not trusted ({why:?}): trust its CA with --cacert FILE"
            ),
            other => format!("TLS with {host} failed: {other}"),
        };
        FetchError::new(ErrorKind::Tls, reason)
    }

    /// Writing into the output folder failed.
    pub fn cannot_save(e: &std::io::Error) -> FetchError {
        FetchError::new(ErrorKind::Save, format!("cannot save: {e}"))
    }

    /// An HTTP/2 server reset the request's stream, or its GOAWAY turned the request away:
    /// transient. A stream refused (`REFUSED_STREAM`), or turned away by a GOAWAY without
    /// error, was not processed (RFC 9113 §8.7), so it is sent again at once on a new
    /// stream without counting an attempt, as a stale kept-alive connection is.
    pub fn closed_by_h2_server(how: H2Close, code: h2::Reason) -> FetchError {
        // h2 names the codes of RFC 9113 by their constant; an unknown one as `Reason(ff)`.
        let name = match format!("{code:?}") {
            name if name.starts_with("Reason(") => format!("error code {}", u32::from(code)),
            name => name,
        };
        let (reason, unprocessed) = match how {
            H2Close::Reset => (
                format!("the server reset the stream ({name})"),
                code == h2::Reason::REFUSED_STREAM,
            ),
            H2Close::GoAway => (
                format!("the server closed the connection (GOAWAY {name})"),
                code == h2::Reason::NO_ERROR,
            ),
        };
        let error = FetchError::transient(ErrorKind::ConnectionClosed, reason);
        if unprocessed {
            error.resend(Resend::Unprocessed)
        } else {
            error
        }
    }

    /// The proxy would not, or could not, connect to the server: a SOCKS failure, or a
    /// CONNECT answered with other than 200. Retried as a refused connection is.
    pub fn proxy_refused(detail: &str) -> FetchError {
        // The proxy's own words may be in `detail`: cut as a server's are.
        let detail = crate::text::short(detail);
        FetchError::transient(ErrorKind::Connect, format!("the proxy refused: {detail}"))
    }

    /// Describes an I/O error from the network in the user's terms; all such errors are
    /// transient except those of the local system.
    pub fn from_io(e: &std::io::Error) -> FetchError {
        use std::io::ErrorKind::*;
        let (kind, reason) = match e.kind() {
            ConnectionRefused => (ErrorKind::Connect, "connection refused".into()),
            ConnectionReset => (
                ErrorKind::ConnectionClosed,
                "connection reset by the server".into(),
            ),
            ConnectionAborted => (ErrorKind::ConnectionClosed, "connection aborted".into()),
            UnexpectedEof => (
                ErrorKind::ConnectionClosed,
                "connection closed before the response was complete".into(),
            ),
            BrokenPipe => (
                ErrorKind::ConnectionClosed,
                "connection closed by the server while sending the request".into(),
            ),
            TimedOut => (ErrorKind::Timeout, "timed out".into()),
            _ => (ErrorKind::Other, e.to_string()),
        };
        FetchError::transient(kind, reason)
    }
}

/// How an HTTP/2 server ended a request before its response was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Close {
    /// RST_STREAM on the request's stream.
    Reset,
    /// A GOAWAY whose last stream id is below the request's: the server never took it.
    GoAway,
}

/// Who a TLS handshake for `url` was with, to name in a message: the server, or for an
/// `http` URL sent through an `https://` proxy, the proxy (the only TLS there is). For an
/// `https` URL through one, either could have failed; the server is named.
pub fn tls_peer(url: &str, proxies: &crate::proxy::ProxyRules) -> String {
    let through = url::Url::parse(url).ok().and_then(|u| {
        let proxy = proxies.for_url(&u)?;
        (u.scheme() == "http" && proxy.scheme == crate::proxy::ProxyScheme::Https)
            .then(|| format!("the proxy {}:{}", proxy.host, proxy.port))
    });
    through.unwrap_or_else(|| authority(url))
}

/// `host:port` of a URL, to name a server in a message.
pub fn authority(url: &str) -> String {
    url::Url::parse(url).map_or_else(
        |_| url.to_string(),
        |u| {
            let host = u.host_str().unwrap_or_default();
            match u.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            }
        },
    )
}

/// The TLS failure inside an I/O error, if that is what it is. Connectors wrap it in an
/// I/O error, sometimes twice, and an I/O error's `source` skips what it wraps.
pub fn tls_in_io(e: &std::io::Error) -> Option<&rustls::Error> {
    let inner = e.get_ref()?;
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    inner.downcast_ref::<std::io::Error>().and_then(tls_in_io)
}

/// Whether an I/O error means the server closed the connection under us.
pub fn is_closed_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe
    )
}

/// How a code that failed ended: the kind and reason of its last attempt, and how many
/// attempts it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub reason: String,
    pub attempts: u32,
}

impl Failure {
    /// A failure after one attempt.
    #[cfg(test)]
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Failure {
        Failure {
            kind,
            reason: reason.into(),
            attempts: 1,
        }
    }
}

/// The one wording of a failure, for `-v`, `-q`, the report and NDJSON's `error`:
/// `HTTP 503 Service Unavailable (after 3 attempts)`.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// `HTTP 429 Too Many Requests`, or `HTTP 599` for a status with no name.
pub fn status_text(code: u16) -> String {
    hyper::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {code}"), |r| format!("HTTP {code} {r}"))
}

/// A wait as a person reads it: `60 s`, `0.5 s`.
pub fn secs(d: Duration) -> String {
    let secs = (d.as_secs_f64() * 10.0).round() / 10.0;
    if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reasons_read_as_the_book_prints_them() {
        let policy = RetryPolicy::default();
        assert_eq!(
            FetchError::status(418, &policy, None).reason,
            "HTTP 418 I'm a teapot"
        );
        let unavailable = FetchError::status(503, &policy, Some("2"));
        assert_eq!(unavailable.reason, "HTTP 503 Service Unavailable");
        assert_eq!(unavailable.kind, ErrorKind::HttpStatus);
        assert_eq!(unavailable.retry, Retry::Transient);
        assert_eq!(unavailable.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(FetchError::status(418, &policy, None).retry, Retry::Final);
        assert_eq!(FetchError::status(599, &policy, None).reason, "HTTP 599");
    }

    #[test]
    fn size_limits_are_named_in_the_units_given() {
        assert_eq!(
            FetchError::too_large(10 * 1024 * 1024).reason,
            "response larger than 10 MiB (raise --max-size to accept it)"
        );
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
    }

    #[test]
    fn a_failure_says_how_many_attempts_it_took() {
        let mut failure = Failure::new(ErrorKind::HttpStatus, "HTTP 503 Service Unavailable");
        assert_eq!(failure.to_string(), "HTTP 503 Service Unavailable");
        failure.attempts = 3;
        assert_eq!(
            failure.to_string(),
            "HTTP 503 Service Unavailable (after 3 attempts)"
        );
    }

    #[test]
    fn a_refused_http2_request_is_sent_again_without_counting_an_attempt() {
        let refused = FetchError::closed_by_h2_server(H2Close::Reset, h2::Reason::REFUSED_STREAM);
        assert_eq!(
            refused.reason,
            "the server reset the stream (REFUSED_STREAM)"
        );
        assert_eq!(refused.kind, ErrorKind::ConnectionClosed);
        assert_eq!(refused.retry, Retry::Resend(Resend::Unprocessed));
        let turned_away = FetchError::closed_by_h2_server(H2Close::GoAway, h2::Reason::NO_ERROR);
        assert_eq!(
            turned_away.reason,
            "the server closed the connection (GOAWAY NO_ERROR)"
        );
        assert_eq!(turned_away.retry, Retry::Resend(Resend::Unprocessed));
    }

    #[test]
    fn other_http2_resets_are_transient_and_count_an_attempt() {
        for (how, code) in [
            (H2Close::Reset, h2::Reason::INTERNAL_ERROR),
            (H2Close::Reset, h2::Reason::CANCEL),
            (H2Close::GoAway, h2::Reason::ENHANCE_YOUR_CALM),
        ] {
            let error = FetchError::closed_by_h2_server(how, code);
            assert_eq!(error.kind, ErrorKind::ConnectionClosed, "{error:?}");
            assert_eq!(error.retry, Retry::Transient, "{error:?}");
        }
        assert_eq!(
            FetchError::closed_by_h2_server(H2Close::Reset, h2::Reason::from(0xff)).reason,
            "the server reset the stream (error code 255)"
        );
    }

    #[test]
    fn kinds_are_named_as_ndjson_names_them() {
        let names = [
            (ErrorKind::ConnectionClosed, "connection_closed"),
            (ErrorKind::NotGif, "not_gif"),
            (ErrorKind::HttpStatus, "http_status"),
            (ErrorKind::Tls, "tls"),
        ];
        for (kind, name) in names {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
    }
}
