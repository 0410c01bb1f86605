//! The client against a local attacker and hostile input (issue 11, client items 1, 3, 5
//! and 6; issue 9's labels for the book's local servers): each test reproduces an attack
//! with the real binary against a server on 127.0.0.1 and checks that it no longer works.

use crate::fault_server::{gif_bytes, FaultServer, Scenario};
use crate::harness::{
    bin_path, command, file_names, flags_dl, free_port, run, scratch, text, Server, Spawned,
    POP20_SORTED, RUN_TIMEOUT,
};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a local process that can write into the output folder does while a run goes on:
/// plants symlinks to `outside` at the names the temporaries of process `pid` would have
/// (`.<cc>.gif.<pid>.flags-dl-part`, predictable before the fix), and swaps every
/// temporary it sees for a symlink to `outside`, until `stop` is set. Returns how many
/// temporaries it swapped.
fn plant_links(dir: &Path, outside: &Path, pid: u32, stop: &AtomicBool) -> usize {
    let mut swapped = 0;
    while !stop.load(Ordering::SeqCst) {
        for cc in POP20_SORTED {
            let cc = cc.to_ascii_lowercase();
            let name = dir.join(format!(".{cc}.gif.{pid}.flags-dl-part"));
            let _ = symlink(outside.join(format!("{cc}.gif")), name);
        }
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !name.ends_with(".flags-dl-part") || !is_file {
                continue;
            }
            let path = entry.path();
            let aside = dir.join(format!("swapped-{swapped}"));
            if fs::rename(&path, &aside).is_ok() {
                let _ = symlink(outside.join(format!("swapped-{swapped}")), &path);
                swapped += 1;
            }
        }
    }
    swapped
}

/// Issue 11, client item 1: temporaries were created with a plain create, which follows a
/// symlink planted at their (predictable) name, so a flag was written outside the output
/// folder and its final name became a symlink, while the run reported it OK.
#[test]
fn regression_a_symlink_planted_at_a_temporary_is_never_written_through() {
    let server = Server::start(&["--delay", "0.05"]);
    let scratch = scratch();
    let outside = scratch.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let mut swapped = 0;
    // Several runs: before the fix the first already fails; after it, the swap attack has
    // time to meet every stage of a commit.
    for round in 0..4 {
        let dir: PathBuf = scratch.path().join(format!("out{round}"));
        fs::create_dir(&dir).unwrap();
        let mut cmd = command(bin_path());
        cmd.current_dir(scratch.path())
            .args(["-s", &server.base_url, "-o"])
            .arg(&dir)
            .args(["-m", "20"]);
        let child = Spawned::start(cmd);
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = {
            let (dir, outside, stop, pid) =
                (dir.clone(), outside.clone(), stop.clone(), child.id());
            std::thread::spawn(move || plant_links(&dir, &outside, pid, &stop))
        };
        let (status, stdout, _) = child.finish(RUN_TIMEOUT);
        let code = status.code();
        stop.store(true, Ordering::SeqCst);
        swapped += attacker.join().unwrap();

        let written: Vec<_> = fs::read_dir(&outside).unwrap().collect();
        assert!(
            written.is_empty(),
            "round {round}: {} files written outside the output folder through a planted link (exit {code:?}):\n{stdout}",
            written.len()
        );
        for cc in POP20_SORTED {
            let path = dir.join(format!("{}.gif", cc.to_ascii_lowercase()));
            if let Ok(meta) = fs::symlink_metadata(&path) {
                assert!(
                    meta.file_type().is_file(),
                    "round {round}: {} is left a {:?}, not a file",
                    path.display(),
                    meta.file_type()
                );
            }
        }
    }
    eprintln!("the attacker swapped {swapped} temporaries");
}

