//! Folder listings under `/flags/`, as `python3 -m http.server` gives them: `/flags/` and
//! each folder below it answer with a page of links to its entries (or, when the request's
//! `Accept` prefers `text/plain`, one entry a line, folders ending in `/`), and a folder's
//! URL without its final `/` is redirected to it.
//!
//! The generated flags are listed as the folders they would be on disk. With `--dir`, the
//! real tree is listed and its other files are served: each path is percent-decoded a
//! segment at a time, a segment that is empty, `.` or `..` is refused, and what is left is
//! opened once, beneath the served folder ([`super::beneath`]), so a listing or a file
//! never comes from outside it. An entry is listed only if it can be served: a folder, or a
//! regular file, or a link that resolves to one inside the folder. A folder's `index.html`
//! is served in place of its listing. A listing holds at most [`MAX_LISTED`] entries, the
//! first by name, and says how many more there are.
//!
//! Which requests are flags (counted, and the only files of the generated set) is decided
//! before, by [`super::data::parse_flag_path`]; this module answers the rest of `/flags`.

use super::beneath::{open_beneath, open_regular_beneath};
use super::body::{not_found, sized, ServeBody};
use super::budget::ConnectionFiles;
use super::data::{FlagData, GeneratedFlag};
use super::files;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::collections::{BinaryHeap, HashMap};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// What a link leaves as it is: letters, digits and `-._~`, the unreserved characters of
/// RFC 3986; every other byte is percent-encoded.
const LINK: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Most entries a listing shows.
pub const MAX_LISTED: usize = 10_000;

/// The answer to a request under `/flags` that is not a flag file's usual path.
/// `files` are those of the request's connection (none for a request made without one).
pub(super) async fn answer<B>(
    server: &super::FlagServer,
    req: &Request<B>,
    files: Option<&ConnectionFiles>,
) -> Response<ServeBody> {
    let data = &server.data;
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/flags") else {
        return not_found();
    };
    if rest.is_empty() {
        return redirect(req);
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return not_found();
    };
    // `/flags//`: an empty name.
    if rest.starts_with('/') {
        return not_found();
    }
    // `/flags/` is the top folder, asked with its final `/`.
    let (inner, folder_asked) = match rest.strip_suffix('/') {
        Some(inner) => (inner, true),
        None => (rest, rest.is_empty()),
    };
    let Some(names) = decode(inner) else {
        return not_found();
    };
    let found = match data {
        FlagData::Generated(flags) => generated(flags, &names),
        FlagData::Dir(root, _) => {
            let root = root.clone();
            tokio::task::spawn_blocking(move || look(&root, names, folder_asked))
                .await
                .unwrap_or(Found::Nothing)
        }
    };
    match found {
        Found::Folder(_) if !folder_asked => redirect(req),
        Found::Folder(listing) => {
            let shown = shown_path(inner);
            if wants_plain(req.headers()) {
                listing.plain()
            } else {
                listing.html(&shown)
            }
        }
        // Served as a flag is: opened again beneath the folder, within the budget.
        Found::File(relative, content_type) => match data.file_at(relative, &server.budget).await {
            Ok(Some(served)) => {
                files::respond(served, content_type, req.headers(), &server.budget, files)
            }
            Ok(None) => not_found(),
            Err(super::data::Unavailable) => super::body::unavailable(),
        },
        Found::Nothing => not_found(),
    }
}

