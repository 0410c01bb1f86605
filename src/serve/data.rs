//! What the flag server serves: the generated data set, or a folder in the book's layout.
//!
//! The generated set comes from the compiled-in country table: each flag's GIF (5–15 KB)
//! and metadata are made on its first request and kept, so a one-flag run does not pay for
//! 194 images and later requests are a map lookup. A folder is opened per request, like
//! `python3 -m http.server`: its flags here, at paths built from a checked code and file
//! name, its other files and folders found by [`super::listing`]; each file served by
//! [`FlagData::file_at`], never through a link that leaves the folder. A small file's bytes
//! are kept once opened ([`SmallFiles`]) and shared by every answer that sends them, for as
//! long as the file opened is the same: thousands of answers of one flag cost one copy.
//!
//! A file that is not there is `Ok(None)` (404); a failure of the server's own (out of
//! file descriptors, an I/O error) is [`Unavailable`] (503), which a client retries.

use crate::countries;
use crate::serve::budget::{Budget, Reserved};
use crate::serve::gif::flag_gif;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// The two files the book's layout has per country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Gif,
    Metadata,
}

impl FileKind {
    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Gif => "image/gif",
            FileKind::Metadata => "application/json",
        }
    }
}

/// One country of the generated data set; its files are made when first asked for.
pub struct GeneratedFlag {
    country: &'static countries::Country,
    /// `(gif, metadata)`.
    files: OnceLock<(Bytes, Bytes)>,
}

impl GeneratedFlag {
    fn files(&self) -> &(Bytes, Bytes) {
        self.files.get_or_init(|| {
            let gif = flag_gif(self.country.code);
            (Bytes::from(gif), Bytes::from(metadata_json(self.country)))
        })
    }
}

/// The data behind `/flags/`.
pub enum FlagData {
    /// Made from `flags/countries.tsv`, by lower-case code.
    Generated(HashMap<String, GeneratedFlag>),
    /// A folder laid out as `<cc>/<cc>.gif` and `<cc>/metadata.json`, canonicalised.
    Dir(PathBuf, Arc<SmallFiles>),
}

/// The server could not read a file that may well be there: out of file descriptors or
/// memory, or an I/O error. Answered 503 with `Retry-After`, never 404.
#[derive(Debug)]
pub struct Unavailable;

/// Whether an error opening a file of the folder means that no such file is served
/// (404): missing, not a regular file, not readable, or a path that leaves the folder.
/// Anything else is the server's own failure.
fn is_not_there(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidInput
    ) {
        return true;
    }
    // A link out of the folder (openat2's EXDEV, O_NOFOLLOW's ELOOP), a file where a
    // folder should be, a name too long.
    Errno::from_io_error(e).is_some_and(|errno| {
        [Errno::XDEV, Errno::LOOP, Errno::NOTDIR, Errno::NAMETOOLONG].contains(&errno)
    })
}

/// Small files of the folder, read once and shared while the file opened stays the same.
#[derive(Debug, Default)]
pub struct SmallFiles {
    kept: Mutex<Kept>,
}

/// The files kept, by path beneath the folder, and their bytes in all.
#[derive(Debug, Default)]
struct Kept {
    files: HashMap<PathBuf, (FileId, Bytes)>,
    bytes: usize,
}

/// What tells a file from its replacement: the same device, inode, size and times.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The most bytes [`SmallFiles`] keeps: the book's 194 flags and their metadata are
/// 2.35 MB. Past it, files are read per answer, within the server's byte budget.
const SMALL_FILES_BYTES: usize = 32 << 20;

impl SmallFiles {
    fn get(&self, relative: &Path, id: &FileId) -> Option<Bytes> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match kept.files.get(relative) {
            Some((kept, bytes)) if kept == id => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Keeps a file just read, if there is room: its bytes are then the cache's, shared
    /// and outside the budget; if not, they count against the budget (`room`) until sent.
    fn keep(&self, relative: &Path, id: FileId, data: Vec<u8>, room: Reserved) -> Bytes {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, old)) = kept.files.remove(relative) {
            kept.bytes -= old.len();
        }
        if kept.bytes + data.len() > SMALL_FILES_BYTES {
            return room.hold(data);
        }
        let bytes = Bytes::from(data);
        kept.bytes += bytes.len();
        kept.files
            .insert(relative.to_path_buf(), (id, bytes.clone()));
        bytes
    }
}

impl FlagData {
    /// Makes a generated flag's files now, if they are not made yet; nothing for a folder.
    pub fn prepare(&self, cc: &str) {
        if let FlagData::Generated(files) = self {
            if let Some(flag) = files.get(cc) {
                flag.files();
            }
        }
    }

    /// The generated data set.
    pub fn generated() -> FlagData {
        let files = countries::countries()
            .iter()
            .map(|country| {
                let flag = GeneratedFlag {
                    country,
                    files: OnceLock::new(),
                };
                (country.code.to_ascii_lowercase(), flag)
            })
            .collect();
        FlagData::Generated(files)
    }

