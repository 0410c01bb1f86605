//! The page at `/`: the flags as images with their countries' names, each linking to its
//! file, a link to the listing, and the live figures of the server's side (see
//! [`super::live`]), so that a reader who opens the server in a browser sees it work.
//!
//! The page and everything it loads are outside the lesson: `/`, `/_gallery/` (the
//! images, the script and the style, from `page/`, compiled in) and `/_live`,
//! `/_live.json` are answered before `--delay` and `--error-rate` are drawn, are not
//! counted in the figures, and are not logged; a connection that asks for one is let off
//! `--latency` (see [`super::latency`]). The flags are shown from
//! `/_gallery/<cc>.gif`, not from their usual paths, for the same reason. The page works
//! without JavaScript; its script only keeps the figures live.

use super::body::{not_found, plain, sized, ServeBody};
use super::budget::ConnectionFiles;
use super::data::{FileKind, FlagData};
use super::listing::escape_html;
use super::live::Snapshot;
use super::{files, FlagServer};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use std::path::Path;

const PAGE: &str = include_str!("page/gallery.html");
const STYLE: &str = include_str!("page/gallery.css");
const SCRIPT: &str = include_str!("page/gallery.js");

/// Whether `path` is the page's or something it loads: no faults, not counted.
pub(super) fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/_live" | "/_live.json") || path.starts_with("/_gallery/")
}

/// The answer to a request for one of the page's paths (see [`is_page`]).
/// `files` are those of the request's connection (none for a request made without one).
pub(super) async fn answer<B>(
    server: &FlagServer,
    req: &Request<B>,
    files: Option<&ConnectionFiles>,
) -> Response<ServeBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
    }
    let path = req.uri().path();
    match path {
        "/" => {
            let flags = flags(&server.data).await;
            let page = page(&server.data, &flags, &server.live.snapshot());
            fresh(Bytes::from(page), "text/html; charset=utf-8")
        }
        "/_live" => match server.live.watch() {
            Some(events) => {
                let mut response = Response::new(events);
                let headers = response.headers_mut();
                headers.insert(
                    "content-type",
                    HeaderValue::from_static("text/event-stream"),
                );
                headers.insert("cache-control", HeaderValue::from_static("no-store"));
                response
            }
            None => {
                let mut response = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "16 pages watch this server already: read /_live.json instead\n",
                );
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("15"));
                response
            }
        },
        "/_live.json" => fresh(server.live.json(), "application/json"),
        "/_gallery/gallery.css" => fresh(Bytes::from_static(STYLE.as_bytes()), "text/css"),
        "/_gallery/gallery.js" => fresh(Bytes::from_static(SCRIPT.as_bytes()), "text/javascript"),
        _ => {
            let Some(cc) = image_code(path) else {
                return not_found();
            };
            match server.data.get(cc, FileKind::Gif, &server.budget).await {
                Ok(Some(served)) => {
                    let mut response =
                        files::respond(served, "image/gif", req.headers(), &server.budget, files);
                    response
                        .headers_mut()
                        .insert("cache-control", HeaderValue::from_static("no-cache"));
                    response
                }
                Ok(None) => not_found(),
                Err(super::data::Unavailable) => super::body::unavailable(),
            }
        }
    }
}

/// The code of `/_gallery/<cc>.gif`, two lower-case letters, or `None`.
fn image_code(path: &str) -> Option<&str> {
    let cc = path.strip_prefix("/_gallery/")?.strip_suffix(".gif")?;
    (cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_lowercase())).then_some(cc)
}

/// An answer that a browser asks for again rather than keep (the figures change; the
/// page's files change with the build).
fn fresh(body: Bytes, content_type: &'static str) -> Response<ServeBody> {
    let mut response = sized(body, content_type);
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

/// One flag of the gallery.
#[derive(Debug, PartialEq)]
struct Flag {
    /// Two lower-case letters.
    cc: String,
    /// The country's name, from its `metadata.json`, not escaped yet.
    name: String,
}

/// The flags to show, by code: the generated set's, or those of the folder, each named by
/// its `metadata.json`.
async fn flags(data: &FlagData) -> Vec<Flag> {
    match data {
        FlagData::Generated(_) => crate::countries::countries()
            .iter()
            .map(|country| Flag {
                cc: country.code.to_ascii_lowercase(),
                name: country.name.to_string(),
            })
            .collect(),
        FlagData::Dir(root, _) => {
            let root = root.clone();
            tokio::task::spawn_blocking(move || folder_flags(&root))
                .await
                .unwrap_or_default()
        }
    }
}

/// The folder's `<cc>/<cc>.gif`, each opened beneath it as a flag is, named by
/// `<cc>/metadata.json` (or the data set, or the code, when that says nothing).
fn folder_flags(root: &Path) -> Vec<Flag> {
    use super::beneath::{open_beneath, open_regular_beneath};
    let Ok(dir) = open_beneath(root, Path::new(".")) else {
        return Vec::new();
    };
    let Ok(entries) = rustix::fs::Dir::read_from(&dir) else {
        return Vec::new();
    };
    let mut flags: Vec<Flag> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let cc = entry.file_name().to_str().ok()?.to_string();
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_lowercase()) {
                return None;
            }
            open_regular_beneath(root, format!("{cc}/{cc}.gif")).ok()?;
            let name = open_regular_beneath(root, format!("{cc}/metadata.json"))
                .ok()
                .and_then(country_name)
                .or_else(|| crate::countries::country(&cc).map(|c| c.name.to_string()))
                .unwrap_or_else(|| cc.to_ascii_uppercase());
            Some(Flag { cc, name })
        })
        .collect();
    flags.sort_by(|a, b| a.cc.cmp(&b.cc));
    flags
}

