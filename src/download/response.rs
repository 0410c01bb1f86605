//! What a response means, decided once for every mode: the requests one code takes and
//! the rules that read each answer.
//!
//! A [`FlagFetch`] is one attempt at one code, free of I/O. The client (async reqwest or
//! blocking ureq) only sends and reads:
//!
//! ```text
//! loop {
//!     send fetch.request()?           -> fetch.answered_over(connection)
//!                                        fetch.on_response(status, version, headers)?
//!     for each chunk of the body      -> fetch.feed(chunk)?   (stop at Flow::Enough)
//!     a read error                    -> fetch.read_failed(e)?
//!     at the end                      -> if let Some(done) = fetch.on_end()? { return done }
//! }
//! ```
//!
//! Everything else is here: the request's head, the limits on the response's
//! ([`MAX_HEADERS`], [`MAX_FIELDS`]), `metadata.json` first under `--names`, 200 streamed
//! into the flag's file (see [`super::body`]), 404 as not found, a retryable status with
//! its `Retry-After`, redirects resolved as RFC 3986 says and followed only to http(s),
//! and a failure after a 200 reported with that status. Neither client follows redirects
//! itself, so both follow them the same way.

use super::body::{Capped, Drain, FlagSink, Flow};
use super::failure::{ErrorKind, FetchError};
use super::job::Job;
use super::pace::Ticket;
use super::phases::{Over, Stopwatch};
use super::retry::parse_retry_after;
use crate::save::{flag_file_name, safe_flag_name};
use crate::site::{flag_url, metadata_url};
use crate::sizes::human_bytes;
use std::path::PathBuf;

/// The most redirects followed for one request, as browsers and curl's default do.
pub const MAX_REDIRECTS: u32 = 10;

/// The most bytes of `metadata.json` read: a real one is under 100 bytes.
pub const MAX_METADATA: u64 = 64 * 1024;

/// What a fetch of one code gave, when it did not fail.
#[derive(Debug)]
pub enum Fetched {
    /// 200, checked and saved.
    Saved {
        path: PathBuf,
        bytes: u64,
        http_version: Option<&'static str>,
    },
    /// 404 (for the flag, or for its metadata under `--names`).
    NotFound { http_version: Option<&'static str> },
}

/// The most bytes of header fields a response may have, each counted as HTTP/1.1 writes
/// it (`Name: value\r\n`); a flag's take a few hundred. Both clients read somewhat more
/// ([`CLIENT_MAX_HEADERS`]), so that near the limit this rule, on the head either parsed,
/// decides, the same in every mode.
pub const MAX_HEADERS: usize = 64 * 1024;

/// The most header fields a response may have: as many as hyper's HTTP/1.1 parser holds.
/// It refuses more with the error it gives a block too large, so flags-dl counts more as
/// over the limit in every mode (ureq's parser would hold 128).
pub const MAX_FIELDS: usize = 100;

/// How many bytes of response head each client reads before refusing it with an error of
/// its own (mapped to [`FetchError::headers_too_large`]): above [`MAX_HEADERS`] and its
/// count of bytes (with the status line, and 32 bytes a field in HTTP/2's), below ureq's
/// 128 KiB input buffer, which a head must fit.
pub const CLIENT_MAX_HEADERS: usize = 96 * 1024;

/// What the client read of a response before its body.
#[derive(Debug, Default, Clone, Copy)]
pub struct Head<'a> {
    pub status: u16,
    /// `1.0`, `1.1` or `2`.
    pub version: Option<&'static str>,
    pub location: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_length: Option<u64>,
    /// The header fields: how many, and their bytes (see [`MAX_HEADERS`]).
    pub fields: usize,
    pub field_bytes: usize,
    /// All its header fields, for `--har`.
    pub headers: Option<&'a hyper::HeaderMap>,
}

