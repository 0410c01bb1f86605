//! `flags-dl serve`, end to end: a child process on a free loopback port, asked with raw
//! HTTP requests (written verbatim, so no client normalises a path) and with reqwest.

use crate::harness::{
    all_codes, assert_decodable_gif, flags_dl, free_port, lines, raw_request, scratch,
    shared_flags, without_phases, RawResponse, Server, Spawned,
};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

fn assert_status(answer: &RawResponse, status: u16, what: &str) {
    assert_eq!(answer.status, Some(status), "{what}: {}", answer.head);
}

#[test]
fn the_banner_names_the_address_and_the_faults() {
    let server = Server::start(&[]);
    assert_eq!(
        server.banner,
        format!(
            "Serving 194 generated flags at {}; Ctrl-C stops it.",
            server.base_url
        )
    );
    let server = Server::start(&["error"]);
    assert_eq!(
        server.banner,
        format!(
            "Serving 194 generated flags at {}, 0.5 s delay, 25% errors (418); Ctrl-C stops it.",
            server.base_url
        )
    );
}

#[test]
fn br_gif_is_a_gif() {
    let server = Server::start(&[]);
    let answer = server.get("/flags/br/br.gif");
    assert_status(&answer, 200, "/flags/br/br.gif");
    assert!(
        answer.body.starts_with(b"GIF89a"),
        "{:?}",
        &answer.body[..16]
    );
    assert_eq!(answer.header("content-type"), Some("image/gif"));
    let (width, height) = assert_decodable_gif("br.gif", &answer.body);
    assert!(width > 0 && height > 0);
}

#[test]
fn every_code_of_the_data_set_has_a_gif_and_metadata() {
    let server = Server::start(&[]);
    let shared = shared_flags();
    for cc in all_codes() {
        let lower = cc.to_ascii_lowercase();
        let gif = server.get(&format!("/flags/{lower}/{lower}.gif"));
        assert_status(&gif, 200, &cc);
        assert!(gif.body.starts_with(b"GIF89a"), "{cc}");
        let meta = server.get(&format!("/flags/{lower}/metadata.json"));
        assert_status(&meta, 200, &cc);
        let doc: serde_json::Value = serde_json::from_slice(&meta.body).unwrap();
        assert_eq!(doc["iso_cc"], cc.as_str());
        assert!(
            doc["country"].as_str().is_some_and(|s| !s.is_empty()),
            "{doc}"
        );
        let tld = doc["tld_cc"].as_str().unwrap_or_default();
        assert!(tld.len() == 3 && tld.starts_with('.'), "{cc}: {doc}");
        // The top-level domains are the book's (GB's is .uk).
        if let Some(shared) = &shared {
            let book = std::fs::read(shared.join(&lower).join("metadata.json")).unwrap();
            let book: serde_json::Value = serde_json::from_slice(&book).unwrap();
            assert_eq!(doc["tld_cc"], book["tld_cc"], "{cc}");
        }
    }
}

#[test]
fn br_metadata_is_brazils() {
    let server = Server::start(&[]);
    let answer = server.get("/flags/br/metadata.json");
    assert_status(&answer, 200, "/flags/br/metadata.json");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(doc["country"], "Brazil");
    assert_eq!(doc["iso_cc"], "BR");
    assert_eq!(doc["tld_cc"], ".br");
}

/// (`/`, `/flags/` and `/flags/br/` are the gallery and listings: see `serve_page`.)
#[test]
fn unknown_codes_and_odd_paths_are_404() {
    let server = Server::start(&[]);
    for path in [
        "/flags/xx/xx.gif",
        "/flags/xx/metadata.json",
        "/flags/zz/zz.gif",
        "/flags/xx/",
        "/flags/br/br.gif/",
        "/flags/BR/BR.gif",
        "/flags/br/BR.gif",
        "/flags/br/bd.gif",
        "/flags/br/br.png",
        "/flags/br/br.gif/x",
        "/flags/bra/bra.gif",
        "/flags/b/b.gif",
        "/flags/br/../br/br.gif",
        "/br/br.gif",
        "/favicon.ico",
    ] {
        let answer = server.get(path);
        assert_status(&answer, 404, path);
        assert!(!answer.body.starts_with(b"GIF"), "{path} served a GIF");
    }
}

