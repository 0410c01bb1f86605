//! `--har FILE`: the run as an HTTP Archive (HAR 1.2, <http://www.softwareishard.com/blog/har-12-spec/>),
//! one entry per exchange, for the tools that read browsers' archives.
//!
//! Made after the run from the exchanges the run's
//! [`ExchangeLog`] kept, from typed structs, and
//! written as every report file is ([`crate::output`]), or to standard output for `-`.
//!
//! How our phases map onto HAR's `timings`: `blocked` is `queued`; HAR's `connect`
//! includes its `ssl`, so it is our `connect` plus `tls` (in async mode our `connect`
//! already covers TLS, and `ssl` is -1, unknown); `send` is 0, as the request's few bytes
//! go out within `wait`; `save` is the custom `_save`, after the response, and so, as a
//! custom field, not counted in the entry's `time`, which is the sum of the others that
//! are not -1 (HAR's rule).

use crate::download::phases::{ms, Exchange, ExchangeLog};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// What `--har -` means: standard output.
pub const STDOUT: &str = "-";

#[derive(Debug, Serialize)]
struct Har {
    log: Log,
}

#[derive(Debug, Serialize)]
struct Log {
    version: &'static str,
    creator: Creator,
    entries: Vec<Entry>,
}

#[derive(Debug, Serialize)]
struct Creator {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    /// The sum of the timings that are not -1, `_save` aside.
    time: f64,
    request: Request,
    response: Response,
    cache: Cache,
    timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    server_ip_address: Option<String>,
    /// Shared by the entries that used the same connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: &'static str,
    url: String,
    http_version: String,
    cookies: [(); 0],
    headers: Vec<Header>,
    query_string: Vec<Header>,
    /// Unknown: the client writes the head itself.
    headers_size: i64,
    body_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status: u16,
    status_text: String,
    http_version: String,
    cookies: [(); 0],
    headers: Vec<Header>,
    content: Content,
    #[serde(rename = "redirectURL")]
    redirect_url: String,
    headers_size: i64,
    /// Body bytes received; -1 when no answer came.
    body_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    size: i64,
    mime_type: String,
}

#[derive(Debug, Serialize)]
struct Cache {}

/// A header, or a query's name and value.
#[derive(Debug, Serialize)]
struct Header {
    name: String,
    value: String,
}

/// HAR's timings, in ms: -1 for a phase that did not happen (or, for `ssl` in async
/// mode, cannot be told from `connect`).
#[derive(Debug, Serialize)]
struct Timings {
    blocked: f64,
    dns: f64,
    connect: f64,
    ssl: f64,
    send: f64,
    wait: f64,
    receive: f64,
    #[serde(rename = "_save", skip_serializing_if = "Option::is_none")]
    save: Option<f64>,
}

/// The request's header fields as the clients send them: `Host`, which each client adds,
/// then those [`FlagFetch::request`](crate::download::response::FlagFetch::request) made
/// (neither client asks for compression).
fn request_headers(url: Option<&url::Url>, exchange: &Exchange) -> Vec<Header> {
    let host = url.and_then(|url| match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => Some(format!("{host}:{port}")),
        (Some(host), None) => Some(host.to_string()),
        (None, _) => None,
    });
    let made = exchange.request_headers.iter().cloned();
    host.map(|host| ("host".to_string(), host))
        .into_iter()
        .chain(made)
        .map(|(name, value)| Header { name, value })
        .collect()
}

/// The version as HAR writes it.
fn har_version(version: Option<&str>) -> String {
    version.map_or_else(String::new, |v| format!("HTTP/{v}"))
}