impl<'a> Head<'a> {
    /// The head of a response as either client parsed it (both into `http`'s types).
    pub fn read(
        status: hyper::StatusCode,
        version: hyper::Version,
        headers: &'a hyper::HeaderMap,
    ) -> Head<'a> {
        use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        Head {
            status: status.as_u16(),
            version: match version {
                hyper::Version::HTTP_10 => Some("1.0"),
                hyper::Version::HTTP_11 => Some("1.1"),
                hyper::Version::HTTP_2 => Some("2"),
                _ => None,
            },
            location: header(LOCATION),
            retry_after: header(RETRY_AFTER),
            content_type: header(CONTENT_TYPE),
            content_length: header(CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
            fields: headers.len(),
            field_bytes: headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum(),
            headers: Some(headers),
        }
    }
}

/// What is being fetched now.
enum Target {
    Metadata,
    Flag { file_name: String },
}

/// Where the body of the current response goes, and what follows it.
enum Reading<'j> {
    /// No response yet, or its body already handled.
    Nothing,
    Metadata(Capped),
    Flag(FlagSink<'j>),
    /// An answer whose body is not needed, read so the connection can be reused; then the
    /// verdict stands.
    Drain(Drain, Verdict),
}

enum Verdict {
    NotFound,
    Failed(FetchError),
    Redirect(String),
}

/// One attempt at one code: the requests it takes, and the meaning of each answer.
pub struct FlagFetch<'j> {
    job: &'j Job,
    /// The request's admission by the pace, which hears of every answer.
    ticket: &'j Ticket<'j>,
    cc: &'j str,
    url: String,
    target: Target,
    redirects: u32,
    /// The status of the response being read, for a failure in its body.
    status: Option<u16>,
    /// The HTTP version it was answered in.
    version: Option<&'static str>,
    reading: Reading<'j>,
    /// Times each exchange, from [`FlagFetch::request`] to the answer's end.
    stopwatch: Stopwatch<'j>,
}