#[test]
fn methods_other_than_get_and_head_are_refused() {
    let server = Server::start(&[]);
    let head = raw_request(server.addr, "HEAD", "/flags/br/br.gif");
    assert_status(&head, 200, "HEAD");
    assert!(head.body.is_empty());
    for method in ["POST", "PUT", "DELETE"] {
        let answer = raw_request(server.addr, method, "/flags/br/br.gif");
        assert_status(&answer, 405, method);
    }
}

/// Request targets that try to leave `/flags/`, each aimed at `/etc/passwd` or at `secret`
/// in the parent of the served folder.
const TRAVERSALS: [&str; 22] = [
    "/flags/../../etc/passwd",
    "/flags/../../../../../../etc/passwd",
    "/flags/..%2f..%2fetc%2fpasswd",
    "/flags/..%2F..%2Fetc%2Fpasswd",
    "/flags/%2e%2e/%2e%2e/etc/passwd",
    "/flags/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/flags/..%252f..%252fetc%252fpasswd",
    "/flags/br/../../../etc/passwd",
    "/flags/br/..%2f..%2f..%2fetc%2fpasswd",
    "/flags/..\\..\\etc\\passwd",
    "/flags\\..\\..\\etc\\passwd",
    "/flags/..%5c..%5cetc%5cpasswd",
    "/flags/br/..\\..\\..\\etc\\passwd",
    "//etc/passwd",
    "/flags//etc/passwd",
    "/flags/../secret",
    "/flags/%2e%2e/secret",
    "/flags/..%2fsecret",
    "/flags/br/..%2f..%2fsecret",
    "/flags/..\\secret",
    "/flags/.%2e/secret",
    "/flags/%2e./secret",
];

fn assert_traversals_refused(server: &Server) {
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    for target in TRAVERSALS {
        let answer = server.get(target);
        assert!(
            matches!(answer.status, Some(400 | 404)),
            "{target}: expected 404 or 400, got {:?}\n{}",
            answer.status,
            answer.head
        );
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            !body.contains("root:") && !body.contains("TOP SECRET"),
            "{target} leaked a file: {body}"
        );
        if !passwd.is_empty() {
            assert_ne!(answer.body, passwd, "{target} served /etc/passwd");
        }
    }
}

#[test]
fn traversal_attempts_on_generated_flags_are_refused() {
    let server = Server::start(&[]);
    assert_traversals_refused(&server);
}

/// A folder `root/` in the book's layout with one flag, beside a file it must not serve.
/// A folder `root/br/` with a real flag and its metadata, and a secret beside `root`.
pub(crate) fn layout_with_a_secret_beside_it() -> crate::harness::Scratch {
    let tmp = scratch();
    std::fs::write(tmp.path().join("secret"), "TOP SECRET\n").unwrap();
    let br = tmp.path().join("root/br");
    std::fs::create_dir_all(&br).unwrap();
    std::fs::write(br.join("br.gif"), b"GIF89a-the-real-br").unwrap();
    std::fs::write(br.join("metadata.json"), br#"{"iso_cc": "BR"}"#).unwrap();
    tmp
}

#[test]
fn traversal_attempts_on_a_folder_are_refused() {
    let tmp = layout_with_a_secret_beside_it();
    let root = tmp.path().join("root");
    let server = Server::start(&["--dir", root.to_str().unwrap()]);
    // The folder is served at all, so the refusals below are not a broken server.
    let answer = server.get("/flags/br/br.gif");
    assert_status(&answer, 200, "/flags/br/br.gif");
    assert_eq!(answer.body, b"GIF89a-the-real-br");
    assert_traversals_refused(&server);
}

#[test]
fn dir_serves_the_shared_flags_byte_for_byte() {
    let Some(shared) = shared_flags() else {
        println!("skipping: ../shared/flags is absent");
        return;
    };
    let server = Server::start(&["--dir", shared.to_str().unwrap()]);
    assert!(
        server.banner.starts_with("Serving the files in "),
        "{}",
        server.banner
    );
    for cc in all_codes() {
        let cc = cc.to_ascii_lowercase();
        for file in [format!("{cc}.gif"), "metadata.json".to_string()] {
            let path = format!("/flags/{cc}/{file}");
            let answer = server.get(&path);
            assert_status(&answer, 200, &path);
            let expected = std::fs::read(shared.join(&cc).join(&file)).unwrap();
            assert!(
                answer.body == expected,
                "{path}: body differs from the file"
            );
        }
    }
    let answer = server.get("/flags/br/metadata.json");
    let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        (&doc["country"], &doc["iso_cc"], &doc["tld_cc"]),
        (
            &serde_json::json!("Brazil"),
            &serde_json::json!("BR"),
            &serde_json::json!(".br")
        )
    );
    let answer = server.get("/flags/xx/xx.gif");
    assert_status(&answer, 404, "/flags/xx/xx.gif");
}

