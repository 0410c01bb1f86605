//! Where a response's body goes, chunk by chunk, whichever client read it: the one body
//! pipeline of every mode.
//!
//! A flag's body is checked to be a GIF from its first bytes, held to `--max-size` as it
//! arrives, and written into a temporary in the output folder that gets its own name only
//! once complete ([`FlagSink`]): no buffer per flag in any mode, so memory does not grow
//! with `--max-size` or with `-m`. `metadata.json` is small and read into memory, capped
//! ([`Capped`]). Any other answer (a 404 page, a 503) is read only far enough to give its
//! connection back to the pool ([`DRAIN`]).

use super::failure::FetchError;
use crate::save::{PartFile, Saver};
use std::path::PathBuf;

/// The most bytes of a non-200 body read just to keep its connection for the next request.
pub const DRAIN: u64 = 64 * 1024;

/// Bytes needed to check a GIF signature (`GIF87a` or `GIF89a`).
const SIGNATURE: usize = 6;

/// Whether the client should keep reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    More,
    /// Enough has been read; the rest may be dropped with its connection.
    Enough,
}

/// A flag's body on its way into the output folder.
pub struct FlagSink<'s> {
    saver: &'s Saver,
    file_name: String,
    content_type: Option<String>,
    limit: u64,
    /// Bytes held back until there are enough to check the signature, which in practice
    /// the first chunk always has.
    head: Vec<u8>,
    /// Created once the signature has been checked: nothing that is not a GIF ever
    /// touches the folder.
    part: Option<PartFile<'s>>,
    bytes: u64,
}

impl<'s> FlagSink<'s> {
    /// A sink for `file_name`, refusing any body over `limit` bytes.
    pub fn new(
        saver: &'s Saver,
        file_name: String,
        content_type: Option<&str>,
        limit: u64,
    ) -> FlagSink<'s> {
        FlagSink {
            saver,
            file_name,
            content_type: content_type.map(str::to_string),
            limit,
            head: Vec::new(),
            part: None,
            bytes: 0,
        }
    }

    /// Takes the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.limit {
            return Err(FetchError::too_large(self.limit));
        }
        if let Some(part) = &mut self.part {
            return part
                .write_all(chunk)
                .map_err(|e| FetchError::cannot_save(&e));
        }
        self.head.extend_from_slice(chunk);
        if self.head.len() >= SIGNATURE {
            check_gif(&self.head, self.content_type.as_deref())?;
            let mut part = self
                .saver
                .begin(&self.file_name)
                .map_err(|e| FetchError::cannot_save(&e))?;
            part.write_all(&self.head)
                .map_err(|e| FetchError::cannot_save(&e))?;
            self.head = Vec::new();
            self.part = Some(part);
        }
        Ok(())
    }

    /// The body is complete: gives the file its own name; returns its path and size.
    pub fn commit(self) -> Result<(PathBuf, u64), FetchError> {
        let Some(part) = self.part else {
            // Fewer than 6 bytes in all: too short to hold a GIF signature.
            return Err(FetchError::not_a_gif(self.content_type.as_deref()));
        };
        let path = part.commit().map_err(|e| FetchError::cannot_save(&e))?;
        Ok((path, self.bytes))
    }
}

/// A small body read into memory, refused past its limit.
pub struct Capped {
    bytes: Vec<u8>,
    limit: u64,
    too_large: fn() -> FetchError,
}

impl Capped {
    pub fn new(limit: u64, too_large: fn() -> FetchError) -> Capped {
        Capped {
            bytes: Vec::new(),
            limit,
            too_large,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        if (self.bytes.len() + chunk.len()) as u64 > self.limit {
            return Err((self.too_large)());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Counts what is read of a body nobody needs, up to [`DRAIN`].
#[derive(Debug, Default)]
pub struct Drain {
    read: u64,
}

impl Drain {
    pub fn feed(&mut self, chunk: &[u8]) -> Flow {
        self.read += chunk.len() as u64;
        if self.read > DRAIN {
            Flow::Enough
        } else {
            Flow::More
        }
    }
}

/// Checks the start of a 200 body: it must be a GIF.
pub fn check_gif(head: &[u8], content_type: Option<&str>) -> Result<(), FetchError> {
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Ok(());
    }
    Err(FetchError::not_a_gif(content_type))
}

#[cfg(test)]
mod tests {
    use super::super::failure::ErrorKind;
    use super::*;
    use std::fs;

    fn names_in(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_gif_bodies_pass() {
        assert!(check_gif(b"GIF89a...", Some("image/gif")).is_ok());
        assert!(check_gif(b"GIF87a...", None).is_ok());
        let err = check_gif(b"<html>", Some("text/html")).unwrap_err();
        assert_eq!(err.reason, "not a GIF (text/html)");
        assert_eq!(err.kind, ErrorKind::NotGif);
    }

    #[test]
    fn a_flag_streams_into_its_file_whatever_the_chunking() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let mut sink = FlagSink::new(&saver, "br.gif".into(), Some("image/gif"), 100);
        for chunk in [&b"GI"[..], b"F8", b"9a", b"rest"] {
            sink.feed(chunk).unwrap();
        }
        let (path, bytes) = sink.commit().unwrap();
        assert_eq!(
            (fs::read(path).unwrap(), bytes),
            (b"GIF89arest".to_vec(), 10)
        );
        assert_eq!(names_in(dir.path()), ["br.gif"]);
    }

    #[test]
    fn a_body_over_the_limit_or_not_a_gif_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let mut sink = FlagSink::new(&saver, "br.gif".into(), None, 8);
        sink.feed(b"GIF89a").unwrap();
        assert_eq!(sink.feed(b"abc").unwrap_err().kind, ErrorKind::TooLarge);
        drop(sink);
        let mut html = FlagSink::new(&saver, "br.gif".into(), Some("text/html"), 100);
        assert_eq!(html.feed(b"<html>").unwrap_err().kind, ErrorKind::NotGif);
        drop(html);
        let short = FlagSink::new(&saver, "br.gif".into(), None, 100);
        assert_eq!(short.commit().unwrap_err().kind, ErrorKind::NotGif);
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn small_bodies_are_capped_and_drains_stop() {
        let mut capped = Capped::new(4, || FetchError::new(ErrorKind::Metadata, "big"));
        capped.feed(b"abcd").unwrap();
        assert_eq!(capped.feed(b"e").unwrap_err().reason, "big");
        let mut drain = Drain::default();
        assert_eq!(drain.feed(&[0; 1024]), Flow::More);
        assert_eq!(drain.feed(&vec![0; DRAIN as usize]), Flow::Enough);
    }
}
