//! The files a user names for a run's reports (`--timeline`, `--trace`, the bench's
//! exports and plot), written one way: whole, with one file mode, and never by renaming
//! over something that is not a regular file.
//!
//! - A new file, or a regular file, is written atomically: a temporary beside it, renamed
//!   over it once complete, so the file is always the old whole or the new whole. It gets
//!   the mode a plain create gives (0666 less the umask), as the flags do.
//! - Anything else that already stands at the name is written in place, as a shell's `>`
//!   would: a terminal, a pipe (`/dev/stdout`, `/proc/self/fd/1`, `>(cat)`), a device, or
//!   a symlink (through it). Renaming over one replaced a character device and a link to
//!   `/proc/self/fd/1` with regular files, and as root would have replaced `/dev/stdout`.
//!   A FIFO that no one reads is refused rather than waited on for good.
//! - A folder, or a path whose folder is missing or read-only, is refused with one line,
//!   before the run when [`check`] is asked (so a run does not end by losing its report).
//!
//! The flags themselves are streamed into the output folder by [`crate::save`], which has
//! rules of its own against other processes writing there.

use anyhow::Context;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// The folder `path` is written in ("." for a bare file name).
pub fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// How a file will be written, from what stands at its name now.
#[derive(Debug, PartialEq, Eq)]
enum Way {
    /// Nothing, or a regular file: through a temporary, renamed.
    Atomic,
    /// A terminal, pipe, device or symlink: opened and written as it is.
    InPlace,
}

fn way(path: &Path) -> io::Result<Way> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a folder",
        )),
        Ok(meta) if meta.is_file() => Ok(Way::Atomic),
        Ok(_) => Ok(Way::InPlace),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Way::Atomic),
        Err(e) => Err(e),
    }
}

/// Fails now, with `what` and the path in one line, if `path` cannot be written later: it
/// names a folder, or its folder is missing or cannot be written in.
pub fn check(what: &str, path: &Path) -> anyhow::Result<()> {
    let context = || format!("cannot write {what} to {}", path.display());
    match way(path).with_context(context)? {
        Way::InPlace => {
            rustix::fs::access(path, rustix::fs::Access::WRITE_OK)
                .map_err(io::Error::from)
                .with_context(context)?;
        }
        Way::Atomic => {
            let dir = folder(path);
            temporary_in(dir).with_context(|| {
                format!(
                    "cannot write {what} to {} (in folder {})",
                    path.display(),
                    dir.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Writes `contents`, which are `what` ("the timeline"), to `path` whole (see the
/// module's rules).
pub fn write(what: &str, path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let context = || format!("cannot write {what} to {}", path.display());
    match way(path).with_context(context)? {
        Way::Atomic => write_atomic(path, contents).with_context(context),
        Way::InPlace => write_in_place(path, contents).with_context(context),
    }
}

/// A new temporary file in `dir`, with the mode a plain create gives (0666 less the
/// umask) rather than tempfile's private 0600.
fn temporary_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".flags-dl-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = temporary_in(folder(path))?;
    file.write_all(contents)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Opens what stands at `path` as it is and writes to it: without blocking on a FIFO that
/// no one reads (the open fails then), truncating only a regular file behind a link.
fn write_in_place(path: &Path, contents: &[u8]) -> io::Result<()> {
    use rustix::fs::{fcntl_setfl, open, Mode, OFlags};
    let regular = fs::metadata(path).is_ok_and(|meta| meta.is_file());
    let mut flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if regular {
        flags |= OFlags::TRUNC;
    }
    let fd = open(path, flags, Mode::empty()).map_err(|e| {
        if e == rustix::io::Errno::NXIO {
            io::Error::new(io::ErrorKind::BrokenPipe, "no one reads this FIFO")
        } else {
            io::Error::from(e)
        }
    })?;
    // Opened: now write as a shell's `>` does, waiting for a slow reader.
    fcntl_setfl(&fd, OFlags::empty())?;
    fs::File::from(fd).write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_replaced_whole_with_a_plain_files_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write("x", &path, b"first, longer\n").unwrap();
        write("x", &path, b"second\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second\n");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain");
            fs::write(&plain, b"").unwrap();
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode(&path),
                mode(&plain),
                "a plain file's, not tempfile's 0600"
            );
        }
    }

    #[test]
    fn a_link_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.svg");
        fs::write(&target, b"a much longer old content\n").unwrap();
        let link = dir.path().join("link.svg");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write("x", &link, b"new\n").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new\n");
    }

    #[test]
    fn a_device_is_written_as_it_is() {
        write("x", Path::new("/dev/null"), b"nothing\n").unwrap();
        assert!(
            !fs::metadata("/dev/null").unwrap().is_file(),
            "still the device"
        );
    }

    #[test]
    fn a_folder_or_a_missing_one_is_refused_before_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let err = check("x", dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("it is a folder"), "{err:#}");
        let missing = dir.path().join("no/such/out.svg");
        let err = check("x", &missing).unwrap_err();
        assert!(format!("{err:#}").contains("(in folder "), "{err:#}");
        assert!(write("x", &missing, b"x").is_err());
        check("x", &dir.path().join("out.svg")).unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a check leaves nothing"
        );
    }

    #[test]
    fn a_fifo_no_one_reads_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = write("x", &fifo, b"x").unwrap_err();
        assert!(format!("{err:#}").contains("no one reads"), "{err:#}");
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }
}