#[cfg(unix)]
#[test]
fn symlinks_that_leave_the_folder_are_404() {
    use std::os::unix::fs::symlink;
    let tmp = layout_with_a_secret_beside_it();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("us")).unwrap();
    std::fs::write(outside.join("us/us.gif"), b"GIF89a-outside").unwrap();
    // A file link to a system file, a file link to a file beside the folder, and a
    // folder link to a folder outside it.
    std::fs::create_dir_all(root.join("de")).unwrap();
    std::fs::create_dir_all(root.join("fr")).unwrap();
    if Path::new("/etc/hostname").exists() {
        symlink("/etc/hostname", root.join("de/de.gif")).unwrap();
    } else {
        symlink("/etc/passwd", root.join("de/de.gif")).unwrap();
    }
    symlink(tmp.path().join("secret"), root.join("fr/fr.gif")).unwrap();
    symlink(tmp.path().join("secret"), root.join("fr/metadata.json")).unwrap();
    symlink(outside.join("us"), root.join("us")).unwrap();
    // A link that stays inside the folder is fine.
    std::fs::create_dir_all(root.join("pt")).unwrap();
    symlink("../br/br.gif", root.join("pt/pt.gif")).unwrap();

    let server = Server::start(&["--dir", root.to_str().unwrap()]);
    for path in [
        "/flags/de/de.gif",
        "/flags/fr/fr.gif",
        "/flags/fr/metadata.json",
        "/flags/us/us.gif",
    ] {
        let answer = server.get(path);
        assert_status(&answer, 404, path);
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            !body.contains("TOP SECRET") && !body.contains("outside"),
            "{path} leaked: {body}"
        );
    }
    let answer = server.get("/flags/pt/pt.gif");
    assert_status(&answer, 200, "a link inside the folder");
    assert_eq!(answer.body, b"GIF89a-the-real-br");
}

#[test]
fn a_port_in_use_is_exit_1_with_one_line_naming_the_port() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = flags_dl()
        .args(["serve", "--port", &port, "--quiet"])
        .output()
        .unwrap();
    let stderr = lines(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr:?}");
    assert_eq!(stderr.len(), 1, "one line expected: {stderr:?}");
    assert!(
        stderr[0].contains(&port) && stderr[0].contains("--port"),
        "{}",
        stderr[0]
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    drop(holder);
}

