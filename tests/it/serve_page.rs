//! `flags-dl serve` in a browser: the listings under `/flags/`, the gallery at `/`, and the
//! live figures at `/_live` and `/_live.json`, asked with raw HTTP requests; then the page
//! in headless Chromium, driven by `tests/browser/page.py` (Playwright), which sees what a
//! reader sees: images that loaded, figures that change, links that work.

use crate::harness::{
    all_codes, assert_decodable_gif, command, flags_dl, raw_request, raw_request_with, scratch,
    RawResponse, Server, Spawned, RUN_TIMEOUT,
};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

fn assert_status(answer: &RawResponse, status: u16, what: &str) {
    assert_eq!(answer.status, Some(status), "{what}: {}", answer.head);
}

fn body(answer: &RawResponse) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The `href`s of a page's links, in order.
fn links(html: &str) -> Vec<String> {
    html.split("<a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(href, _)| href.to_string()))
        .collect()
}

/// A folder in the book's layout (`br/br.gif`, `br/metadata.json`) and `extra` files, by
/// path relative to it; canonical.
fn tree(tmp: &Path, extra: &[(&str, &[u8])]) -> PathBuf {
    let root = tmp.join("root");
    std::fs::create_dir_all(root.join("br")).unwrap();
    std::fs::write(root.join("br/br.gif"), b"GIF89a-the-real-br").unwrap();
    std::fs::write(
        root.join("br/metadata.json"),
        br#"{"country": "Brazil", "iso_cc": "BR"}"#,
    )
    .unwrap();
    for (path, bytes) in extra {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    root.canonicalize().unwrap()
}

fn serve_dir(root: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `/_live.json`, parsed.
fn figures(server: &Server) -> serde_json::Value {
    let answer = server.get("/_live.json");
    assert_status(&answer, 200, "/_live.json");
    serde_json::from_slice(&answer.body).unwrap()
}

#[test]
fn the_gallery_shows_every_flag_named_and_linked_to_its_file() {
    let server = Server::start(&[]);
    let page = server.get("/");
    assert_status(&page, 200, "/");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = body(&page);
    assert_eq!(html.matches("<img src=\"/_gallery/").count(), 194);
    assert!(
        html.contains("<a href=\"/flags/br/br.gif\"><img src=\"/_gallery/br.gif\" alt=\"the flag of Brazil\"></a>Brazil"),
        "{html}"
    );
    assert!(
        html.contains(">Côte d&#39;Ivoire <small>CI</small>"),
        "escaped"
    );
    assert!(links(&html).contains(&"/flags/".to_string()), "the listing");
    // Every image, the style and the script are there.
    for cc in all_codes() {
        let cc = cc.to_ascii_lowercase();
        let image = server.get(&format!("/_gallery/{cc}.gif"));
        assert_status(&image, 200, &cc);
        assert_eq!(image.header("content-type"), Some("image/gif"));
        assert_decodable_gif(&cc, &image.body);
    }
    for (path, kind) in [
        ("/_gallery/gallery.css", "text/css"),
        ("/_gallery/gallery.js", "text/javascript"),
    ] {
        let answer = server.get(path);
        assert_status(&answer, 200, path);
        assert_eq!(answer.header("content-type"), Some(kind));
        assert!(html.contains(path), "the page loads {path}");
    }
    for missing in ["/_gallery/xx.gif", "/_gallery/BR.gif", "/_gallery/other.js"] {
        assert_status(&server.get(missing), 404, missing);
    }
    assert_status(&raw_request(server.addr, "POST", "/"), 405, "POST /");
}

/// With --dir the names come from each flag's `metadata.json`, escaped.
#[test]
fn the_gallery_of_a_folder_names_its_flags_from_their_metadata() {
    let tmp = scratch();
    let root = tree(
        tmp.path(),
        &[
            ("fr/fr.gif", b"GIF89a-fr"),
            ("fr/metadata.json", br#"{"country": "<b>France</b> & co"}"#),
            // No metadata: the data set's name.
            ("de/de.gif", b"GIF89a-de"),
            // Not a flag folder.
            ("notes/x.gif", b"GIF89a"),
        ],
    );
    let server = serve_dir(&root, &[]);
    let html = body(&server.get("/"));
    assert_eq!(html.matches("<img src=\"/_gallery/").count(), 3, "{html}");
    assert!(html.contains("alt=\"the flag of Brazil\""), "{html}");
    assert!(
        html.contains("&lt;b&gt;France&lt;/b&gt; &amp; co"),
        "{html}"
    );
    assert!(!html.contains("<b>France"), "{html}");
    assert!(html.contains("alt=\"the flag of Germany\""), "{html}");
    let image = server.get("/_gallery/fr.gif");
    assert_status(&image, 200, "/_gallery/fr.gif");
    assert_eq!(image.body, b"GIF89a-fr");
}

/// The page and what it loads skip `--delay` and `--error-rate`, and are not counted; the
/// flags at their usual paths pay both and are.
#[test]
fn the_page_skips_delay_and_errors_and_only_flag_requests_count() {
    let server = Server::start(&["--delay", "3", "--error-rate", "1"]);
    let started = Instant::now();
    for path in [
        "/",
        "/_gallery/br.gif",
        "/_gallery/gallery.css",
        "/_gallery/gallery.js",
        "/_live.json",
    ] {
        assert_status(&server.get(path), 200, path);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the page waited {:?}",
        started.elapsed()
    );
    assert_eq!(figures(&server)["served"], 0);
    let started = Instant::now();
    assert_status(&server.get("/flags/br/br.gif"), 418, "a flag");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "a flag is delayed"
    );
    // A listing is delayed and faulted like any request, but it is not a flag.
    assert_status(&server.get("/flags/"), 418, "the listing");
    let now = figures(&server);
    assert_eq!(
        (&now["served"], &now["peak_in_flight"]),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{now}"
    );
}

#[test]
fn live_json_counts_requests_in_flight_connections_and_clients() {
    let server = Server::start(&["--delay", "2"]);
    let addr = server.addr;
    let now = figures(&server);
    for field in [
        "in_flight",
        "in_flight_recent_max",
        "connections",
        "served",
        "peak_in_flight",
        "per_second",
        "watchers",
        "clients",
    ] {
        assert!(now.get(field).is_some(), "{field} missing: {now}");
    }
    let waiting: Vec<_> = (0..5)
        .map(|_| std::thread::spawn(move || raw_request(addr, "GET", "/flags/br/br.gif")))
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let now = figures(&server);
    assert_eq!(now["in_flight"], 5, "{now}");
    assert_eq!(now["connections"], 5, "{now}");
    assert_eq!(now["clients"][0]["address"], "127.0.0.1", "{now}");
    assert_eq!(now["clients"][0]["in_flight"], 5, "{now}");
    for request in waiting {
        assert_status(&request.join().unwrap(), 200, "a delayed flag");
    }
    // The connections close with their answers (`Connection: close`).
    let deadline = Instant::now() + Duration::from_secs(5);
    let now = loop {
        let now = figures(&server);
        if now["connections"] == 0 || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        (
            &now["in_flight"],
            &now["connections"],
            &now["served"],
            &now["peak_in_flight"]
        ),
        (
            &serde_json::json!(0),
            &serde_json::json!(0),
            &serde_json::json!(5),
            &serde_json::json!(5)
        ),
        "{now}"
    );
    assert_eq!(now["clients"][0]["served"], 5, "{now}");
}

/// A watcher of `/_live` on a raw connection: its status, then its events.
struct Watcher {
    status: Option<u16>,
    reader: BufReader<TcpStream>,
}

impl Watcher {
    fn open(addr: SocketAddr) -> Watcher {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(stream, "GET /_live HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok());
        // The rest of the head.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        Watcher { status, reader }
    }

    /// The next event's figures (the body is chunked: its size lines are skipped), or
    /// `None` if none came within the read timeout.
    fn next(&mut self) -> Option<serde_json::Value> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(json) = line.strip_prefix("data: ") {
                return Some(serde_json::from_str(json.trim_end()).unwrap());
            }
        }
    }
}

#[test]
fn past_16_watchers_the_live_stream_is_503_until_one_leaves() {
    let server = Server::start(&[]);
    let mut watchers: Vec<Watcher> = (0..16).map(|_| Watcher::open(server.addr)).collect();
    for watcher in &mut watchers {
        assert_eq!(watcher.status, Some(200));
        assert!(watcher.next().is_some(), "the figures at once");
    }
    assert_eq!(figures(&server)["watchers"], 16);
    let refused = server.get("/_live");
    assert_status(&refused, 503, "a 17th watcher");
    assert!(refused.header("retry-after").is_some(), "{}", refused.head);
    // The page itself, and the snapshot, are still served.
    assert_status(&server.get("/"), 200, "/");
    drop(watchers.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = Watcher::open(server.addr);
    while again.status != Some(200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        again = Watcher::open(server.addr);
    }
    assert_eq!(again.status, Some(200), "a place was freed");
}

/// A watcher's stream never ends by itself: stopping the server must not wait for it
/// beyond the half second an answer being sent is given.
#[test]
fn sigterm_stops_a_watched_server_within_a_second() {
    let server = Server::start(&[]);
    let mut watchers: Vec<Watcher> = (0..3).map(|_| Watcher::open(server.addr)).collect();
    for watcher in &mut watchers {
        assert!(watcher.next().is_some());
    }
    let took = server.stop("TERM").took;
    let limit = Duration::from_millis(1500);
    assert!(took < limit, "stopped {took:?} after SIGTERM");
}

/// The stream is sent at least 4 times a second while a client runs (`-m 50`, a 0.5 s
/// delay: four rounds), shows the 50 in flight, then 0.
#[test]
fn the_live_stream_follows_a_client_run() {
    let server = Server::start(&["--delay", "0.5"]);
    let mut watcher = Watcher::open(server.addr);
    assert_eq!(watcher.status, Some(200));
    let first = watcher.next().unwrap();
    assert_eq!(first["in_flight"], 0, "{first}");
    let base_url = server.base_url.clone();
    let client = std::thread::spawn(move || {
        flags_dl()
            .args(["-s", &base_url, "--all", "-m", "50", "-q", "-o"])
            .arg(scratch().out())
            .output()
            .unwrap()
    });
    let mut events: Vec<(Instant, serde_json::Value)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(event) = watcher.next() else { break };
        let done = event["served"] == 194 && event["in_flight"] == 0;
        events.push((Instant::now(), event));
        if done {
            break;
        }
    }
    let out = client.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    let busiest = events
        .iter()
        .map(|(_, e)| e["in_flight"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(busiest >= 40, "at most {busiest} in flight seen");
    let last = &events.last().unwrap().1;
    assert_eq!(
        (&last["in_flight"], &last["served"]),
        (&0.into(), &194.into())
    );
    // While requests were in flight, an event at least each 250 ms.
    let busy: Vec<Instant> = events
        .iter()
        .filter(|(_, e)| e["in_flight"].as_u64().unwrap() > 0)
        .map(|(at, _)| *at)
        .collect();
    let span = *busy.last().unwrap() - busy[0];
    let rate = (busy.len() - 1) as f64 / span.as_secs_f64();
    assert!(
        rate >= 4.0,
        "{} events in {span:?} of requests in flight",
        busy.len()
    );
}

#[test]
fn listings_of_the_generated_flags_link_each_folder_and_file() {
    let server = Server::start(&[]);
    let top = server.get("/flags/");
    assert_status(&top, 200, "/flags/");
    assert_eq!(top.header("content-type"), Some("text/html; charset=utf-8"));
    let html = body(&top);
    assert!(html.contains("<title>Directory listing for /flags/</title>"));
    let hrefs = links(&html);
    // All but the link to the gallery, `/`.
    let folders: Vec<_> = hrefs
        .iter()
        .filter(|h| h.ends_with("/") && *h != "/")
        .collect();
    let expected: Vec<String> = all_codes()
        .iter()
        .map(|cc| format!("{}/", cc.to_ascii_lowercase()))
        .collect();
    assert_eq!(folders.len(), 194);
    assert!(hrefs.starts_with(&expected), "{hrefs:?}");
    let br = server.get("/flags/br/");
    assert_status(&br, 200, "/flags/br/");
    let files = links(&body(&br));
    assert!(
        files.starts_with(&["br.gif".to_string(), "metadata.json".to_string()]),
        "{files:?}"
    );
    for file in ["br.gif", "metadata.json"] {
        assert_status(&server.get(&format!("/flags/br/{file}")), 200, file);
    }
    assert_status(&server.get("/flags/xx/"), 404, "not a code");
}

#[test]
fn a_folder_without_its_final_slash_is_redirected_to_it() {
    let tmp = scratch();
    let root = tree(tmp.path(), &[("sub/deeper/a.txt", b"a")]);
    let generated = Server::start(&[]);
    let folder = serve_dir(&root, &[]);
    for (server, path, location) in [
        (&generated, "/flags", "/flags/"),
        (&generated, "/flags/br", "/flags/br/"),
        (&generated, "/flags/br?x=1", "/flags/br/?x=1"),
        (&folder, "/flags", "/flags/"),
        (&folder, "/flags/sub", "/flags/sub/"),
        (&folder, "/flags/sub/deeper", "/flags/sub/deeper/"),
    ] {
        let answer = server.get(path);
        assert_status(&answer, 301, path);
        assert_eq!(answer.header("location"), Some(location), "{path}");
    }
    for (server, path) in [
        (&generated, "/flags/xx"),
        (&folder, "/flags/nothing"),
        (&folder, "/flags/sub/deeper/a.txt/"),
    ] {
        assert_status(&server.get(path), 404, path);
    }
}

#[test]
fn accept_text_plain_lists_one_entry_a_line_folders_ending_in_slash() {
    let tmp = scratch();
    let root = tree(tmp.path(), &[("sub/a.txt", b"a"), ("notes.txt", b"n")]);
    let generated = Server::start(&[]);
    let folder = serve_dir(&root, &[]);
    let plain = |server: &Server, path: &str, accept: &str| {
        raw_request_with(server.addr, "GET", path, &[("Accept", accept)])
    };
    let answer = plain(&generated, "/flags/", "text/plain");
    assert_status(&answer, 200, "/flags/");
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let lines: Vec<String> = body(&answer).lines().map(str::to_string).collect();
    let expected: Vec<String> = all_codes()
        .iter()
        .map(|cc| format!("{}/", cc.to_ascii_lowercase()))
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(
        body(&plain(&generated, "/flags/br/", "text/plain")),
        "br.gif\nmetadata.json\n"
    );
    assert_eq!(
        body(&plain(
            &folder,
            "/flags/",
            "text/plain;q=0.9, text/html;q=0.5"
        )),
        "br/\nnotes.txt\nsub/\n"
    );
    // A browser's Accept, and curl's, get the page.
    for accept in ["text/html,*/*;q=0.8", "*/*"] {
        let answer = plain(&folder, "/flags/", accept);
        assert_eq!(
            answer.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{accept}"
        );
    }
}

/// With --dir the real tree is listed and its other files served, with their types; an
/// `index.html` is served for its folder.
#[test]
fn a_folder_tree_is_listed_and_its_files_and_index_served() {
    let tmp = scratch();
    let root = tree(
        tmp.path(),
        &[
            ("notes.txt", b"notes\n"),
            ("sub/deeper/a b é.json", b"{}"),
            ("site/index.html", b"<p>the index</p>"),
            ("site/other.html", b"<p>other</p>"),
        ],
    );
    let server = serve_dir(&root, &[]);
    let top = links(&body(&server.get("/flags/")));
    assert_eq!(top[..4], ["br/", "notes.txt", "site/", "sub/"], "{top:?}");
    let notes = server.get("/flags/notes.txt");
    assert_status(&notes, 200, "notes.txt");
    assert_eq!(
        notes.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(notes.body, b"notes\n");
    let deeper = body(&server.get("/flags/sub/deeper/"));
    assert!(deeper.contains("a b é.json</a>"), "{deeper}");
    let href = &links(&deeper)[0];
    assert_eq!(href, "a%20b%20%C3%A9.json");
    let file = server.get(&format!("/flags/sub/deeper/{href}"));
    assert_status(&file, 200, href);
    assert_eq!(file.header("content-type"), Some("application/json"));
    let site = server.get("/flags/site/");
    assert_status(&site, 200, "/flags/site/");
    assert_eq!(site.body, b"<p>the index</p>");
    assert_eq!(
        site.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_status(&server.get("/flags/site/other.html"), 200, "other.html");
}

#[test]
fn a_folders_files_carry_last_modified_and_answer_304_when_unchanged() {
    let tmp = scratch();
    let root = tree(tmp.path(), &[("notes.txt", b"notes\n")]);
    // A known time, a whole second: 2020-09-13T12:26:40Z.
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for file in ["br/br.gif", "notes.txt"] {
        std::fs::File::options()
            .write(true)
            .open(root.join(file))
            .unwrap()
            .set_modified(at)
            .unwrap();
    }
    let server = serve_dir(&root, &[]);
    let date = "Sun, 13 Sep 2020 12:26:40 GMT";
    let earlier = "Sun, 13 Sep 2020 12:26:39 GMT";
    for path in ["/flags/br/br.gif", "/flags/notes.txt", "/_gallery/br.gif"] {
        let answer = server.get(path);
        assert_status(&answer, 200, path);
        // (The harness reads the head in lower case.)
        let shown = date.to_ascii_lowercase();
        assert_eq!(answer.header("last-modified"), Some(&*shown), "{path}");
        let again = raw_request_with(server.addr, "GET", path, &[("If-Modified-Since", date)]);
        assert_status(&again, 304, path);
        assert!(again.body.is_empty(), "{path}: a 304 has no body");
        let changed = raw_request_with(server.addr, "GET", path, &[("If-Modified-Since", earlier)]);
        assert_status(&changed, 200, path);
        assert_eq!(changed.body, answer.body);
    }
    // The generated flags have no date, and so are always sent.
    let generated = Server::start(&[]);
    let answer = generated.get("/flags/br/br.gif");
    assert_eq!(answer.header("last-modified"), None);
    let again = raw_request_with(
        generated.addr,
        "GET",
        "/flags/br/br.gif",
        &[("If-Modified-Since", date)],
    );
    assert_status(&again, 200, "a generated flag");
}

#[test]
fn names_are_escaped_in_listings_and_their_links_work() {
    let tmp = scratch();
    let root = tree(
        tmp.path(),
        &[
            ("odd/<img src=x onerror=alert(1)>.gif", b"one"),
            ("odd/a&b\"c'd.txt", b"two"),
            ("odd/javascript:alert(1)", b"three"),
            ("odd/\u{202e}fig.gif", b"four"),
        ],
    );
    let server = serve_dir(&root, &[]);
    let page = body(&server.get("/flags/odd/"));
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains(">&lt;img src=x onerror=alert(1)&gt;.gif</a>"),
        "{page}"
    );
    assert!(page.contains("a&amp;b&quot;c&#39;d.txt"), "{page}");
    assert!(page.contains("\\u{202e}fig.gif"), "{page}");
    assert!(!page.contains('\u{202e}'), "{page}");
    let hrefs = links(&page);
    assert!(
        hrefs.contains(&"javascript%3Aalert%281%29".to_string()),
        "{hrefs:?}"
    );
    let mut bodies: Vec<Vec<u8>> = hrefs
        .iter()
        .filter(|href| *href != "/")
        .map(|href| {
            let answer = server.get(&format!("/flags/odd/{href}"));
            assert_status(&answer, 200, href);
            answer.body
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies, [&b"four"[..], b"one", b"three", b"two"]);
}

/// Nothing outside the served folder is listed or served through a listing's path: links
/// out of it are left out, and dot segments in any spelling name nothing.
#[cfg(unix)]
#[test]
fn listings_never_leave_the_folder() {
    use std::os::unix::fs::symlink;
    let tmp = crate::serve::layout_with_a_secret_beside_it();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("hidden-folder")).unwrap();
    std::fs::write(outside.join("outside-file"), "TOP SECRET\n").unwrap();
    symlink(&outside, root.join("out")).unwrap();
    symlink(tmp.path().join("secret"), root.join("br/secret-link")).unwrap();
    symlink("/etc", root.join("etc")).unwrap();
    symlink("br.gif", root.join("br/inside-link.gif")).unwrap();
    let server = serve_dir(&root, &[]);
    let top = body(&server.get("/flags/"));
    assert_eq!(links(&top)[..1], ["br/"], "{top}");
    assert!(!top.contains("out/") && !top.contains("etc/"), "{top}");
    let br = links(&body(&server.get("/flags/br/")));
    assert_eq!(
        br[..3],
        ["br.gif", "inside-link.gif", "metadata.json"],
        "{br:?}"
    );
    for path in [
        "/flags/out/",
        "/flags/out/outside-file",
        "/flags/etc/",
        "/flags/etc/passwd",
        "/flags/br/secret-link",
        "/flags/../",
        "/flags/%2e%2e/",
        "/flags/.%2e/",
        "/flags/br/../../",
        "/flags/br/..%2f..%2f",
        "/flags/br/%2e%2e/%2e%2e/",
        "/flags//",
        "/flags/./",
        "/flags/br/%2f",
        "/flags/..%5c/",
    ] {
        let answer = server.get(path);
        assert!(
            matches!(answer.status, Some(400 | 404)),
            "{path}: {}",
            answer.head
        );
        let text = body(&answer);
        assert!(
            !text.contains("TOP SECRET")
                && !text.contains("hidden-folder")
                && !text.contains("passwd")
                && !text.contains("root/"),
            "{path} leaked: {text}"
        );
    }
}

#[test]
fn a_folder_of_10005_entries_lists_the_first_10000_and_says_how_many_more() {
    let tmp = scratch();
    let root = tree(tmp.path(), &[]);
    let many = root.join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..10_005 {
        std::fs::write(many.join(format!("f{i:05}")), b"").unwrap();
    }
    let server = serve_dir(&root, &[]);
    let html = body(&server.get("/flags/many/"));
    let hrefs: Vec<String> = links(&html)
        .into_iter()
        .filter(|href| href != "/")
        .collect();
    let expected: Vec<String> = (0..10_000).map(|i| format!("f{i:05}")).collect();
    assert_eq!(hrefs, expected, "the first 10,000 by name");
    assert!(
        html.contains("5 more not listed: a listing shows the first 10000 by name."),
        "{}",
        &html[html.len() - 400..]
    );
    let plain = raw_request_with(
        server.addr,
        "GET",
        "/flags/many/",
        &[("Accept", "text/plain")],
    );
    let text = body(&plain);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10_002);
    assert_eq!((lines[9_999], lines[10_000]), ("f09999", ""));
    assert_eq!(lines[10_001], "5 more not listed");
}

// In a real browser: headless Chromium driven by Playwright, each test a run of
// tests/browser/page.py against a server of its own.

/// Where Chromium and Playwright are, or `None` (the test is skipped, saying why) where
/// they could not be installed: `.ci/run` installs both where it can.
fn browser() -> Option<PathBuf> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file());
    let Some(chromium) = chromium else {
        println!("skipping: no Chromium at /usr/bin/chromium (.ci/run installs Debian's)");
        return None;
    };
    let playwright = command("python3")
        .args(["-c", "import playwright.sync_api"])
        .output();
    if !playwright.is_ok_and(|out| out.status.success()) {
        println!("skipping: python3 cannot import playwright (.ci/run installs it from PyPI)");
        return None;
    }
    Some(chromium)
}

/// One browser at a time: three Chromiums at once on a loaded two-core machine make the
/// timings the tests read meaningless.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// `python3 tests/browser/page.py <args>` with Chromium at `chromium`.
fn page_script(chromium: &Path, args: &[&str]) -> std::process::Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/page.py");
    let mut cmd = command("python3");
    cmd.arg("-u")
        .arg(script)
        .args(args)
        .env("FLAGS_DL_CHROMIUM", chromium);
    cmd
}

/// Runs the script to its end and parses the JSON object of its last stdout line.
fn run_page_script(chromium: &Path, args: &[&str]) -> serde_json::Value {
    let (status, stdout, stderr) = Spawned::start(page_script(chromium, args)).finish(RUN_TIMEOUT);
    assert!(
        status.success(),
        "page.py {args:?} failed: {stderr}\n{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

#[test]
fn in_a_browser_the_gallery_shows_194_images_that_loaded() {
    let Some(chromium) = browser() else { return };
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start(&["--delay", "0.5"]);
    let seen = run_page_script(&chromium, &["images", &server.url("/")]);
    assert_eq!(seen["images"], 194, "{seen}");
    assert_eq!(seen["loaded"], 194, "natural width above 0: {seen}");
    let secs = seen["seconds"].as_f64().unwrap();
    assert!(secs < 10.0, "all loaded after {secs} s");
}

#[test]
fn in_a_browser_the_page_shows_the_requests_in_flight_while_a_client_runs() {
    let Some(chromium) = browser() else { return };
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start(&["--delay", "0.5"]);
    let mut watcher = Spawned::start(page_script(&chromium, &["watch", &server.url("/")]));
    let ready = watcher.line(Duration::from_secs(60));
    assert_eq!(ready.trim(), "ready", "{}", watcher.stderr());
    let tmp = scratch();
    let out = flags_dl()
        .current_dir(tmp.path())
        .args([
            "-s",
            &server.base_url,
            "--all",
            "-m",
            "50",
            "-q",
            "-o",
            "out",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (status, stdout, stderr) = watcher.finish(Duration::from_secs(90));
    assert!(status.success(), "{stderr}\n{stdout}");
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(seen["max"].as_u64().unwrap() >= 40, "{seen}");
    assert_eq!(seen["last"], 0, "{seen}");
    assert_eq!(seen["live"], "live", "by Server-Sent Events: {seen}");
}

#[test]
fn in_a_browser_the_listing_links_194_folders_that_work() {
    let Some(chromium) = browser() else { return };
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start(&[]);
    let seen = run_page_script(&chromium, &["listing", &server.url("/flags/")]);
    assert_eq!(seen["folders"], 194, "{seen}");
    assert_eq!(seen["working"], 194, "{seen}");
    // A click on the first folder, then on its flag.
    assert_eq!(seen["clicked"], server.url("/flags/ad/"), "{seen}");
    assert_eq!(seen["then"], server.url("/flags/ad/ad.gif"), "{seen}");
    assert_eq!(seen["then_type"], "image/gif", "{seen}");
}

/// With 16 watchers already, the page's stream is refused (503), and it reads
/// `/_live.json` instead: its figures still change.
#[test]
fn in_a_browser_a_refused_page_falls_back_to_polling() {
    let Some(chromium) = browser() else { return };
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start(&[]);
    let watchers: Vec<Watcher> = (0..16).map(|_| Watcher::open(server.addr)).collect();
    assert!(watchers.iter().all(|w| w.status == Some(200)));
    let seen = run_page_script(&chromium, &["state", &server.url("/")]);
    assert_eq!(seen["live"], "polling", "{seen}");
    // The three flags the page then asks for show up, polled.
    assert_eq!(
        (&seen["before"], &seen["served"]),
        (&0.into(), &3.into()),
        "{seen}"
    );
}

/// Reads one HTTP/1.1 answer with a `Content-Length` from `stream`: its head and body.
fn read_answer(stream: &mut TcpStream) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "an answer's head");
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a content-length");
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

/// The page and what it loads skip `--latency`: once a connection has asked for the page,
/// its answers are not held (only that first request's head paid half a round trip,
/// read before anyone knew what it asked); a flag still pays the whole round trip.
#[test]
fn the_page_skips_latency_once_its_connection_asked_for_it() {
    let server = Server::start(&["--latency", "2000"]);
    let mut page = TcpStream::connect(server.addr).unwrap();
    page.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    page.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_answer(&mut page);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let asked = Instant::now();
    page.write_all(b"GET /_gallery/gallery.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_answer(&mut page);
    let took = asked.elapsed();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        took < Duration::from_secs(1),
        "the page's next request took {took:?}"
    );

    let asked = Instant::now();
    let flag = crate::harness::raw_request(server.addr, "GET", "/flags/br/br.gif");
    assert_eq!(flag.status, Some(200));
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "a flag pays the round trip"
    );
}