impl<'j> FlagFetch<'j> {
    pub fn new(job: &'j Job, cc: &'j str, ticket: &'j Ticket<'j>) -> FlagFetch<'j> {
        let (url, target) = if job.names {
            (metadata_url(&job.base_url, cc), Target::Metadata)
        } else {
            let file_name = flag_file_name(cc);
            (flag_url(&job.base_url, cc), Target::Flag { file_name })
        };
        FlagFetch {
            job,
            ticket,
            cc,
            stopwatch: Stopwatch::new(&job.exchanges, cc),
            url,
            target,
            redirects: 0,
            status: None,
            version: None,
            reading: Reading::Nothing,
        }
    }

    /// The run this fetch is part of.
    pub fn job(&self) -> &'j Job {
        self.job
    }

    /// The URL to GET next.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next request, as both clients send it: a GET of [`FlagFetch::url`] with the
    /// same header fields. Its exchange begins here, for its phases (see
    /// [`super::phases`]): the client sends it at once.
    pub fn request(&mut self) -> Result<hyper::Request<()>, FetchError> {
        use hyper::header::{ACCEPT, USER_AGENT};
        let request = hyper::Request::get(&self.url)
            .header(USER_AGENT, concat!("flags-dl/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "*/*")
            .body(())
            .map_err(|e| {
                let shown = crate::text::short(&crate::address::shown_url(&self.url));
                FetchError::new(ErrorKind::Other, format!("cannot request {shown}: {e}"))
            })?;
        self.stopwatch.sending(&self.url, request.headers());
        Ok(request)
    }

    /// The response about to be read came over this connection, as its client tells it:
    /// for the exchange's phases (see [`super::phases`]).
    pub fn answered_over(&mut self, over: Over) {
        self.stopwatch.answered_over(over);
    }

    /// Reads a response's head as either client parsed it: [`FlagFetch::on_head`].
    pub fn on_response(
        &mut self,
        status: hyper::StatusCode,
        version: hyper::Version,
        headers: &hyper::HeaderMap,
    ) -> Result<(), FetchError> {
        self.on_head(&Head::read(status, version, headers))
    }

    /// Reads a response's status and headers; says where its body goes.
    pub fn on_head(&mut self, head: &Head<'_>) -> Result<(), FetchError> {
        // Checked before anything else is read of it: the same record as when a client's
        // own limit refused it unread.
        if head.fields > MAX_FIELDS || head.field_bytes > MAX_HEADERS {
            return Err(FetchError::headers_too_large(MAX_HEADERS));
        }
        self.stopwatch
            .head(head.status, head.version, head.content_type, head.headers);
        self.status = Some(head.status);
        self.version = head.version;
        let retry_after = head.retry_after.and_then(parse_retry_after);
        self.ticket.answered(head.status, retry_after);
        let drain = |verdict| Ok(Reading::Drain(Drain::default(), verdict));
        let reading = match head.status {
            200 => self.read_ok(head),
            404 => drain(Verdict::NotFound),
            301 | 302 | 303 | 307 | 308 => self
                .redirect(head)
                .and_then(|next| drain(Verdict::Redirect(next))),
            other => drain(Verdict::Failed(FetchError::status(
                other,
                &self.job.retry,
                head.retry_after,
            ))),
        };
        self.reading = reading.map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn read_ok(&self, head: &Head<'_>) -> Result<Reading<'j>, FetchError> {
        match &self.target {
            Target::Metadata => {
                if head.content_length.is_some_and(|len| len > MAX_METADATA) {
                    return Err(metadata_too_large());
                }
                Ok(Reading::Metadata(Capped::new(
                    MAX_METADATA,
                    metadata_too_large,
                )))
            }
            Target::Flag { file_name } => {
                let limit = self.job.max_size;
                if head.content_length.is_some_and(|len| len > limit) {
                    return Err(FetchError::too_large(limit));
                }
                Ok(Reading::Flag(FlagSink::new(
                    &self.job.saver,
                    file_name.clone(),
                    head.content_type,
                    limit,
                )))
            }
        }
    }

    /// The next URL of a redirect: `Location` resolved against the URL that answered
    /// (RFC 3986 §5, dot segments removed), refused unless it is http or https.
    fn redirect(&mut self, head: &Head<'_>) -> Result<String, FetchError> {
        let status = head.status;
        let refuse = |why: String| FetchError::new(ErrorKind::Redirect, why);
        let Some(location) = head.location else {
            return Err(refuse(format!("HTTP {status} redirect without a Location")));
        };
        self.redirects += 1;
        if self.redirects > MAX_REDIRECTS {
            return Err(refuse(format!(
                "too many redirects (more than {MAX_REDIRECTS}), or a redirect loop"
            )));
        }
        let shown = crate::text::short(&crate::address::shown_url(location));
        let next = url::Url::parse(&self.url)
            .and_then(|base| base.join(location))
            .map_err(|_| refuse(format!("redirected to an invalid address ({shown})")))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(refuse(format!(
                "redirected to a {}: address ({shown}); only http and https are followed",
                next.scheme()
            )));
        }
        if let Some(why) = self.job.proxies.unusable_for(&next) {
            // Neither through that proxy nor around it: the environment asked for one.
            return Err(refuse(format!("redirected to {shown}, but {why}")));
        }
        Ok(next.into())
    }

    /// Takes the next chunk of the current body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Flow, FetchError> {
        self.stopwatch.fed(chunk.len());
        let fed = match &mut self.reading {
            Reading::Nothing => Ok(Flow::More),
            Reading::Metadata(capped) => capped.feed(chunk).map(|()| Flow::More),
            Reading::Flag(sink) => sink.feed(chunk).map(|()| Flow::More),
            Reading::Drain(drain, _) => Ok(drain.feed(chunk)),
        };
        fed.map_err(|e| self.failed(e))
    }

    /// Reading the body failed: a failure of the attempt, unless the body was not needed
    /// (a 404 page cut short is still a 404).
    pub fn read_failed(&mut self, e: FetchError) -> Result<(), FetchError> {
        match self.reading {
            Reading::Drain(..) => Ok(()),
            _ => Err(self.failed(e)),
        }
    }

    /// The body has ended (or enough of it was read): the code's result, or `None` when
    /// another request is needed (a redirect, or the flag after its metadata).
    pub fn on_end(&mut self) -> Result<Option<Fetched>, FetchError> {
        self.stopwatch.body_ended();
        let ended = match std::mem::replace(&mut self.reading, Reading::Nothing) {
            Reading::Nothing => Ok(None),
            Reading::Drain(_, Verdict::NotFound) => Ok(Some(Fetched::NotFound {
                http_version: self.version,
            })),
            Reading::Drain(_, Verdict::Failed(e)) => Err(e),
            Reading::Drain(_, Verdict::Redirect(next)) => {
                self.url = next;
                Ok(None)
            }
            Reading::Metadata(capped) => parse_metadata(&capped.into_bytes()).map(|country| {
                self.target = Target::Flag {
                    file_name: safe_flag_name(&country, self.cc),
                };
                self.url = flag_url(&self.job.base_url, self.cc);
                self.redirects = 0;
                None
            }),
            Reading::Flag(sink) => sink.commit().map(|(path, bytes)| {
                self.stopwatch.saved();
                Some(Fetched::Saved {
                    path,
                    bytes,
                    http_version: self.version,
                })
            }),
        };
        if ended.is_ok() {
            // The exchange is over; another request, if one follows, opens the next.
            self.stopwatch.close();
        }
        ended.map_err(|e| self.failed(e))
    }

    /// A failure of this fetch in its current exchange, stamped (see [`Self::stamp`]).
    fn failed(&mut self, e: FetchError) -> FetchError {
        self.stopwatch.failed();
        self.stamp(e)
    }

    /// Gives a failure the status of the response it happened in, if it has none.
    pub fn stamp(&self, mut e: FetchError) -> FetchError {
        e.http_status = e.http_status.or(self.status);
        e.http_version = e.http_version.or(self.version);
        e
    }
}

/// The country name in a `metadata.json` body; anything else is an error for that code.
pub fn parse_metadata(body: &[u8]) -> Result<String, FetchError> {
    let bad = |why: String| FetchError::new(ErrorKind::Metadata, why);
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("metadata is not JSON ({e})")))?;
    match doc.get("country") {
        Some(serde_json::Value::String(name)) => Ok(name.clone()),
        Some(_) => Err(bad("metadata's \"country\" is not a string".into())),
        None => Err(bad("metadata has no \"country\"".into())),
    }
}

fn metadata_too_large() -> FetchError {
    FetchError::new(
        ErrorKind::Metadata,
        format!("metadata larger than {}", human_bytes(MAX_METADATA)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(dir: &std::path::Path) -> Job {
        Job::for_tests("http://127.0.0.1:9/flags", &["BR"], dir)
    }

    /// Runs `test` with a fetch of BR, admitted by its run's pace.
    fn with_fetch(test: impl FnOnce(&mut FlagFetch<'_>)) {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path());
        let ticket = job.pace.try_admit_for_tests();
        test(&mut FlagFetch::new(&job, "BR", &ticket));
    }

    fn redirect_to(fetch: &mut FlagFetch<'_>, location: &str) -> Result<(), FetchError> {
        fetch.on_head(&Head {
            status: 302,
            location: Some(location),
            ..Head::default()
        })?;
        assert!(fetch.on_end()?.is_none());
        Ok(())
    }

    #[test]
    fn redirects_resolve_as_rfc_3986_says() {
        with_fetch(|fetch| {
            redirect_to(fetch, "../../x/./y/../br.gif").unwrap();
            assert_eq!(fetch.url(), "http://127.0.0.1:9/x/br.gif");
            redirect_to(fetch, "//other:8000/a").unwrap();
            assert_eq!(fetch.url(), "http://other:8000/a");
        });
    }

    #[test]
    fn redirects_leave_http_only_to_https() {
        with_fetch(|fetch| {
            let err = redirect_to(fetch, "file:///etc/passwd").unwrap_err();
            assert_eq!(err.kind, ErrorKind::Redirect);
            assert_eq!(
                err.reason,
                "redirected to a file: address (file:///etc/passwd); only http and https are followed"
            );
            assert_eq!(err.http_status, Some(302));
        });
        with_fetch(|fetch| redirect_to(fetch, "https://example.org/br.gif").unwrap());
    }

    #[test]
    fn a_redirect_to_where_an_unusable_proxy_variable_applies_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = job(dir.path());
        job.proxies = std::sync::Arc::new(crate::proxy::ProxyRules::new(None, None, &|name| {
            (name == "HTTPS_PROXY").then(|| "ftp://proxy".to_string())
        }));
        let ticket = job.pace.try_admit_for_tests();
        let mut fetch = FlagFetch::new(&job, "BR", &ticket);
        let err = redirect_to(&mut fetch, "https://example.org/br.gif").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Redirect);
        assert!(
            err.reason.starts_with(
                "redirected to https://example.org/br.gif, but HTTPS_PROXY='ftp://proxy' is not a proxy"
            ),
            "{}",
            err.reason
        );
    }

    #[test]
    fn a_redirect_loop_ends_after_ten() {
        with_fetch(|fetch| {
            for _ in 0..MAX_REDIRECTS {
                redirect_to(fetch, "/flags/br/br.gif").unwrap();
            }
            let err = redirect_to(fetch, "/flags/br/br.gif").unwrap_err();
            assert!(
                err.reason.starts_with("too many redirects"),
                "{}",
                err.reason
            );
        });
    }

    #[test]
    fn a_failure_in_a_200_body_reports_status_200() {
        with_fetch(|fetch| {
            fetch
                .on_head(&Head {
                    status: 200,
                    content_type: Some("text/html"),
                    ..Head::default()
                })
                .unwrap();
            let err = fetch.feed(b"<html><body>").unwrap_err();
            assert_eq!((err.kind, err.http_status), (ErrorKind::NotGif, Some(200)));
        });
    }

    #[test]
    fn a_head_over_64_kib_or_100_fields_is_refused_before_its_status_counts() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("x-pad", "a".repeat(MAX_HEADERS - 9).parse().unwrap());
        let head = Head::read(hyper::StatusCode::OK, hyper::Version::HTTP_11, &headers);
        assert_eq!(head.field_bytes, MAX_HEADERS, "`x-pad: …\r\n`");
        with_fetch(|fetch| fetch.on_head(&head).unwrap());
        headers.insert("x", "a".parse().unwrap());
        let over = Head::read(hyper::StatusCode::OK, hyper::Version::HTTP_11, &headers);
        with_fetch(|fetch| {
            let err = fetch.on_head(&over).unwrap_err();
            assert_eq!(err.reason, "the server's response headers are over 64 KiB");
            assert_eq!((err.kind, err.http_status), (ErrorKind::Malformed, None));
        });
        let mut many = hyper::HeaderMap::new();
        for i in 0..=MAX_FIELDS {
            many.append("x", i.into());
        }
        let many = Head::read(hyper::StatusCode::OK, hyper::Version::HTTP_11, &many);
        with_fetch(|fetch| assert!(fetch.on_head(&many).is_err()));
    }

    #[test]
    fn a_404_page_cut_short_is_still_not_found() {
        with_fetch(|fetch| {
            fetch
                .on_head(&Head {
                    status: 404,
                    ..Head::default()
                })
                .unwrap();
            let closed = FetchError::transient(ErrorKind::ConnectionClosed, "closed");
            fetch.read_failed(closed).unwrap();
            assert!(matches!(fetch.on_end(), Ok(Some(Fetched::NotFound { .. }))));
        });
    }

    #[test]
    fn metadata_must_be_json_with_a_string_country() {
        assert_eq!(
            parse_metadata(br#"{"country": "Brazil"}"#).unwrap(),
            "Brazil"
        );
        assert!(parse_metadata(b"<html>")
            .unwrap_err()
            .reason
            .starts_with("metadata is not JSON"));
        assert!(parse_metadata(br#"{"country": 7}"#)
            .unwrap_err()
            .reason
            .contains("not a string"));
        assert!(parse_metadata(br#"{}"#)
            .unwrap_err()
            .reason
            .contains("no \"country\""));
    }
}