#[test]
fn a_missing_dir_is_exit_1_with_one_line() {
    let tmp = scratch();
    let missing = tmp.path().join("no-such-folder");
    let out = flags_dl()
        .args(["serve", "--port", "0", "--quiet", "--dir"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = lines(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr:?}");
    assert_eq!(stderr.len(), 1, "one line expected: {stderr:?}");
    assert!(stderr[0].contains("no-such-folder"), "{}", stderr[0]);
}

#[test]
fn an_error_rate_above_one_is_a_usage_error() {
    for rate in ["1.5", "-0.1", "NaN", "often"] {
        // --port 0: were the value accepted, the server would start, and the time limit
        // of `flags_dl()` would end it and fail the test.
        let out = flags_dl()
            .args(["serve", "--port", "0", "--quiet"])
            .arg(format!("--error-rate={rate}"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rate}: {stderr}");
        assert!(stderr.contains(&format!("'{rate}'")), "{stderr}");
    }
}

/// Every request but the gallery's (`/`, `/_gallery/`, `/_live`: see `serve_page`).
#[test]
fn error_preset_with_rate_1_answers_418_to_every_request() {
    let server = Server::start(&["error", "--error-rate", "1", "--delay", "0"]);
    for path in [
        "/flags/br/br.gif",
        "/flags/br/metadata.json",
        "/flags/xx/xx.gif",
        "/flags/",
        "/flags/../../etc/passwd",
    ] {
        for _ in 0..3 {
            let answer = server.get(path);
            assert_status(&answer, 418, path);
            assert!(!answer.body.starts_with(b"GIF"));
        }
    }
    // A download run against it sees the book's teapot.
    let tmp = scratch();
    let out = flags_dl()
        .current_dir(tmp.path())
        .args(["-s", &server.base_url, "-v", "br", "-o", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = lines(&out.stdout);
    assert!(
        stdout
            .iter()
            .any(|line| without_phases(line) == "BR error: HTTP 418 I'm a teapot"),
        "{stdout:?}"
    );
    assert!(stdout.contains(&"  1 error.".to_string()), "{stdout:?}");
}

#[test]
fn delayed_requests_run_concurrently_not_one_after_another() {
    const REQUESTS: usize = 200;
    const DELAY: f64 = 0.5;
    let server = Server::start(&["--delay", "0.5"]);
    let codes = all_codes();
    let urls: Vec<String> = (0..REQUESTS)
        .map(|i| {
            let cc = codes[i % codes.len()].to_ascii_lowercase();
            server.url(&format!("/flags/{cc}/{cc}.gif"))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (statuses, elapsed) = runtime.block_on(async move {
        // flags-dl builds reqwest without a crypto provider and installs ring (see
        // `asyncio::client`); a client of the tests' own does the same.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for url in urls {
            let client = client.clone();
            set.spawn(async move {
                let response = client.get(&url).send().await?;
                let status = response.status().as_u16();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, body.starts_with(b"GIF89a")))
            });
        }
        let mut statuses = Vec::new();
        let all = async {
            while let Some(done) = set.join_next().await {
                statuses.push(done.unwrap().unwrap());
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("200 delayed requests within 60 s");
        (statuses, started.elapsed())
    });
    assert_eq!(statuses.len(), REQUESTS);
    assert!(statuses.iter().all(|s| *s == (200, true)), "{statuses:?}");
    // Serialised, they would take REQUESTS × DELAY = 100 s.
    assert!(
        elapsed < Duration::from_secs(5),
        "{REQUESTS} requests with a {DELAY} s delay took {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_secs_f64(DELAY),
        "the delay was not applied: {elapsed:?}"
    );
}

#[test]
fn a_given_port_is_the_one_announced() {
    // `--port N` is honoured: the banner names that port.
    let port = free_port();
    let cmd = Server::command(&["--quiet", "--port", &port.to_string()]);
    let server = Server::from_banner(Spawned::start(cmd));
    assert_eq!(
        server.base_url,
        format!("http://127.0.0.1:{port}/flags"),
        "{}",
        server.banner
    );
}

#[test]
#[should_panic(expected = "cannot serve --dir")]
fn a_server_that_cannot_start_fails_the_test_with_its_stderr() {
    // The helper's own guarantee: a server that exits instead of serving fails the test at
    // once, with what it said, rather than leaving the test waiting.
    let tmp = scratch();
    let missing = tmp.path().join("no-such-folder");
    let _server = Server::start(&["--dir", missing.to_str().unwrap()]);
}

#[test]
fn a_closed_log_pipe_does_not_stop_the_server() {
    // Regression: each request's log line went through eprintln!, which panics once the
    // reader of stderr is gone, so the request died mid-answer.
    // Without --quiet: every request writes its log line.
    let cmd = Server::command(&["--port", "0"]);
    let server = Server::from_banner(Spawned::with_stderr_closed(cmd));
    for _ in 0..3 {
        let response = server.get("/flags/br/br.gif");
        assert_eq!(response.status, Some(200));
    }
}

#[test]
fn sigterm_right_after_the_address_stops_the_server_cleanly() {
    // Regression: the signal handlers were installed after the address was printed, so a
    // script that read it and stopped the server at once killed it the default way.
    for _ in 0..5 {
        let server =
            Server::from_banner(Spawned::start(Server::command(&["--port", "0", "--quiet"])));
        let stderr = server.stop("TERM").stderr;
        assert!(stderr.contains("Server stopped."), "{stderr}");
    }
}