impl Entry {
    fn new(exchange: &Exchange, started: (Instant, SystemTime)) -> Entry {
        let p = &exchange.phases;
        let or_unknown = |d: Option<Duration>| d.map_or(-1.0, ms);
        let connect = p.connect.map(|c| c + p.tls.unwrap_or_default());
        let timings = Timings {
            blocked: or_unknown(p.queued),
            dns: or_unknown(p.dns),
            connect: or_unknown(connect),
            ssl: or_unknown(p.tls),
            send: 0.0,
            wait: p.wait.map_or(0.0, ms),
            receive: p.receive.map_or(0.0, ms),
            save: p.save.map(ms),
        };
        let counted = [
            timings.blocked,
            timings.dns,
            timings.connect,
            timings.send,
            timings.wait,
            timings.receive,
        ];
        let time = counted.iter().filter(|t| **t >= 0.0).sum::<f64>();
        let url = url::Url::parse(&exchange.url).ok();
        let header = |name: &str, value: &str| Header {
            name: name.to_string(),
            value: value.to_string(),
        };
        let response_header = |wanted: &str| {
            exchange
                .response_headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(_, value)| value.clone())
        };
        let answered = exchange.status.is_some();
        let status = exchange.status.unwrap_or(0);
        let version = har_version(exchange.http_version);
        let (run_start, run_wall) = started;
        let wall = run_wall + exchange.start.saturating_duration_since(run_start);
        Entry {
            started_date_time: rfc3339(wall),
            time: (time * 1000.0).round() / 1000.0,
            request: Request {
                method: "GET",
                url: exchange.url.clone(),
                http_version: version.clone(),
                cookies: [],
                headers: request_headers(url.as_ref(), exchange),
                query_string: url
                    .iter()
                    .flat_map(|url| url.query_pairs())
                    .map(|(name, value)| header(&name, &value))
                    .collect(),
                headers_size: -1,
                body_size: 0,
            },
            response: Response {
                status,
                status_text: hyper::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
                    .to_string(),
                http_version: version,
                cookies: [],
                headers: exchange
                    .response_headers
                    .iter()
                    .map(|(name, value)| header(name, value))
                    .collect(),
                content: Content {
                    size: exchange.body_bytes as i64,
                    mime_type: exchange
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "x-unknown".into()),
                },
                redirect_url: if (300..400).contains(&status) {
                    response_header("location").unwrap_or_default()
                } else {
                    String::new()
                },
                headers_size: -1,
                body_size: if answered {
                    exchange.body_bytes as i64
                } else {
                    -1
                },
                comment: match (answered, exchange.failed) {
                    (false, _) => Some("no answer: the request failed"),
                    (true, true) => Some("the answer was refused or cut short"),
                    (true, false) => None,
                },
            },
            cache: Cache {},
            timings,
            server_ip_address: exchange.server.map(|addr| addr.ip().to_string()),
            connection: exchange.connection.map(|c| c.id.to_string()),
        }
    }
}

/// The run's HAR, as JSON.
pub fn har_json(log: &ExchangeLog) -> Vec<u8> {
    let started = log.started();
    let mut exchanges = log.exchanges();
    // In the order they started, as a browser lists them.
    exchanges.sort_by_key(|exchange| exchange.start);
    let har = Har {
        log: Log {
            version: "1.2",
            creator: Creator {
                name: "flags-dl",
                version: env!("CARGO_PKG_VERSION"),
            },
            entries: exchanges.iter().map(|e| Entry::new(e, started)).collect(),
        },
    };
    let mut json = serde_json::to_vec_pretty(&har).expect("a HAR always serializes");
    json.push(b'\n');
    json
}

/// Writes the run's HAR to `path` (`-`: standard output).
pub fn write_har(path: &Path, log: &ExchangeLog) -> anyhow::Result<()> {
    let json = har_json(log);
    if path == Path::new(STDOUT) {
        let mut out = std::io::stdout().lock();
        out.write_all(&json)
            .and_then(|()| out.flush())
            .map_err(|e| anyhow::Error::new(e).context("cannot write the HAR to standard output"))
    } else {
        crate::output::write("the HAR", path, &json)
    }
}

/// `at` as RFC 3339 in UTC with milliseconds: `2024-05-01T12:34:56.789Z`.
fn rfc3339(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, in_day) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_3339_in_utc() {
        let at = |secs: u64, ms: u64| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
        };
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_714_566_896, 789)), "2024-05-01T12:34:56.789Z");
    }
}