    /// A folder in the book's layout, such as `../shared/flags`.
    pub fn dir(path: &Path) -> anyhow::Result<FlagData> {
        let root = path
            .canonicalize()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot serve --dir {}: {}; give the folder that holds <cc>/<cc>.gif, such as ../shared/flags",
                    path.display(),
                    e.to_string().to_lowercase()
                )
            })?;
        if !root.is_dir() {
            return Err(anyhow::anyhow!(
                "cannot serve --dir {}: not a folder",
                path.display()
            ));
        }
        // A folder that exists but holds no flags is a mistake on the command line.
        let folder = flags_folder(&root).ok_or_else(|| {
            crate::error::Error::Usage(format!(
                "cannot serve --dir {}: it holds no <cc>/<cc>.gif, nor a flags/ folder that does; give the folder that holds them, such as ../shared/flags",
                path.display()
            ))
        })?;
        Ok(FlagData::Dir(folder, Arc::default()))
    }

    /// The folder served, for the banner.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            FlagData::Generated(_) => None,
            FlagData::Dir(root, _) => Some(root),
        }
    }

    /// One flag's file, `Ok(None)` when there is no such file in the data.
    ///
    /// `cc` must already be two lower-case ASCII letters (see [`parse_flag_path`]).
    pub async fn get(
        &self,
        cc: &str,
        kind: FileKind,
        budget: &Budget,
    ) -> Result<Option<Served>, Unavailable> {
        match self {
            FlagData::Generated(files) => {
                let Some(flag) = files.get(cc) else {
                    return Ok(None);
                };
                let (gif, metadata) = flag.files();
                Ok(Some(Served::bytes(match kind {
                    FileKind::Gif => gif.clone(),
                    FileKind::Metadata => metadata.clone(),
                })))
            }
            FlagData::Dir(..) => {
                let relative = match kind {
                    FileKind::Gif => format!("{cc}/{cc}.gif"),
                    FileKind::Metadata => format!("{cc}/metadata.json"),
                };
                self.file_at(PathBuf::from(relative), budget).await
            }
        }
    }

    /// The regular file at `relative` (plain names, no `..`) in the folder, as it is
    /// served; `Ok(None)` if there is none (or no folder). It is opened once, beneath the
    /// folder (see [`super::beneath`]), off the async workers, so a slow disk or a hostile
    /// file never holds up other requests. Opening counts against `budget`'s files, and a
    /// small file not in the cache is read within its bytes.
    pub async fn file_at(
        &self,
        relative: PathBuf,
        budget: &Budget,
    ) -> Result<Option<Served>, Unavailable> {
        let FlagData::Dir(root, small) = self else {
            return Ok(None);
        };
        let (root, small) = (root.clone(), small.clone());
        let open_permit = budget.open_file().await.ok_or(Unavailable)?;
        let opened = tokio::task::spawn_blocking(move || {
            let file = match super::beneath::open_regular_beneath(&root, &relative) {
                Ok(file) => file,
                Err(e) if is_not_there(&e) => return Ok(None),
                Err(_) => return Err(Unavailable),
            };
            let meta = file.metadata().map_err(|_| Unavailable)?;
            let (id, modified) = (FileId::of(&meta), meta.modified().ok());
            let opened = if id.len > WHOLE {
                Opened::Large(file, id.len)
            } else if let Some(bytes) = small.get(&relative, &id) {
                Opened::Small(bytes)
            } else {
                Opened::Read(file, id, relative, small)
            };
            Ok(Some((opened, modified)))
        })
        .await
        .map_err(|_| Unavailable)??;
        let Some((opened, modified)) = opened else {
            return Ok(None);
        };
        let content = match opened {
            Opened::Small(bytes) => Content::Bytes(bytes),
            Opened::Large(file, len) => Content::File {
                file,
                len,
                open: open_permit,
            },
            Opened::Read(file, id, relative, small) => {
                // A flag is ~12 KB: one read, one buffer, kept for the next answers.
                let room = budget.reserve(id.len as usize).await;
                let bytes = tokio::task::spawn_blocking(move || {
                    let mut bytes = Vec::with_capacity(id.len as usize);
                    std::io::Read::read_to_end(&mut std::io::Read::take(&file, WHOLE), &mut bytes)
                        .map_err(|_| Unavailable)?;
                    Ok(small.keep(&relative, id, bytes, room))
                })
                .await
                .map_err(|_| Unavailable)??;
                Content::Bytes(bytes)
            }
        };
        Ok(Some(Served { content, modified }))
    }
}

/// A file of the folder, opened.
enum Opened {
    /// Already in the cache.
    Small(Bytes),
    /// Small, to read.
    Read(std::fs::File, FileId, PathBuf, Arc<SmallFiles>),
    /// Larger than [`WHOLE`], to stream.
    Large(std::fs::File, u64),
}

/// The folder of flags in `root`: `root` itself when it holds `<cc>/<cc>.gif`, or its
/// `flags/` when that does (the book's `getflags` layout, where the server runs in the
/// folder above `flags/`); `None` for a folder with neither.
fn flags_folder(root: &Path) -> Option<PathBuf> {
    let holds_flags = |dir: &Path| {
        std::fs::read_dir(dir).ok().is_some_and(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.len() == 2 && entry.path().join(format!("{name}.gif")).is_file()
            })
        })
    };
    if holds_flags(root) {
        return Some(root.to_path_buf());
    }
    // Canonical, as the folder served must be: what is served is checked to lie under it.
    let inner = root.join("flags").canonicalize().ok()?;
    holds_flags(&inner).then_some(inner)
}

