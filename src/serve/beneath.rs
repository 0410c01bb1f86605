//! Opening a file of the served folder so that nothing outside it can be read, whatever
//! another process does to the folder meanwhile.
//!
//! Checking a path and then opening it by name again leaves a window: a file swapped for
//! a symlink between the two is read from wherever the link points. So the file is opened
//! once, and what was opened is checked: `openat2` with `RESOLVE_BENEATH` makes the kernel
//! refuse any resolution that leaves the folder (a symlink out of it, `..`). Where
//! `openat2` is missing (Linux before 5.6, a sandbox that filters it, other systems), the
//! path is resolved once and, if it lies under the folder, that resolved path is walked a
//! component at a time with `O_NOFOLLOW`: it holds no link when resolved, so a link swapped
//! in afterwards (for the file or any folder on the way) fails the walk instead of leading
//! out. Only regular files are served: a FIFO or a device is refused, and `O_NONBLOCK`
//! keeps even the open of a FIFO from waiting.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `relative` (plain components, no `..`) under the folder `root` (canonical), for
/// reading; a regular file only.
pub fn open_regular_beneath(root: &Path, relative: impl AsRef<Path>) -> io::Result<File> {
    let file = open_beneath(root, relative.as_ref())?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Opens `relative` under the folder `root` (canonical), for reading, whatever it is: a
/// folder to list (see [`super::listing`]) as well as a file. The caller checks which.
#[cfg(target_os = "linux")]
pub fn open_beneath(root: &Path, relative: &Path) -> io::Result<File> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;
    let dir = File::open(root)?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let mut attempts = 0;
    loop {
        match openat2(&dir, relative, flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(File::from(fd)),
            // No openat2 here (an old kernel, or a sandbox that filters it).
            Err(Errno::NOSYS) | Err(Errno::PERM) => return open_by_walk(root, relative),
            // A link inside the folder that goes through `..` while something is renamed
            // elsewhere: the kernel could not prove the path stayed beneath, and asks for
            // another try.
            Err(Errno::AGAIN) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn open_beneath(root: &Path, relative: &Path) -> io::Result<File> {
    open_by_walk(root, relative)
}

/// The fallback: resolve the path (a link inside the folder is fine), refuse it unless it
/// is under `root`, then open what it resolved to one component at a time, never following
/// a link. Checking the resolved path and opening it by name again would leave a window
/// (a folder on the way swapped for a link out); the walk leaves none, because a path that
/// resolved with no link in it can only change under the walk by gaining one, which
/// `O_NOFOLLOW` refuses.
fn open_by_walk(root: &Path, relative: &Path) -> io::Result<File> {
    use rustix::fs::{open, openat, Mode, OFlags};
    use std::path::Component;
    let outside = || io::Error::new(io::ErrorKind::PermissionDenied, "outside the folder");
    let resolved = std::fs::canonicalize(root.join(relative))?;
    let inside = resolved.strip_prefix(root).map_err(|_| outside())?;
    let names: Vec<_> = inside.components().collect();
    let folder = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = open(root, folder, Mode::empty())?;
    for (i, name) in names.iter().enumerate() {
        // A canonical path under `root` has plain names only.
        let Component::Normal(name) = name else {
            return Err(outside());
        };
        let flags = if i + 1 == names.len() {
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
        } else {
            folder
        };
        fd = openat(&fd, *name, flags, Mode::empty())?;
    }
    Ok(File::from(fd))
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
        assert!(open_by_walk(&root, Path::new("br/out.gif")).is_err());
        assert!(open_by_walk(&root, Path::new("br/br.gif")).is_ok());
        assert!(
            open_by_walk(&root, Path::new("br/in.gif")).is_ok(),
            "a link inside is fine"
        );
    }

    /// Issue 11 item 7 on each way of opening: a folder on the way (`br`) and a file
    /// (`sc/sc.gif`) each swapped, atomically and over and over, with a link out of the
    /// folder while they are opened. The fallback used to open the checked path by name
    /// again, following a folder swapped in meanwhile, and read the secret.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_or_file_swapped_for_a_link_mid_open_never_opens_what_it_points_to() {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use std::io::Read;
        use std::os::unix::fs::symlink;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        let outer = tempfile::tempdir().unwrap();
        let away = outer.path().join("away");
        std::fs::create_dir_all(&away).unwrap();
        std::fs::write(away.join("br.gif"), b"secret").unwrap();
        std::fs::write(outer.path().join("secret"), b"secret").unwrap();
        let root = outer.path().join("flags");
        for cc in ["br", "sc"] {
            std::fs::create_dir_all(root.join(cc)).unwrap();
            std::fs::write(root.join(format!("{cc}/{cc}.gif")), b"GIF89a").unwrap();
        }
        let root = root.canonicalize().unwrap();
        symlink(&away, root.join("link")).unwrap();
        symlink(outer.path().join("secret"), root.join("sc/out.gif")).unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let swappers: Vec<_> = [("br", "link"), ("sc/sc.gif", "sc/out.gif")]
            .into_iter()
            .map(|(a, b)| {
                let (a, b, stop) = (root.join(a), root.join(b), stop.clone());
                std::thread::spawn(move || {
                    let mut swaps = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // An error only once the test has failed and its folder is gone.
                        if renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).is_err() {
                            break;
                        }
                        swaps += 1;
                    }
                    swaps
                })
            })
            .collect();
        type Open = fn(&Path, &Path) -> io::Result<File>;
        let opens: [(&str, Open); 2] = [("openat2", open_beneath), ("the walk", open_by_walk)];
        for (how, open) in opens {
            let (started, mut opened) = (Instant::now(), 0u64);
            while started.elapsed() < Duration::from_millis(1500) {
                for relative in ["br/br.gif", "sc/sc.gif"] {
                    let Ok(mut file) = open(&root, Path::new(relative)) else {
                        continue;
                    };
                    let mut bytes = Vec::new();
                    file.read_to_end(&mut bytes).unwrap();
                    assert_eq!(
                        bytes, b"GIF89a",
                        "{how} opened {relative} outside the folder"
                    );
                    opened += 1;
                }
            }
            assert!(opened > 100, "{how} opened {opened} files in the race");
        }
        stop.store(true, Ordering::Relaxed);
        for swapper in swappers {
            assert!(swapper.join().unwrap() > 100, "the swaps ran");
        }
    }
}