/// What a path names.
enum Found {
    Folder(Listing),
    /// A file (or a folder's `index.html`), by its path beneath the folder, with its
    /// content type.
    File(PathBuf, &'static str),
    Nothing,
}

/// `301` to the same path with a final `/`, its query kept, as `http.server` does.
fn redirect<B>(req: &Request<B>) -> Response<ServeBody> {
    let mut location = format!("{}/", req.uri().path());
    if let Some(query) = req.uri().query() {
        location = format!("{location}?{query}");
    }
    // The path and query of a URI hyper parsed are visible ASCII.
    let Ok(location) = HeaderValue::from_str(&location) else {
        return not_found();
    };
    let mut response = sized(Bytes::new(), "text/plain");
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    response.headers_mut().insert("location", location);
    response
}

/// The names of a path below `/flags/`, percent-decoded, or `None` if a segment is empty,
/// `.` or `..`, or holds a `/` or a NUL once decoded: such a path names nothing served.
fn decode(inner: &str) -> Option<Vec<OsString>> {
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner
        .split('/')
        .map(|segment| {
            let name: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
            let plain = !name.is_empty()
                && name != b"."
                && name != b".."
                && !name.contains(&b'/')
                && !name.contains(&0);
            plain.then(|| OsString::from_vec(name))
        })
        .collect()
}

/// The folder's path as a reader sees it, `/flags/<decoded>/`, for the page's title.
fn shown_path(inner: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(inner).decode_utf8_lossy();
    if decoded.is_empty() {
        "/flags/".to_string()
    } else {
        format!("/flags/{decoded}/")
    }
}

/// The generated set as folders: `/flags/` holds a folder per code, and each folder its
/// two files. The files themselves are only served at their usual paths, as flags.
fn generated(flags: &HashMap<String, GeneratedFlag>, names: &[OsString]) -> Found {
    let entry = |name: String, folder| Entry {
        key: name.to_lowercase(),
        name: name.into_bytes(),
        folder,
    };
    match names {
        [] => {
            let mut entries: Vec<Entry> = flags.keys().map(|cc| entry(cc.clone(), true)).collect();
            entries.sort();
            Found::Folder(Listing { entries, more: 0 })
        }
        [cc] if cc.to_str().is_some_and(|cc| flags.contains_key(cc)) => {
            let cc = cc.to_string_lossy();
            let mut entries = vec![
                entry(format!("{cc}.gif"), false),
                entry("metadata.json".to_string(), false),
            ];
            entries.sort();
            Found::Folder(Listing { entries, more: 0 })
        }
        _ => Found::Nothing,
    }
}

/// What `names` is in the folder `root`: opened once, beneath it; a folder is listed (or
/// its `index.html` served) only when asked with its final `/`.
fn look(root: &Path, names: Vec<OsString>, folder_asked: bool) -> Found {
    let relative: PathBuf = if names.is_empty() {
        PathBuf::from(".")
    } else {
        names.iter().collect()
    };
    let Ok(opened) = open_beneath(root, &relative) else {
        return Found::Nothing;
    };
    let Ok(metadata) = opened.metadata() else {
        return Found::Nothing;
    };
    if metadata.is_dir() {
        if !folder_asked {
            return Found::Folder(Listing::default());
        }
        let index = relative.join("index.html");
        if open_regular_beneath(root, &index).is_ok() {
            return Found::File(index, "text/html; charset=utf-8");
        }
        return match list(root, &relative, &opened) {
            Ok(listing) => Found::Folder(listing),
            Err(_) => Found::Nothing,
        };
    }
    if metadata.is_file() && !folder_asked {
        let name = names.last().map(|n| n.to_string_lossy().into_owned());
        let content_type = files::content_type(name.as_deref().unwrap_or_default());
        return Found::File(relative, content_type);
    }
    Found::Nothing
}

/// One listed entry, ordered by its name in lower case (as `http.server` sorts), then by
/// its bytes.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: String,
    name: Vec<u8>,
    folder: bool,
}

/// A folder's entries, the first [`MAX_LISTED`] by name, and how many more it has.
#[derive(Debug, Default)]
struct Listing {
    entries: Vec<Entry>,
    more: usize,
}

/// Reads the folder `dir` (opened beneath `root` at `relative`), keeping the first
/// [`MAX_LISTED`] entries by name: memory stays bounded however large the folder is.
fn list(root: &Path, relative: &Path, dir: &std::fs::File) -> std::io::Result<Listing> {
    use rustix::fs::FileType;
    let mut kept = BinaryHeap::new();
    let mut total = 0;
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let folder = match entry.file_type() {
            FileType::Directory => true,
            FileType::RegularFile => false,
            // A link is listed as what it leads to, if that is inside the folder and
            // served; the file system may not say what an entry is without a look.
            FileType::Symlink | FileType::Unknown => {
                let path = relative.join(std::ffi::OsStr::from_bytes(name));
                match open_beneath(root, &path).and_then(|f| f.metadata()) {
                    Ok(m) if m.is_dir() => true,
                    Ok(m) if m.is_file() => false,
                    _ => continue,
                }
            }
            // A FIFO, a socket or a device: never served, so not listed.
            _ => continue,
        };
        total += 1;
        kept.push(Entry {
            key: String::from_utf8_lossy(name).to_lowercase(),
            name: name.to_vec(),
            folder,
        });
        if kept.len() > MAX_LISTED {
            // The greatest name goes: the heap keeps the first ones.
            kept.pop();
        }
    }
    let entries = kept.into_sorted_vec();
    let more = total - entries.len();
    Ok(Listing { entries, more })
}

impl Entry {
    /// The link to it, relative to its folder: every byte but letters, digits and `-._~`
    /// percent-encoded, so that no name can be read as a scheme (`javascript:`), a query
    /// or a fragment; a folder's ends in `/`.
    fn href(&self) -> String {
        let mut href = percent_encoding::percent_encode(&self.name, LINK).to_string();
        if self.folder {
            href.push('/');
        }
        href
    }

    /// Its name as shown: invalid UTF-8 replaced, control and format characters escaped
    /// (a right-to-left override must not make one name read as another), then escaped
    /// for HTML; a folder's ends in `/`.
    fn shown(&self) -> String {
        let name = String::from_utf8_lossy(&self.name);
        let mut shown = escape_html(&crate::text::escaped(&name));
        if self.folder {
            shown.push('/');
        }
        shown
    }
}

