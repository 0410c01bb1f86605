//! One path for a response in every mode: the same server fault gives the same NDJSON
//! record, timings aside, in async and threads mode, with its `error_kind`; bodies stream
//! to disk in both (memory does not grow with `--max-size`); a redirect is resolved and
//! refused the same way in both.

use crate::fault_server::{flag_path, gif_bytes, FaultServer, Scenario};
use crate::harness::{bin_path, flags_dl, json_run, parse_ndjson, scratch, show, text, tool};
use std::path::Path;
use std::time::Duration;

/// A limit on each run that only a hang would reach.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// The BR record of `flags-dl --json --retries 0 --timeout 1 --max-size 64K <extra> BR`
/// against `scenario`, in `mode`, without its `ms` and with the output folder's path made
/// relative, as a comparable string.
fn record(mode: &str, scenario: Scenario, extra: &[&str]) -> (String, usize) {
    let server = FaultServer::start();
    server.flag("BR", scenario);
    let dir = scratch();
    let out = flags_dl()
        .timeout(RUN_LIMIT)
        .current_dir(dir.path())
        .args([
            "--json",
            "--retries",
            "0",
            "--timeout",
            "1",
            "--max-size",
            "64K",
        ])
        .args(["--mode", mode, "-s", &server.base_url(), "-o", "out"])
        .args(extra)
        .arg("BR")
        .output()
        .unwrap();
    let run = parse_ndjson(&text(&out.stdout));
    let line = &run.codes["br"];
    let shown = format!(
        "status {:?} path {:?} bytes {} attempts {} http {:?}/{:?} error {:?} kind {:?}",
        line.status,
        line.path,
        line.bytes,
        line.attempts,
        line.http_status,
        line.http_version,
        line.error,
        line.error_kind
    );
    (shown, server.hits(&flag_path("BR")))
}

#[test]
fn the_same_fault_gives_the_same_record_in_async_and_threads_mode() {
    let redirect_to_file = b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n\
        Content-Length: 0\r\nConnection: close\r\n\r\n"
        .to_vec();
    let faults: Vec<(&str, Scenario, &str)> = vec![
        ("a good GIF", Scenario::Gif(gif_bytes("br")), "Ok"),
        ("a body cut short", Scenario::Truncated, "connection_closed"),
        (
            "too large, declared",
            Scenario::OversizedDeclared(1 << 20),
            "too_large",
        ),
        (
            "too large, chunked",
            Scenario::Oversized(1 << 20),
            "too_large",
        ),
        ("not a GIF", Scenario::Html, "not_gif"),
        (
            "not HTTP",
            Scenario::Raw(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
            "malformed",
        ),
        ("a 429", Scenario::Status(429), "http_status"),
        ("a 418", Scenario::Status(418), "http_status"),
        (
            "no answer, closed",
            Scenario::CloseNoResponse,
            "connection_closed",
        ),
        ("a reset", Scenario::Reset, "connection_closed"),
        ("a redirect loop", Scenario::RedirectLoop, "redirect"),
        (
            "a redirect to file:",
            Scenario::Raw(redirect_to_file),
            "redirect",
        ),
        ("no answer at all", Scenario::Hang, "timeout"),
        ("a 404", Scenario::NotFound, "NotFound"),
    ];
    for (what, scenario, kind) in faults {
        let (in_async, _) = record("async", scenario.clone(), &[]);
        let (in_threads, _) = record("threads", scenario, &[]);
        assert_eq!(in_async, in_threads, "{what}: async and threads differ");
        let expected = match kind {
            "Ok" | "NotFound" => format!("status {kind} "),
            kind => format!("kind Some({kind:?})"),
        };
        assert!(in_async.contains(&expected), "{what}: {in_async}");
    }
}

#[test]
fn a_redirect_to_another_scheme_is_refused_at_the_first_hop_in_every_mode() {
    let redirect = b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n\
        Content-Length: 0\r\nConnection: close\r\n\r\n"
        .to_vec();
    for mode in ["async", "threads", "sequential"] {
        let (record, hits) = record(mode, Scenario::Raw(redirect.clone()), &[]);
        assert!(
            record.contains(
                "redirected to a file: address (file:///etc/passwd); only http and https are followed"
            ),
            "{mode}: {record}"
        );
        assert_eq!(hits, 1, "{mode}: the redirect is not followed, nor retried");
    }
}

/// Threads mode held each body in memory up to `--max-size` (100 flags of 50 MB took it
/// past 800 MB); every mode now streams into the temporary.
#[test]
fn large_bodies_stream_to_disk_in_every_mode_with_flat_memory() {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        println!("skipping: /usr/bin/time is absent (apt-get install time)");
        return;
    }
    const EACH: u64 = 24 << 20;
    const CODES: [&str; 8] = ["AD", "AE", "AF", "AG", "AL", "AM", "AO", "AR"];
    let server = FaultServer::start();
    for cc in CODES {
        server.flag(cc, Scenario::OversizedDeclared(EACH));
    }
    for mode in ["threads", "async"] {
        let dir = scratch();
        let out = tool(time)
            .timeout(RUN_LIMIT)
            .current_dir(dir.path())
            .args(["-f", "%M"])
            .arg(bin_path())
            .args(["--json", "--max-size", "32M", "-m", "8", "--mode", mode])
            .args(["-s", &server.base_url(), "-o", "out"])
            .args(CODES)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        let max_rss_kib: u64 = stderr
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no %M line in {stderr:?}"));
        let run = parse_ndjson(&text(&out.stdout));
        assert_eq!(run.summary.ok, CODES.len(), "{}", show(&out));
        for line in run.codes.values() {
            assert_eq!(line.bytes, EACH);
        }
        println!(
            "{mode}: {} MiB of bodies, max RSS {max_rss_kib} KiB",
            8 * 24
        );
        // Buffered, eight bodies in flight would take 192 MiB at least.
        assert!(
            max_rss_kib < 64 * 1024,
            "{mode}: max RSS {max_rss_kib} KiB for 8 bodies of 24 MiB"
        );
    }
}

#[test]
fn a_good_run_reports_its_http_version() {
    let server = FaultServer::start();
    server.flag("BR", Scenario::Gif(gif_bytes("br")));
    let dir = scratch();
    let out = flags_dl()
        .timeout(RUN_LIMIT)
        .current_dir(dir.path())
        .args(["--json", "-s", &server.base_url(), "-o", "out", "BR"])
        .output()
        .unwrap();
    let run = json_run(&out, 0);
    assert_eq!(run.codes["br"].http_version.as_deref(), Some("1.1"));
    assert_eq!(run.codes["br"].error_kind, None);
}
