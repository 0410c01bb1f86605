//! A file's answer: its type, its length, and, for a folder's file, `Last-Modified` and
//! `304 Not Modified` to an `If-Modified-Since` it has not changed since, as
//! `python3 -m http.server` answers. A browser that reloads the gallery or a listing then
//! asks again without fetching again.
//!
//! The generated flags have no modification time, so they carry no `Last-Modified` and
//! are always sent whole. This is not where a file is found or opened: see [`super::data`]
//! and [`super::listing`].

use super::body::{streamed, unavailable, whole, ServeBody};
use super::budget::{Budget, ConnectionFiles};
use super::data::{Content, Served};
use hyper::header::{self, HeaderMap, HeaderValue};

use hyper::{Response, StatusCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The answer to a request with headers `request` for `served`, of type `content_type`: a large file is streamed
/// within `budget`, if its connection (`files`, absent for a request made without one) may
/// hold one more open; else 503.
pub(super) fn respond(
    served: Served,
    content_type: &'static str,
    request: &HeaderMap,
    budget: &Budget,
    files: Option<&ConnectionFiles>,
) -> Response<ServeBody> {
    let modified = served.modified.and_then(http_date);
    if let Some(modified) = &modified {
        if unchanged_since(request, modified) {
            return Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header(header::LAST_MODIFIED, modified.to_string())
                .body(whole(bytes::Bytes::new()))
                .expect("a 304 with a date is valid");
        }
    }
    let (body, len) = match served.content {
        Content::Bytes(bytes) => {
            let len = bytes.len() as u64;
            (whole(bytes), len)
        }
        Content::File { file, len, open } => {
            let mut held = vec![open];
            if let Some(files) = files {
                match files.try_take() {
                    Some(permit) => held.push(permit),
                    None => return unavailable(),
                }
            }
            (streamed(file, budget.clone(), held), len)
        }
    };
    let mut response = Response::new(body);
    // Names as hyper's constants, not strings: a string name is parsed on every insert,
    // and this is every flag's answer.
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, len.into());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(modified) = modified {
        headers.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(&modified.to_string()).expect("an HTTP date is ASCII"),
        );
    }
    response
}

/// `time` as an HTTP date, to the second; `None` for a time that has none: before 1970 or
/// after 9999, which `httpdate` would panic on, and which any user can give a file of the
/// folder with `touch -d`.
fn http_date(time: SystemTime) -> Option<httpdate::HttpDate> {
    // 9999-12-31T23:59:59Z, the last second an HTTP date can say.
    const LAST: Duration = Duration::from_secs(253_402_300_799);
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    (since_epoch <= LAST).then(|| httpdate::HttpDate::from(time))
}

/// Whether the request's `If-Modified-Since` is at or after `modified`. As `http.server`,
/// the header is ignored when `If-None-Match` is present (which takes precedence, RFC
/// 9110 §13.1.3, and which this server does not answer), or when it is not a date.
fn unchanged_since(request: &HeaderMap, modified: &httpdate::HttpDate) -> bool {
    if request.contains_key("if-none-match") {
        return false;
    }
    let Some(since) = request
        .get("if-modified-since")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<httpdate::HttpDate>().ok())
    else {
        return false;
    };
    *modified <= since
}

/// The content type of a folder's file, by its name's extension: a type a browser keeps
/// to (every file is sent with `nosniff`).
pub(super) fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("gif") => "image/gif",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("txt" | "md" | "py" | "rs" | "tsv" | "csv") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// [`respond`] with the embedded server's budget, for a request made without a
    /// connection.
    fn answer(
        served: Served,
        content_type: &'static str,
        request: &HeaderMap,
    ) -> Response<ServeBody> {
        respond(served, content_type, request, &Budget::default(), None)
    }

    fn served_at(secs: u64) -> Served {
        Served {
            content: Content::Bytes(Bytes::from_static(b"GIF89a")),
            modified: Some(UNIX_EPOCH + Duration::from_millis(secs * 1000 + 700)),
        }
    }

    #[test]
    fn if_modified_since_at_or_after_the_file_is_304_and_before_it_is_200() {
        // 2001-09-09T01:46:40Z, and the file's sub-second part is dropped as the date's.
        let at = 1_000_000_000;
        let date = |secs: u64| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        let response = answer(served_at(at), "image/gif", &headers(&[]));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["last-modified"], date(at));
        for (since, status) in [
            (at, StatusCode::NOT_MODIFIED),
            (at + 60, StatusCode::NOT_MODIFIED),
            (at - 1, StatusCode::OK),
        ] {
            let asked = headers(&[("if-modified-since", &date(since))]);
            let response = answer(served_at(at), "image/gif", &asked);
            assert_eq!(response.status(), status, "since {since}");
        }
        let asked = headers(&[("if-modified-since", &date(at)), ("if-none-match", "\"x\"")]);
        assert_eq!(
            answer(served_at(at), "image/gif", &asked).status(),
            StatusCode::OK
        );
        let asked = headers(&[("if-modified-since", "yesterday")]);
        assert_eq!(
            answer(served_at(at), "image/gif", &asked).status(),
            StatusCode::OK
        );
    }

    /// `httpdate` panics on a time before 1970: a file touched to 1960 in the folder would
    /// have taken the request's task down with it.
    #[test]
    fn a_file_dated_before_1970_or_after_9999_is_served_without_a_date() {
        for modified in [
            UNIX_EPOCH - Duration::from_secs(10 * 365 * 86_400),
            UNIX_EPOCH + Duration::from_secs(300_000_000_000),
        ] {
            let served = Served {
                content: Content::Bytes(Bytes::from_static(b"x")),
                modified: Some(modified),
            };
            let response = answer(served, "image/gif", &headers(&[]));
            assert_eq!(response.status(), StatusCode::OK);
            assert!(!response.headers().contains_key("last-modified"));
        }
    }

    #[test]
    fn types_follow_the_extension_in_any_case() {
        assert_eq!(content_type("br.gif"), "image/gif");
        assert_eq!(content_type("BR.GIF"), "image/gif");
        assert_eq!(content_type("metadata.json"), "application/json");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
