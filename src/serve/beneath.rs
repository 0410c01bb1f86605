//! Opening a file of the served folder so that nothing outside it can be read, whatever
//! another process does to the folder meanwhile.
//!
//! Checking a path and then opening it by name again leaves a window: a file swapped for
//! a symlink between the two is read from wherever the link points. So the file is opened
//! once, and what was opened is checked: `openat2` with `RESOLVE_BENEATH` makes the kernel
//! refuse any resolution that leaves the folder (a symlink out of it, `..`), and where
//! `openat2` is missing (Linux before 5.6, other systems) the opened file is compared with
//! what the path resolves to under the folder. Only regular files are served: a FIFO or a
//! device is refused, and `O_NONBLOCK` keeps even the open of a FIFO from waiting.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `relative` (plain components, no `..`) under the folder `root` (canonical), for
/// reading; a regular file only.
pub fn open_regular_beneath(root: &Path, relative: &str) -> io::Result<File> {
    let file = open_beneath(root, relative)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

#[cfg(target_os = "linux")]
fn open_beneath(root: &Path, relative: &str) -> io::Result<File> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;
    let dir = File::open(root)?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    match openat2(&dir, relative, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(File::from(fd)),
        // No openat2 here (an old kernel, or a sandbox that filters it).
        Err(Errno::NOSYS) | Err(Errno::PERM) => open_and_compare(root, relative),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_beneath(root: &Path, relative: &str) -> io::Result<File> {
    open_and_compare(root, relative)
}

/// The fallback: resolve the path, refuse it unless it is under `root`, open it without
/// following a final symlink, and check that the file opened is the one resolved.
fn open_and_compare(root: &Path, relative: &str) -> io::Result<File> {
    let outside = || io::Error::new(io::ErrorKind::PermissionDenied, "outside the folder");
    let resolved = std::fs::canonicalize(root.join(relative))?;
    if !resolved.starts_with(root) {
        return Err(outside());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(
            rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NONBLOCK.bits() as i32,
        );
    }
    let file = options.open(&resolved)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (opened, named) = (file.metadata()?, std::fs::metadata(&resolved)?);
        if (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
            return Err(outside());
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_under_the_folder_open_and_nothing_else_does() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("flags");
        std::fs::create_dir_all(root.join("br")).unwrap();
        std::fs::write(root.join("br/br.gif"), b"GIF89a").unwrap();
        std::fs::write(outer.path().join("secret"), b"secret").unwrap();
        let root = root.canonicalize().unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), root.join("br/out.gif")).unwrap();
        std::os::unix::fs::symlink("br.gif", root.join("br/in.gif")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            root.join("br/fifo.gif"),
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();

        assert!(open_regular_beneath(&root, "br/br.gif").is_ok());
        assert!(
            open_regular_beneath(&root, "br/in.gif").is_ok(),
            "a link inside is fine"
        );
        assert!(
            open_regular_beneath(&root, "br/out.gif").is_err(),
            "a link out is not"
        );
        assert!(
            open_regular_beneath(&root, "br/fifo.gif").is_err(),
            "nor a FIFO"
        );
        assert!(open_regular_beneath(&root, "br").is_err(), "nor a folder");
        assert!(open_and_compare(&root, "br/out.gif").is_err());
        assert!(open_and_compare(&root, "br/br.gif").is_ok());
    }
}
