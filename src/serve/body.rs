//! Response bodies of the flag server: bytes already in memory (a generated flag, a file
//! of the cache), or a large file streamed a piece at a time.
//!
//! Every body goes out in slices of at most [`CHUNK`] (the same bytes, no copy), so that
//! each slice the protocol takes shows that the client accepts what it asked for (see
//! [`super::conns`]). A file larger than [`data::WHOLE`] is never read whole: each piece
//! is read on tokio's blocking pool as the client takes the previous one, within the
//! server's [`Budget`], so a request costs the server a piece, not the file, and a slow
//! disk never holds up an async worker.

use super::budget::Budget;
use super::data;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

/// The largest piece of a body handed to the protocol at once: HTTP/2's default frame
/// size. A whole flag (5–40 KB) goes out as a few slices of the same bytes (no copy), so
/// that each slice taken is a sign that the client accepts what it asked for.
pub const CHUNK: usize = 16 * 1024;

/// A response body: bytes in memory, or a file read in pieces as the client takes them.
pub type ServeBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// Bytes in memory, in slices of [`CHUNK`].
pub(super) fn whole(bytes: Bytes) -> ServeBody {
    Slices(bytes).boxed_unsync()
}

/// A body that hands out its bytes a slice at a time.
struct Slices(Bytes);

impl hyper::body::Body for Slices {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.0.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let len = self.0.len().min(CHUNK);
        std::task::Poll::Ready(Some(Ok(Frame::data(self.0.split_to(len)))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.len() as u64)
    }
}

/// A large file, [`data::WHOLE`] bytes read at a time within `budget` (waiting for room),
/// each read on the blocking pool (tokio's file) and sent in slices; `open` are the
/// permits that count the file as open, given back when the body ends.
pub(super) fn streamed(
    file: std::fs::File,
    budget: Budget,
    open: Vec<OwnedSemaphorePermit>,
) -> ServeBody {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::from_std(file);
    let state = (file, Bytes::new(), budget, open);
    let pieces =
        futures_util::stream::unfold(state, |(mut file, mut read, budget, open)| async move {
            if read.is_empty() {
                let room = budget.reserve(data::WHOLE as usize).await;
                let mut buf = vec![0; data::WHOLE as usize];
                match file.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(n) => {
                        buf.truncate(n);
                        read = room.hold(buf);
                    }
                    Err(e) => return Some((Err(e), (file, read, budget, open))),
                }
            }
            let slice = read.split_to(read.len().min(CHUNK));
            Some((Ok(Frame::data(slice)), (file, read, budget, open)))
        });
    StreamBody::new(pieces.boxed()).boxed_unsync()
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

/// The server cannot answer now (out of file descriptors, or at its bound of files
/// open): a failure of the server's, which a client should retry, never a 404.
pub(super) fn unavailable() -> Response<ServeBody> {
    let mut response = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "503 the server is out of resources for now; try again\n",
    );
    response
        .headers_mut()
        .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
    response
}
