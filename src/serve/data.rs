//! What the flag server serves: the generated data set, or a folder in the book's layout.
//!
//! The generated set comes from the compiled-in country table: each flag's GIF (5–15 KB)
//! and metadata are made on its first request and kept, so a one-flag run does not pay for
//! 194 images and later requests are a map lookup. A folder is read per request, like
//! `python3 -m http.server`: its flags here, at paths built from a checked code and file
//! name, its other files and folders by [`super::listing`]; never through a link that
//! leaves the folder.

use crate::countries;
use crate::serve::gif::flag_gif;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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
    Dir(PathBuf),
}

impl FlagData {
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
        Ok(FlagData::Dir(folder))
    }

    /// The folder served, for the banner.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            FlagData::Generated(_) => None,
            FlagData::Dir(root) => Some(root),
        }
    }

    /// One file, or `None` when there is no such file in the data.
    ///
    /// `cc` must already be two lower-case ASCII letters (see [`parse_flag_path`]). A
    /// folder's file is opened once, beneath the folder, a regular file only (see
    /// [`super::beneath`]), off the async workers: a slow disk or a hostile file never
    /// holds up other requests.
    pub async fn get(&self, cc: &str, kind: FileKind) -> Option<Served> {
        match self {
            FlagData::Generated(files) => {
                let (gif, metadata) = files.get(cc)?.files();
                Some(Served::bytes(match kind {
                    FileKind::Gif => gif.clone(),
                    FileKind::Metadata => metadata.clone(),
                }))
            }
            FlagData::Dir(root) => {
                let relative = match kind {
                    FileKind::Gif => format!("{cc}/{cc}.gif"),
                    FileKind::Metadata => format!("{cc}/metadata.json"),
                };
                let root = root.clone();
                tokio::task::spawn_blocking(move || {
                    let file = super::beneath::open_regular_beneath(&root, &relative).ok()?;
                    served_file(file).ok()
                })
                .await
                .ok()
                .flatten()
            }
        }
    }
}

/// A regular file of the folder, already opened beneath it, as it is served: read whole
/// when small (a flag is ~12 KB: one read, one buffer), else left open to stream; with
/// the time it was last changed, for `Last-Modified`.
pub fn served_file(file: std::fs::File) -> std::io::Result<Served> {
    let metadata = file.metadata()?;
    let len = metadata.len();
    let modified = metadata.modified().ok();
    let content = if len <= WHOLE {
        let mut bytes = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut &file, &mut bytes)?;
        Content::Bytes(Bytes::from(bytes))
    } else {
        Content::File { file, len }
    };
    Ok(Served { content, modified })
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
    /// A file larger than [`WHOLE`], open, to stream.
    File {
        file: std::fs::File,
        len: u64,
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
    fn metadata_has_the_books_fields() {
        let br = countries::country("BR").unwrap();
        let doc: serde_json::Value = serde_json::from_str(&metadata_json(br)).unwrap();
        assert_eq!(doc["tld_cc"], ".br");
        assert_eq!(doc["iso_cc"], "BR");
        assert_eq!(doc["country"], "Brazil");
    }
}
