//! What the server's answers may hold at once, in all and per connection, whatever the
//! clients ask: bytes read from files and not yet sent, and files open.
//!
//! Without a bound, each request for a file of `--dir` read it into a buffer of its own
//! and kept it until the client took it: 500 HTTP/2 connections of 200 streams each,
//! none reading, held 3.8 GB of copies of one 36 KB flag; and each stream of a large file
//! kept its file open, so 110 × 200 streams used 19,999 of 20,000 file descriptors. Now a
//! small file's bytes are shared by every answer that sends it (see
//! [`super::data`]'s cache), and what is read for one answer only counts against
//! [`Budget::reserve`] until every copy of it has gone out, so a request waits for room
//! rather than grow the server; files open for answers are counted too, and past their
//! bound a request is answered `503` with `Retry-After` rather than fail later.

use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of file data the server's answers may hold at once, beyond the shared cache.
pub const BYTES: usize = 64 << 20;

/// Files a connection's answers may hold open at once.
pub const FILES_PER_CONNECTION: usize = 16;

/// How long a request waits for a file to be free before it is answered 503.
const FILE_WAIT: Duration = Duration::from_secs(1);

/// The unit the bytes are counted in: a semaphore counts in `u32`.
const UNIT: usize = 1024;

/// The server's budget, shared by every connection.
#[derive(Debug, Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    /// The units of `bytes` in all.
    total: u32,
    files: Arc<Semaphore>,
}

impl Default for Budget {
    /// The embedded server's: it shares the process, and its open-file limit, with the
    /// client, which leaves room for it (see `download::requests_in_flight`).
    fn default() -> Budget {
        Budget::new(BYTES, 256)
    }
}

impl Budget {
    /// A budget of `bytes` of file data and `files` open files.
    pub fn new(bytes: usize, files: usize) -> Budget {
        let total = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Budget {
            bytes: Arc::new(Semaphore::new(total as usize)),
            total,
            files: Arc::new(Semaphore::new(files)),
        }
    }

    /// Waits for room to read `len` bytes for an answer.
    pub async fn reserve(&self, len: usize) -> Reserved {
        let units = u32::try_from(len.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        // More than the whole budget can never fit: take it all rather than wait for good.
        let units = units.min(self.total);
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the semaphore is never closed");
        Reserved(permit)
    }

    /// A file may be opened for an answer: waits a moment for one to be free; `None` if
    /// none is (the answer is then a 503).
    pub async fn open_file(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(FILE_WAIT, self.files.clone().acquire_owned())
            .await
            .ok()
            .map(|permit| permit.expect("the semaphore is never closed"))
    }
}

/// Room for bytes read for one answer.
#[derive(Debug)]
pub struct Reserved(OwnedSemaphorePermit);

impl Reserved {
    /// The bytes read into that room: the room is given back once every slice of them has
    /// been sent or dropped.
    pub fn hold(self, data: Vec<u8>) -> Bytes {
        Bytes::from_owner(Held {
            data,
            _room: self.0,
        })
    }
}

struct Held {
    data: Vec<u8>,
    _room: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// The files one connection's answers hold open (see [`FILES_PER_CONNECTION`]).
#[derive(Debug, Clone)]
pub struct ConnectionFiles(Arc<Semaphore>);

impl Default for ConnectionFiles {
    fn default() -> ConnectionFiles {
        ConnectionFiles(Arc::new(Semaphore::new(FILES_PER_CONNECTION)))
    }
}

impl ConnectionFiles {
    /// One more file for this connection, if it holds fewer than its bound.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_read_count_until_every_slice_of_them_is_dropped() {
        let budget = Budget::new(64 * UNIT, 4);
        let data = budget.reserve(48 * UNIT).await.hold(vec![7; 48 * UNIT]);
        let slice = data.slice(0..10);
        drop(data);
        assert_eq!(budget.bytes.available_permits(), 16, "a slice is still out");
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(32 * UNIT).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room yet");
        drop(slice);
        waiting.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn files_past_the_bound_are_refused_after_a_moment() {
        let budget = Budget::new(UNIT, 1);
        let open = budget.open_file().await.expect("one is free");
        assert!(budget.open_file().await.is_none());
        drop(open);
        assert!(budget.open_file().await.is_some());
        let files = ConnectionFiles::default();
        let held: Vec<_> = std::iter::from_fn(|| files.try_take()).collect();
        assert_eq!(held.len(), FILES_PER_CONNECTION);
    }
}
