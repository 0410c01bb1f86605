//! Response bodies of the flag server: bytes already in memory (a generated flag, a small
//! file read whole), or a large file streamed a chunk at a time.
//!
//! A file of the served folder can be of any size, so one larger than [`data::WHOLE`] is
//! never read whole: each chunk is read on tokio's blocking pool as the client takes the
//! previous one, so a request costs the server one chunk, not the file, and a slow disk
//! never holds up an async worker.

use super::data;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::{Response, StatusCode};

/// A response body: bytes in memory, or a file read in chunks as the client takes them.
pub type ServeBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

pub(super) fn whole(bytes: Bytes) -> ServeBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A large file, [`data::WHOLE`] bytes at a time, each read on the blocking pool (tokio's
/// file), so that the server holds one chunk per request, not the file.
pub(super) fn streamed(file: std::fs::File) -> ServeBody {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::from_std(file);
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0; data::WHOLE as usize];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(hyper::body::Frame::data(Bytes::from(buf))), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    StreamBody::new(chunks.boxed()).boxed_unsync()
}

pub(super) fn plain(status: StatusCode, body: &'static str) -> Response<ServeBody> {
    let mut response = Response::new(whole(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

/// A `200` of `bytes` with their type and length. The length is set here because the
/// connection's wrapper around every body (see `activity`) hides its size from hyper,
/// which would send it chunked.
pub(super) fn sized(bytes: Bytes, content_type: &'static str) -> Response<ServeBody> {
    let len = bytes.len();
    let mut response = Response::new(whole(bytes));
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    headers.insert("content-length", len.into());
    response
}

pub(super) fn not_found() -> Response<ServeBody> {
    plain(StatusCode::NOT_FOUND, "404 not found\n")
}