impl Listing {
    /// The page `http.server` gives, with a link to the gallery.
    fn html(&self, path: &str) -> Response<ServeBody> {
        let title = escape_html(&crate::text::escaped(path));
        let mut page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <link rel=\"icon\" href=\"data:,\">\n\
             <title>Directory listing for {title}</title>\n</head>\n<body>\n\
             <h1>Directory listing for {title}</h1>\n<hr>\n<ul>\n"
        );
        for entry in &self.entries {
            page += &format!(
                "<li><a href=\"{}\">{}</a></li>\n",
                entry.href(),
                entry.shown()
            );
        }
        page += "</ul>\n<hr>\n";
        if self.more > 0 {
            page += &format!(
                "<p>{} more not listed: a listing shows the first {MAX_LISTED} by name.</p>\n",
                self.more
            );
        }
        page +=
            "<p><a href=\"/\">The gallery, and the server's side live</a></p>\n</body>\n</html>\n";
        listing_response(page, "text/html; charset=utf-8")
    }

    /// One entry a line, as its link (see [`Entry::href`]: a plain name is itself); when
    /// some are left out, an empty line (no entry is empty), then how many.
    fn plain(&self) -> Response<ServeBody> {
        let mut text = String::new();
        for entry in &self.entries {
            text += &entry.href();
            text.push('\n');
        }
        if self.more > 0 {
            text += &format!("\n{} more not listed\n", self.more);
        }
        listing_response(text, "text/plain; charset=utf-8")
    }
}

fn listing_response(body: String, content_type: &'static str) -> Response<ServeBody> {
    let mut response = sized(Bytes::from(body), content_type);
    // The same URL answers in two types.
    response
        .headers_mut()
        .insert("vary", HeaderValue::from_static("accept"));
    response
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in an element and in a quoted
/// attribute.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the request's `Accept` prefers `text/plain` to `text/html`. With no `Accept`,
/// or `*/*` (curl's), or a tie, a listing is HTML, as a browser expects.
fn wants_plain(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    quality(accept, "text/plain") > quality(accept, "text/html")
}

/// The quality `accept` gives `media` (`type/subtype`): that of the most specific range
/// that matches it (RFC 9110 §12.5.1), 0 if none does.
fn quality(accept: &str, media: &str) -> f32 {
    let family = media.split_once('/').map_or(media, |(family, _)| family);
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let specific = if name == media {
            2
        } else if name.strip_suffix("/*") == Some(family) {
            1
        } else if name == "*/*" {
            0
        } else {
            continue;
        };
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, value)| value.trim().parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
            .unwrap_or(1.0);
        if best.is_none_or(|(s, _)| specific > s) {
            best = Some((specific, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn plain_text_only_when_accept_prefers_it() {
        assert!(!wants_plain(&HeaderMap::new()));
        for html in [
            "*/*",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/plain, text/html",
            "text/plain;q=0.5, text/html;q=0.5",
            "text/*, text/plain;q=0.2",
        ] {
            assert!(!wants_plain(&accept(html)), "{html}");
        }
        for plain in [
            "text/plain",
            "text/plain; charset=utf-8",
            "text/plain, */*;q=0.1",
            "text/html;q=0.4, text/plain",
            "TEXT/PLAIN;Q=0.9, text/html;q=0.1",
        ] {
            assert!(wants_plain(&accept(plain)), "{plain}");
        }
    }

    #[test]
    fn dot_segments_empty_segments_and_encoded_slashes_name_nothing() {
        assert_eq!(decode(""), Some(vec![]));
        assert_eq!(
            decode("br/a%20b.gif"),
            Some(vec![OsString::from("br"), OsString::from("a b.gif")])
        );
        for bad in [
            "..", "%2e%2e", ".%2E", "br/..", "br//x", "%2f", "a%2fb", "a%00b", "br/.",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_escaped_in_text_and_encoded_in_links() {
        let entry = Entry {
            key: String::new(),
            name: b"<img src=x onerror=alert(1)>\"'&.gif".to_vec(),
            folder: false,
        };
        assert_eq!(
            entry.shown(),
            "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;.gif"
        );
        assert_eq!(
            entry.href(),
            "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22%27%26.gif"
        );
        let scheme = Entry {
            key: String::new(),
            name: b"javascript:alert(1)".to_vec(),
            folder: true,
        };
        assert_eq!(scheme.href(), "javascript%3Aalert%281%29/");
        let hidden = Entry {
            key: String::new(),
            name: "gpj\u{202e}.gif".as_bytes().to_vec(),
            folder: false,
        };
        assert_eq!(hidden.shown(), "gpj\\u{202e}.gif");
        let plain = Entry {
            key: String::new(),
            name: b"metadata.json".to_vec(),
            folder: false,
        };
        assert_eq!(plain.href(), "metadata.json");
    }

    #[test]
    fn a_folder_lists_its_first_entries_by_name_and_counts_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for name in ["b.txt", "A.txt", "c"] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        std::fs::create_dir(root.join("sub")).unwrap();
        let dir = open_beneath(&root, Path::new(".")).unwrap();
        let listing = list(&root, Path::new("."), &dir).unwrap();
        let names: Vec<_> = listing.entries.iter().map(Entry::href).collect();
        assert_eq!(names, ["A.txt", "b.txt", "c", "sub/"]);
        assert_eq!(listing.more, 0);
    }
}