/// Files up to this size are read whole; larger ones are streamed in chunks of it, so that
/// a large file costs the server a chunk per request, not its size.
pub const WHOLE: u64 = 64 * 1024;

/// What a request for a file gets: its bytes, and when it was last changed.
#[derive(Debug)]
pub struct Served {
    pub content: Content,
    /// A folder's file's modification time; `None` for the generated set, which has none
    /// (and so no `Last-Modified`).
    pub modified: Option<SystemTime>,
}

impl Served {
    /// Bytes in memory, with no modification time.
    pub fn bytes(bytes: Bytes) -> Served {
        Served {
            content: Content::Bytes(bytes),
            modified: None,
        }
    }
}

/// A served file's bytes.
#[derive(Debug)]
pub enum Content {
    Bytes(Bytes),
    /// A file larger than [`WHOLE`], open, to stream; `open` counts it as open.
    File {
        file: std::fs::File,
        len: u64,
        open: tokio::sync::OwnedSemaphorePermit,
    },
}

/// The metadata document, in the book's key order.
pub fn metadata_json(country: &countries::Country) -> String {
    // GEC codes (the CIA's) are not part of ISO 3166, so the generated document leaves
    // `gec_cc` out rather than guess it; `--dir` serves the book's own files unchanged.
    let doc = serde_json::json!({
        "tld_cc": country.tld,
        "iso_cc": country.code,
        "country": country.name,
    });
    doc.to_string()
}

/// Splits `/flags/<cc>/<cc>.gif` or `/flags/<cc>/metadata.json` into the code and file.
///
/// Anything else, including percent-encoded or backslashed escapes, dot segments and upper
/// case, is `None` (the server answers 404): only the exact shapes are flags.
pub fn parse_flag_path(path: &str) -> Option<(&str, FileKind)> {
    let rest = path.strip_prefix("/flags/")?;
    let (cc, file) = rest.split_once('/')?;
    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    if file == "metadata.json" {
        return Some((cc, FileKind::Metadata));
    }
    let stem = file.strip_suffix(".gif")?;
    (stem == cc).then_some((cc, FileKind::Gif))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_file_shapes_are_flags() {
        assert_eq!(
            parse_flag_path("/flags/br/br.gif"),
            Some(("br", FileKind::Gif))
        );
        assert_eq!(
            parse_flag_path("/flags/br/metadata.json"),
            Some(("br", FileKind::Metadata))
        );
        for bad in [
            "/flags/br/bd.gif",
            "/flags/BR/BR.gif",
            "/flags/../../etc/passwd",
            "/flags/%2e%2e/%2e%2e/etc/passwd",
            "/flags/..%2f..%2fetc/passwd",
            "/flags/..\\..\\etc/passwd",
            "/flags/br/br.gif/x",
            "/flags/br/../br/br.gif",
            "/flags/b/b.gif",
            "/flags/br",
            "/other/br/br.gif",
        ] {
            assert_eq!(parse_flag_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_missing_file_is_not_there_and_running_out_of_descriptors_is_the_servers_failure() {
        use std::io::Error;
        for errno in [
            libc_errno::ENOENT,
            libc_errno::EACCES,
            libc_errno::ELOOP,
            libc_errno::EXDEV,
            libc_errno::ENOTDIR,
        ] {
            assert!(is_not_there(&Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [
            libc_errno::EMFILE,
            libc_errno::ENFILE,
            libc_errno::ENOMEM,
            libc_errno::EIO,
        ] {
            assert!(!is_not_there(&Error::from_raw_os_error(errno)), "{errno}");
        }
    }

    /// The errno values, through rustix (the one system-call crate).
    mod libc_errno {
        use rustix::io::Errno;
        pub const ENOENT: i32 = Errno::NOENT.raw_os_error();
        pub const EACCES: i32 = Errno::ACCESS.raw_os_error();
        pub const ELOOP: i32 = Errno::LOOP.raw_os_error();
        pub const EXDEV: i32 = Errno::XDEV.raw_os_error();
        pub const ENOTDIR: i32 = Errno::NOTDIR.raw_os_error();
        pub const EMFILE: i32 = Errno::MFILE.raw_os_error();
        pub const ENFILE: i32 = Errno::NFILE.raw_os_error();
        pub const ENOMEM: i32 = Errno::NOMEM.raw_os_error();
        pub const EIO: i32 = Errno::IO.raw_os_error();
    }

    #[test]
    fn metadata_has_the_books_fields() {
        let br = countries::country("BR").unwrap();
        let doc: serde_json::Value = serde_json::from_str(&metadata_json(br)).unwrap();
        assert_eq!(doc["tld_cc"], ".br");
        assert_eq!(doc["iso_cc"], "BR");
        assert_eq!(doc["country"], "Brazil");
    }
}