/// The `country` of a `metadata.json`, read up to 64 KiB, cut to 100 characters.
fn country_name(file: std::fs::File) -> Option<String> {
    use std::io::Read;
    let mut json = Vec::new();
    file.take(64 << 10).read_to_end(&mut json).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let name = doc.get("country")?.as_str()?.trim();
    (!name.is_empty()).then(|| name.chars().take(100).collect())
}

/// The page, its `{{name}}`s filled in one pass: a value is never read for more names.
fn page(data: &FlagData, flags: &[Flag], figures: &Snapshot) -> String {
    let source = match data {
        FlagData::Generated(_) => "The generated flags".to_string(),
        FlagData::Dir(..) => "The flags of the served folder".to_string(),
    };
    let value = |name: &str| -> String {
        match name {
            "count" => flags.len().to_string(),
            "source" => source.clone(),
            "in_flight" => figures.in_flight_recent_max.to_string(),
            "connections" => figures.connections.to_string(),
            "per_second" => format!("{:.0}", figures.per_second),
            "served" => figures.served.to_string(),
            "peak" => figures.peak_in_flight.to_string(),
            "clients" => figures
                .clients
                .iter()
                .map(|c| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape_html(&c.address),
                        c.in_flight,
                        c.connections,
                        c.served
                    )
                })
                .collect(),
            "flags" => flags.iter().map(flag_item).collect(),
            _ => String::new(),
        }
    };
    let mut out = String::with_capacity(PAGE.len() + flags.len() * 200);
    let mut rest = PAGE;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out += &rest[..start];
        out += &value(&rest[start + 2..start + len]);
        rest = &rest[start + len + 2..];
    }
    out += rest;
    out
}

/// One flag's item: its image, linking to the flag at its usual path, and its name.
fn flag_item(flag: &Flag) -> String {
    let name = escape_html(&crate::text::escaped(&flag.name));
    let cc = &flag.cc;
    format!(
        "<li><a href=\"/flags/{cc}/{cc}.gif\"><img src=\"/_gallery/{cc}.gif\" alt=\"the flag of {name}\"></a>{name} <small>{}</small></li>\n",
        cc.to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_each_flag_with_its_name_escaped() {
        let flags = [
            Flag {
                cc: "br".into(),
                name: "Brazil".into(),
            },
            Flag {
                cc: "xx".into(),
                name: "<script>alert('{{flags}}')</script>".into(),
            },
        ];
        let data = FlagData::generated();
        let page = page(
            &data,
            &flags,
            &super::super::live::Live::default().snapshot(),
        );
        assert!(page.contains("<title>flags-dl serve: 2 flags</title>"));
        assert!(page.contains(
            "<a href=\"/flags/br/br.gif\"><img src=\"/_gallery/br.gif\" alt=\"the flag of Brazil\"></a>Brazil"
        ));
        assert!(!page.contains("<script>alert"), "the name is escaped");
        assert!(page.contains("&lt;script&gt;alert(&#39;{{flags}}&#39;)"));
        assert!(!page.contains("{{count}}") && !page.contains("{{source}}"));
        assert_eq!(page.matches("<li>").count(), 2, "a name is not filled in");
    }

    #[test]
    fn page_paths_are_the_page_and_what_it_loads() {
        for page in ["/", "/_live", "/_live.json", "/_gallery/br.gif"] {
            assert!(is_page(page), "{page}");
        }
        for other in [
            "/flags/",
            "/flags/br/br.gif",
            "/index.html",
            "//",
            "/_livex",
        ] {
            assert!(!is_page(other), "{other}");
        }
        assert_eq!(image_code("/_gallery/br.gif"), Some("br"));
        for bad in [
            "/_gallery/BR.gif",
            "/_gallery/bra.gif",
            "/_gallery/../br.gif",
        ] {
            assert_eq!(image_code(bad), None, "{bad}");
        }
    }
}