/// Runs flags-dl in a scratch folder and returns (exit code, stdout, stderr).
fn run_in_scratch(args: &[&str]) -> (Option<i32>, String, String) {
    let out = run(scratch().path(), args);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

const PASSWORD: &str = "s3cret-pw";

/// Issue 11, client item 3: a password in the server URL was printed in the report's site
/// line, the NDJSON summary, `-v` output, the "cannot reach" error and the bench.
#[test]
fn regression_a_password_in_the_server_url_is_never_printed() {
    let server = Server::start(&["--error-rate", "0.5", "--seed", "7", "--delay", "0"]);
    let with_password =
        |base: &str| base.replacen("http://", &format!("http://alice:{PASSWORD}@"), 1);
    let url = with_password(&server.base_url);
    let masked = with_password(&server.base_url).replace(PASSWORD, "***");
    let unreachable = with_password(&format!("http://127.0.0.1:{}/flags", free_port()));
    let runs: [(&str, Vec<&str>); 4] = [
        ("-v", vec!["-s", &url, "-v", "BR", "CN", "US", "FR"]),
        ("--json", vec!["-s", &url, "--json", "BR", "CN"]),
        ("cannot reach", vec!["-s", &unreachable, "BR"]),
        (
            "bench",
            vec![
                "bench", "-s", &url, "--modes", "async", "-m", "2", "--runs", "1", "--warmup", "0",
                "-l", "2",
            ],
        ),
    ];
    let mut leaks = Vec::new();
    for (what, args) in runs {
        let (code, stdout, stderr) = run_in_scratch(&args);
        let all = format!("{stdout}{stderr}");
        if all.contains(PASSWORD) || !all.contains("alice:***@") {
            leaks.push(format!("{what} (exit {code:?}):\n{all}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "the password is printed, or the masked URL not shown, in:\n{}",
        leaks.join("\n")
    );
    let (_, stdout, _) = run_in_scratch(&["-s", &url, "BR"]);
    assert!(
        stdout.starts_with(&format!("Custom site: {masked}\n")),
        "{stdout}"
    );
}

/// Issue 9: `-s http://localhost:8000/flags` is the book's LOCAL server, whatever its
/// spelling (`127.0.0.1`, a trailing slash); the report and the "start it" hint say so.
#[test]
fn the_books_local_server_urls_get_their_label() {
    for (url, label) in [
        ("http://127.0.0.1:8000/flags/", "LOCAL"),
        ("http://localhost:8001/flags", "DELAY"),
        ("http://127.0.0.1:8002/flags", "ERROR"),
    ] {
        // Nothing listens on the book's ports in the tests' sandbox; if something does,
        // the report's site line says the same.
        let (_, stdout, stderr) = run_in_scratch(&["-s", url, "--connect-timeout", "2", "BR"]);
        let preset = label.to_ascii_lowercase();
        assert!(
            stderr.contains(&format!("cannot reach the {label} server"))
                && stderr.contains(&format!("flags-dl serve {preset}"))
                || stdout.starts_with(&format!("{label} site: ")),
            "{url}:\n{stdout}{stderr}"
        );
    }
    // Another port on this machine is not one of the book's servers.
    let server = Server::start(&[]);
    let (_, stdout, _) = run_in_scratch(&["-s", &format!("{}/", server.base_url), "BR"]);
    assert!(stdout.starts_with("Custom site: "), "{stdout}");
}

/// The characters planted by the tests below: a right-to-left override, a line and a
/// paragraph separator, a zero-width space, a byte-order mark, an escape, a carriage return.
const HIDDEN: [char; 7] = [
    '\u{202e}', '\u{2028}', '\u{2029}', '\u{200b}', '\u{feff}', '\u{1b}', '\r',
];

fn assert_no_hidden(what: &str, text: &str) {
    let found: Vec<_> = text.chars().filter(|c| HIDDEN.contains(c)).collect();
    assert!(found.is_empty(), "{what} holds raw {found:?}:\n{text:?}");
}

/// Issue 11, client item 5: a right-to-left override or a line separator in a server's
/// country name survived in the `--names` file name (`<U+202E>gpj.exe-bb.gif` reads as another
/// name) and was printed raw.
#[test]
fn regression_format_characters_in_country_names_are_dropped_and_never_printed_raw() {
    let server = FaultServer::start();
    let names = [
        ("BR", "\u{202e}gpj.exe-bb"),
        ("CN", "Line\u{2028}Split\u{2029}Here"),
        ("US", "Zero\u{200b}Width\u{feff}"),
    ];
    for (cc, name) in names {
        server.metadata(cc, Scenario::country(name));
        server.flag(cc, Scenario::Gif(gif_bytes(cc)));
    }
    for report in ["-v", "--json"] {
        let scratch = scratch();
        let out = flags_dl()
            .current_dir(scratch.path())
            .args(["-s", &server.base_url(), "--names", report, "-o", "out"])
            .args(["BR", "CN", "US"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert_no_hidden(&format!("{report} stdout"), &stdout);
        assert_no_hidden(
            &format!("{report} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
        let files = file_names(&scratch.path().join("out"));
        assert_eq!(
            files,
            [
                "LineSplitHere-cn.gif",
                "ZeroWidth-us.gif",
                "gpj.exe-bb-br.gif"
            ],
            "{report}"
        );
    }
    // The server URL is the user's, and is shown on the report's site line.
    let hostile = format!("{}/fl\u{202e}ags\u{2028}", server.base_url());
    let out = flags_dl()
        .current_dir(scratch().path())
        .args(["-s", &hostile, "-v", "--limit", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\\u{202e}"), "{stdout}");
    assert_no_hidden("the site line", &stdout);
}

/// Runs flags-dl with `args` and `input` on standard input (written by a thread that
/// stops when flags-dl stops reading) and returns (exit code, stdout, stderr).
fn run_with_stdin(args: &[&str], input: Vec<u8>) -> (Option<i32>, String, String) {
    let scratch = scratch();
    let mut cmd = command(bin_path());
    cmd.current_dir(scratch.path()).args(args);
    let (status, stdout, stderr) = Spawned::with_stdin(cmd, input).finish(RUN_TIMEOUT);
    (status.code(), stdout, stderr)
}

/// Issue 11, client item 6: `-` read standard input without bound (200 MB of codes went
/// into memory) and a bad word was echoed whole, escape sequences and all; clap's own
/// errors echoed a hostile argument the same way.
#[test]
fn regression_standard_input_is_bounded_and_bad_input_is_quoted_short_and_escaped() {
    let server = FaultServer::start();
    let base = server.base_url();

    // 16 MB of valid codes: refused after 64 KiB, before any request.
    let (code, stdout, stderr) = run_with_stdin(
        &["-s", &base, "-"],
        "BR ".repeat((16 << 20) / 3).into_bytes(),
    );
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("standard input holds more than 64 KiB") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(server.total_hits(), 0, "requests were sent: {stdout}");

    // One 60 KB word of terminal escapes: one short line, nothing raw.
    let word = "\u{1b}]0;pwned\u{7}\u{1b}[2J".repeat(4000);
    let (code, _, stderr) = run_with_stdin(&["-s", &base, "-"], word.clone().into_bytes());
    assert_eq!(code, Some(2), "{stderr}");
    assert_no_hidden("the stdin error", &stderr);
    assert!(
        stderr.lines().count() == 1
            && stderr.len() < 400
            && stderr.contains("is not a country code"),
        "{} bytes: {}",
        stderr.len(),
        common_prefix(&stderr)
    );

    // Long hostile arguments, and an unknown option: clap's errors. (clap already strips
    // ANSI sequences when stderr is not a terminal, as here, but not these characters.)
    let arg = &"A\u{2028}B\u{202e}\r".repeat(2_000);
    for args in [
        vec!["-s", &base, arg],
        vec!["-s", &base, "--max-req", arg],
        vec!["-s", &base, "--\u{1b}[2J\u{202e}"],
    ] {
        let (code, _, stderr) = run_in_scratch(&args);
        assert_eq!(code, Some(2), "{stderr}");
        assert_no_hidden("clap's error", &stderr);
        assert!(
            stderr.len() < 1000,
            "{} bytes: {}",
            stderr.len(),
            common_prefix(&stderr)
        );
        assert!(stderr.starts_with("error: "), "{}", common_prefix(&stderr));
    }
    assert_eq!(server.total_hits(), 0);
}

/// The start of a long text, for an assertion message.
fn common_prefix(text: &str) -> String {
    text.chars()
        .take(300)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

/// A server that answers every request 429 and asks for a wait: each of `--max-wait`'s
/// cases runs against one, in every mode.
fn refusing_server(retry_after: &str) -> Server {
    Server::start(&[
        "--error-rate",
        "1",
        "--error-status",
        "429",
        "--retry-after",
        retry_after,
    ])
}

/// Every request answered 429 with `Retry-After: 60`: after 240 s, 8 requests had been
/// made and nothing had finished (about 10 h for `--all`). A wait past `--max-wait` now
/// gives up at once: every code not yet fetched ends as `refused`, worded with the
/// server's status and wait, and a record says so.
#[test]
fn a_server_that_asks_to_wait_past_max_wait_is_given_up_on_at_once() {
    let server = refusing_server("60");
    for mode in ["async", "threads", "sequential"] {
        let out = scratch();
        let result = run(
            out.path(),
            &[
                "-s",
                &server.base_url,
                "--all",
                "--max-wait",
                "30",
                "--mode",
                mode,
                "--json",
            ],
        );
        let json = crate::harness::json_run(&result, 1);
        assert_eq!(json.summary.error, 194, "{mode}");
        for line in json.codes.values() {
            assert_eq!(
                line.error_kind.as_deref(),
                Some("refused"),
                "{mode}: {line:?}"
            );
            let error = line.error.as_deref().unwrap();
            assert!(
                error.starts_with(
                    "HTTP 429 Too Many Requests: the server asks to wait 60 s, past --max-wait"
                ),
                "{mode}: {error}"
            );
        }
        let [wait] = &json.waits[..] else {
            panic!("{mode}: one wait record: {:?}", json.waits)
        };
        assert!(wait.gave_up && wait.http_status == 429, "{mode}: {wait:?}");
        assert_eq!(
            (wait.wait_s, wait.waited_s, wait.max_wait_s),
            (60.0, 0.0, 30.0),
            "{mode}: nothing waited, 60 s asked of 30"
        );
        assert!(json.summary.elapsed_s < 5.0, "{mode}: not a minute's wait");
    }
}

/// `Retry-After: 1` every time, `--max-wait 3`: the run waits as asked, says so on stderr
/// as each wait begins (without `-v`), and gives up once it would wait past 3 s in all,
/// rather than go on for good; `-q` says nothing of it.
#[test]
fn short_asked_waits_are_told_and_end_at_max_wait() {
    let server = refusing_server("1");
    for mode in ["async", "threads"] {
        let out = scratch();
        let run_with = |extra: &[&str]| {
            let mut args = vec!["-s", &server.base_url, "--all", "--max-wait", "3"];
            args.extend_from_slice(&["--mode", mode]);
            args.extend_from_slice(extra);
            run(out.path(), &args)
        };
        let result = run_with(&[]);
        crate::harness::assert_exit(&result, 1);
        let stderr = text(&result.stderr);
        let waiting = stderr
            .lines()
            .filter(|l| l.contains("asks to wait 1 s: waiting"))
            .count();
        // Three waits of 1 s fit in 3 s, or fewer if refusals a moment apart extend one.
        assert!((1..=3).contains(&waiting), "{mode}: {stderr}");
        assert!(
            stderr.contains("past --max-wait") && stderr.contains("giving up"),
            "{mode}: {stderr}"
        );
        let report = crate::harness::report(&result);
        assert_eq!(report.counts.last().unwrap(), "194 errors.", "{mode}");

        let stderr = text(&run_with(&["-q"]).stderr);
        assert!(!stderr.contains("waiting"), "{mode}: -q {stderr}");
        assert_eq!(stderr.lines().count(), 194, "{mode}: one line per code");
    }
}

/// A 60 KB `Content-Type` was echoed whole into `-v` and NDJSON, where a `Location` was cut
/// at 80 characters: every value a server gives is now cut the same way, in every mode.
#[test]
fn a_huge_content_type_is_cut_as_a_location_is() {
    let server = FaultServer::start();
    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/".to_vec();
    answer.extend(std::iter::repeat_n(b'x', 60_000));
    answer.extend_from_slice(b"\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    server.flag("BR", Scenario::Raw(answer));
    for mode in ["async", "threads", "sequential"] {
        let out = scratch();
        let result = run(
            out.path(),
            &[
                "-s",
                &server.base_url(),
                "BR",
                "--retries",
                "0",
                "--mode",
                mode,
                "--json",
            ],
        );
        let json = crate::harness::json_run(&result, 1);
        let error = json.codes["br"].error.clone().unwrap();
        assert!(error.starts_with("not a GIF (text/xxx"), "{mode}: {error}");
        assert!(
            error.chars().count() <= 100 && error.ends_with("…)"),
            "{mode}: {} characters: {error}",
            error.chars().count()
        );
    }
}
