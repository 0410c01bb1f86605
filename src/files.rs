//! Reading a small file that the user names (a certificate, a key, a bundle of CAs) so
//! that no path can hang the program or fill its memory.
//!
//! Such a path may name anything: a FIFO, whose open waits for a writer for ever; a device,
//! such as `/dev/zero`, that never ends; or a regular file far larger than any certificate.
//! So only a regular file is read, and at most a bound. The path is followed (a symlink to
//! a PEM file is fine), opened without blocking (`O_NONBLOCK`: the open of a FIFO returns
//! at once), and what was opened is checked, not the name: a file swapped for a FIFO
//! between a check and the open is still refused. Its size is checked before reading, and
//! the read itself stops one byte past the bound, so a file that grows meanwhile is refused
//! too. It is not for the output folder or the served data, which have rules of their own
//! ([`crate::save`], the server's `beneath`).

use crate::sizes::{human_bytes, human_size};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// The most a certificate or key file may hold. The whole Mozilla bundle of CAs is about
/// 220 KB; a few MB is room for any real one, and no threat to memory.
pub const CERT_FILE_LIMIT: u64 = 4 << 20;

/// Why a file was not read. Its `Display` is a lower-case fragment that follows the name
/// of the file: `--cacert /dev/zero: not a regular file but a character device`.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read: the system's reason.
    #[error("{}", .0.to_string().to_lowercase())]
    Io(#[from] io::Error),
    /// A folder, a FIFO, a device or a socket: what it is.
    #[error("not a regular file but {0}")]
    NotRegular(&'static str),
    /// Larger than the bound before it was read.
    #[error("{}, more than the {} {what} may be", human_size(*.size), human_bytes(*.limit))]
    TooLarge {
        size: u64,
        limit: u64,
        what: &'static str,
    },
    /// Within the bound when opened, past it while read: it grows.
    #[error("it grew past the {} {what} may be while it was read", human_bytes(*.limit))]
    Grew { limit: u64, what: &'static str },
}

/// The bytes of the regular file at `path` (symlinks followed), if it holds at most
/// `limit` bytes; `what` names such a file in the error (`a certificate file`).
pub fn read_regular_bounded(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, ReadError> {
    // A look first, so that a device is not even opened (opening some of them acts: a tape
    // rewinds). The check that counts is the one on what was opened, below.
    regular(&std::fs::metadata(path)?)?;
    let file = open_without_blocking(path)?;
    let metadata = file.metadata()?;
    regular(&metadata)?;
    if metadata.len() > limit {
        return Err(ReadError::TooLarge {
            size: metadata.len(),
            limit,
            what,
        });
    }
    // The size is what it was a moment ago; `take` holds the read to the bound whatever
    // the file does meanwhile.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::Grew { limit, what });
    }
    Ok(bytes)
}

/// `path` opened for reading with `O_NONBLOCK` (a FIFO's open returns at once), `O_NOCTTY`
/// (a terminal never becomes ours) and `O_CLOEXEC` (no child inherits it).
fn open_without_blocking(path: &Path) -> io::Result<File> {
    use rustix::fs::{open, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    Ok(File::from(open(path, flags, Mode::empty())?))
}

/// Refuses anything but a regular file, saying what it is.
fn regular(metadata: &Metadata) -> Result<(), ReadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO (a named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHAT: &str = "a certificate file";

    fn fifo(path: &Path) {
        use rustix::fs::{mknodat, FileType, Mode, CWD};
        mknodat(CWD, path, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).unwrap();
    }

    #[test]
    fn a_regular_file_within_the_bound_is_read_through_a_symlink_too() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, b"12345").unwrap();
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular_bounded(&file, 5, WHAT).unwrap(), b"12345");
        assert_eq!(read_regular_bounded(&link, 5, WHAT).unwrap(), b"12345");
    }

    #[test]
    fn a_file_past_the_bound_is_refused_with_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.pem");
        // Sparse: a gigabyte that costs no disk.
        File::create(&file).unwrap().set_len(1 << 30).unwrap();
        let e = read_regular_bounded(&file, CERT_FILE_LIMIT, WHAT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1.0 GiB, more than the 4 MiB a certificate file may be"
        );
        std::fs::write(&file, b"123456").unwrap();
        let e = read_regular_bounded(&file, 5, WHAT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "6 bytes, more than the 5 bytes a certificate file may be"
        );
    }

    #[test]
    fn a_fifo_a_device_and_a_folder_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        fifo(&pipe);
        let link = dir.path().join("link-to-pipe");
        std::os::unix::fs::symlink(&pipe, &link).unwrap();
        for (path, kind) in [
            (pipe.as_path(), "a FIFO (a named pipe)"),
            (link.as_path(), "a FIFO (a named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a folder"),
        ] {
            let e = read_regular_bounded(path, CERT_FILE_LIMIT, WHAT).unwrap_err();
            assert_eq!(e.to_string(), format!("not a regular file but {kind}"));
        }
    }

    #[test]
    fn a_fifo_swapped_in_after_the_look_is_refused_without_waiting() {
        // What the look before the open cannot see: the open itself must not wait, and the
        // check on the opened file must refuse it.
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        fifo(&pipe);
        let file = open_without_blocking(&pipe).unwrap();
        assert!(matches!(
            regular(&file.metadata().unwrap()),
            Err(ReadError::NotRegular("a FIFO (a named pipe)"))
        ));
    }

    #[test]
    fn a_missing_file_says_so() {
        let e = read_regular_bounded(Path::new("/no/such/file.pem"), 10, WHAT).unwrap_err();
        assert!(e.to_string().starts_with("no such file"), "{e}");
    }
}
