//! Reliability, end to end: the built binary against servers that fail, stall, lie and
//! attack, checked by what a user sees: the report on stdout, the `-v` lines, the exit
//! status, and the files on disk (complete, correct, no temporaries, nothing outside the
//! output folder).
//!
//! The fault cases are one table ([`fault_cases`]): for each, what the suite's own fault
//! server ([`fault_server`]) answers for each code, the run's options, and what the run
//! must report for each code, how many requests each path must get and which files must
//! be saved; the exit status and the count lines follow from the `-v` lines. One loop
//! runs them in async mode and in `--mode threads` (some in sequential mode too). The
//! rest run against `flags-dl serve`, the embedded server and `python3 -m http.server`.
//! Every run has short explicit limits (`--timeout 1`, a small `--retries`) so that no
//! run takes more than a few seconds.

use crate::fault_server::{flag_path, gif_bytes, metadata_path, FaultServer, Scenario};
use crate::harness::{
    all_codes, assert_decodable_gif, bin_path, check_each, command, file_names, flags_dl,
    parse_ndjson, raw_request, report, scratch, shared_flags, show, split_verbose, text, tool,
    without_phases, Report, Scratch, Server, Spawned, Summary, Tally,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::ops::RangeInclusive;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use Scenario::*;

/// The most any one run of the binary may take here before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Generates `mod <name> { async_mode, threads_mode }`, each calling `<name>(mode)`.
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn async_mode() {
                super::$name("async")
            }
            #[test]
            fn threads_mode() {
                super::$name("threads")
            }
        }
    )*};
}

// ---- Helpers ----

/// One finished run of the binary, with its report's lines.
struct Run {
    output: Output,
    elapsed: Duration,
    /// The `-v` lines, sorted (codes finish in any order).
    verbose: Vec<String>,
    /// The count lines after the rule, without the elapsed time.
    counts: Vec<String>,
}

impl Run {
    /// Fails the test unless the run printed the book's report.
    fn new(output: Output, elapsed: Duration) -> Run {
        let report = report(&output);
        Run {
            verbose: report.verbose_sorted(),
            counts: report.counts,
            output,
            elapsed,
        }
    }

    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// Everything about the run, for assertion messages.
    fn show(&self) -> String {
        format!("after {:.2?}: {}", self.elapsed, show(&self.output))
    }

    /// Checks the exit status, the count lines, and the `-v` lines (in any order).
    fn expect(&self, exit: i32, counts: &[&str], verbose: &[&str]) {
        assert_eq!(self.code(), Some(exit), "exit status\n{}", self.show());
        assert_eq!(self.counts, counts, "count lines\n{}", self.show());
        let mut want: Vec<&str> = verbose.to_vec();
        want.sort();
        assert_eq!(self.verbose, want, "-v lines\n{}", self.show());
    }
}

/// Runs `flags-dl -v --timeout 1 --connect-timeout 1 --mode <mode> -s <base> -o <out>
/// <args>` in the sandbox.
fn fetch(sandbox: &Scratch, mode: &str, base: &str, args: &[&str]) -> Run {
    fetch_measured(sandbox, mode, base, args, false).0
}

/// [`fetch`], under `/usr/bin/time` if `measure` and it is there: then also the peak
/// resident memory of the client, in KiB, with GNU time's lines taken off stderr.
fn fetch_measured(
    sandbox: &Scratch,
    mode: &str,
    base: &str,
    args: &[&str],
    measure: bool,
) -> (Run, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let measure = measure && time.exists();
    let mut cmd = if measure {
        let mut cmd = tool(time);
        cmd.args(["-f", "%M"]).arg(bin_path());
        cmd
    } else {
        flags_dl()
    };
    let started = Instant::now();
    let mut output = cmd
        .timeout(RUN_LIMIT)
        .current_dir(sandbox.path())
        .args(["-v", "--timeout", "1", "--connect-timeout", "1"])
        .args(["--mode", mode, "-s", base, "-o", &sandbox.out_arg()])
        .args(args)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let mut max_rss_kib = None;
    if measure {
        // GNU time's line is the last one on stderr.
        let stderr = text(&output.stderr);
        let (rest, last) = stderr
            .trim_end()
            .rsplit_once('\n')
            .unwrap_or(("", stderr.trim_end()));
        max_rss_kib = Some(
            last.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("no %M line from /usr/bin/time in {stderr:?}")),
        );
        output.stderr = rest
            .lines()
            .filter(|l| !l.starts_with("Command exited with non-zero status"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes();
    }
    (Run::new(output, elapsed), max_rss_kib)
}

/// A GIF of exactly `len` bytes (at least 6).
fn gif_of_len(len: usize) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.resize(len, b'x');
    gif
}

// ---- The fault cases ----

/// One code of a fault case: what the fault server answers for it, and what the run must
/// say, request and save for it.
struct Code {
    cc: String,
    flag: Option<Scenario>,
    metadata: Option<Scenario>,
    /// Its `-v` line after the code. One ending in `*` stands for any line that starts
    /// with the rest; `a | b` for either.
    line: String,
    /// The number of requests paths must get, where the case pins it (each path served
    /// must get one at least: the fault server checks that when dropped).
    hits: Vec<(String, RangeInclusive<usize>)>,
    /// The least time between two requests for its flag.
    apart: Option<Duration>,
    /// The most body bytes the server may send for its flag before the client leaves.
    sent_below: Option<u64>,
    /// Its file in the output folder after the run: name and bytes.
    file: Option<(String, Vec<u8>)>,
    /// Whether that file is there before the run.
    existing: bool,
}

/// `cc`'s flag answered with `scenario`, and its `-v` line `<CC> <line>`.
fn code(cc: &str, scenario: Scenario, line: &str) -> Code {
    Code {
        cc: cc.to_string(),
        flag: Some(scenario),
        metadata: None,
        line: line.to_string(),
        hits: Vec::new(),
        apart: None,
        sent_below: None,
        file: None,
        existing: false,
    }
}

/// `cc` served a GIF of its own, which the run must save as `<cc>.gif`.
fn ok(cc: &str) -> Code {
    code(cc, Gif(gif_bytes(cc)), "OK").saves(gif_bytes(cc))
}

/// `cc` under `--names` with only its metadata answered, as `scenario`: a code whose
/// metadata fails has no flag to fetch.
fn bad_metadata(cc: &str, scenario: Scenario, line: &str) -> Code {
    Code {
        flag: None,
        ..code(cc, scenario.clone(), line).metadata(scenario)
    }
}

impl Code {
    /// Exactly `n` requests for its flag.
    fn hits(self, n: usize) -> Code {
        self.hits_in(n..=n)
    }

    fn hits_in(mut self, range: RangeInclusive<usize>) -> Code {
        self.hits.push((flag_path(&self.cc), range));
        self
    }

    fn metadata(mut self, scenario: Scenario) -> Code {
        self.metadata = Some(scenario);
        self
    }

    /// Exactly `n` requests for its metadata.
    fn metadata_hits(mut self, n: usize) -> Code {
        self.hits.push((metadata_path(&self.cc), n..=n));
        self
    }

    /// The run saves `bytes` as `<cc>.gif`.
    fn saves(mut self, bytes: Vec<u8>) -> Code {
        self.file = Some((format!("{}.gif", self.cc.to_ascii_lowercase()), bytes));
        self
    }

    fn saved_as(mut self, name: &str) -> Code {
        self.file.as_mut().expect("saves() first").0 = name.to_string();
        self
    }

    /// `<cc>.gif` holds `bytes` before the run, and still after it.
    fn existing(mut self, bytes: Vec<u8>) -> Code {
        self.existing = true;
        self.saves(bytes)
    }

    fn apart(mut self, gap: Duration) -> Code {
        self.apart = Some(gap);
        self
    }

    fn sent_below(mut self, bytes: u64) -> Code {
        self.sent_below = Some(bytes);
        self
    }

    /// Whether `got` is what its `-v` line must say after the code.
    fn says(&self, got: &str) -> bool {
        self.line
            .split(" | ")
            .any(|want| match want.strip_suffix('*') {
                Some(start) => got.starts_with(start),
                None => got == want,
            })
    }
}

/// One fault case: the codes asked for (in this order) and the options after them.
struct Case {
    /// What the case shows (`CASE=<part of it>` runs only the cases it names).
    name: &'static str,
    args: Vec<&'static str>,
    codes: Vec<Code>,
    modes: &'static [&'static str],
    /// The most the client's peak resident memory may be (where `/usr/bin/time` is).
    rss_below_kib: Option<u64>,
    /// The most the run may take.
    within: Option<Duration>,
}

/// A case with `args` (split at spaces), in async and threads mode.
fn case(name: &'static str, args: &'static str) -> Case {
    Case {
        name,
        args: args.split_whitespace().collect(),
        codes: Vec::new(),
        modes: &["async", "threads"],
        rss_below_kib: None,
        within: None,
    }
}

impl Case {
    fn with(mut self, code: Code) -> Case {
        self.codes.push(code);
        self
    }

    fn in_modes(mut self, modes: &'static [&'static str]) -> Case {
        self.modes = modes;
        self
    }

    /// Runs it under `/usr/bin/time` (where it is): the client's peak memory must stay
    /// below `kib`, and the run end within `limit` (a bound that catches reading on to the
    /// end of a body, or a hang, not a speed claim).
    fn measured(mut self, kib: u64, limit: Duration) -> Case {
        self.rss_below_kib = Some(kib);
        self.within = Some(limit);
        self
    }
}

/// The fault cases, by the kind of fault: a table, laid out by hand (one line a code).
#[rustfmt::skip]
fn fault_cases() -> Vec<Case> {
    let gif = gif_bytes("BR");
    let http10 = [b"HTTP/1.0 200 OK\r\nContent-Type: image/gif\r\n\r\n", &gif[..]].concat();
    let early_hints = [
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".as_slice(),
        b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nConnection: close\r\n",
        format!("Content-Length: {}\r\n\r\n", gif.len()).as_bytes(),
        &gif,
    ].concat();
    let ssh = Raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec());
    let (len100, len101) = (gif_of_len(100), gif_of_len(101));
    let too_big = |limit| {
        format!("error: response larger than {limit} (raise --max-size to accept it)")
    };
    let closed = |n| {
        format!("error: connection closed before the response was complete (after {n} attempts)")
    };
    let reset = "error: connection reset by the server (after 2 attempts)";
    let timed_out = "error: timed out after 1 s";
    let e500 = "error: HTTP 500 Internal Server Error";
    let e503 = "error: HTTP 503 Service Unavailable";
    let e418 = "error: HTTP 418 I'm a teapot";
    let redirects = "error: too many redirects (more than 10), or a redirect loop";
    let unavailable_twice = Sequence(vec![Status(503), Status(503), Gif(gif.clone())]);
    let retry_after = Sequence(vec![RetryAfter(1), Gif(gif.clone())]);
    let brazil = || Scenario::country("Brazil");
    let json = |text: &str| Metadata(text.as_bytes().to_vec());
    let huge = json(&format!(r#"{{"country": "{}"}}"#, "a".repeat(70 * 1024)));
    let not_json = "error: metadata is not JSON (*";
    let not_a_string = r#"error: metadata's "country" is not a string"#;
    let no_country = r#"error: metadata has no "country""#;
    let too_long = "error: metadata larger than 64 KiB";
    let mut cases = vec![
        // Broken bodies.
        case("truncated_body_is_an_error_and_leaves_no_file", "--retries 1")
            .with(code("BR", Truncated, &closed(2)).hits(2))
            .with(ok("CN")),
        // A size error is final; a client that read on would take all 300 MiB.
        case("oversized_chunked_body_is_abandoned_at_max_size_with_flat_memory",
             "--timeout 5 --retries 2 --max-size 1M")
            .with(code("BR", Oversized(300 << 20), &too_big("1 MiB")).hits(1).sent_below(64 << 20))
            .with(ok("CN"))
            .measured(100 * 1024, Duration::from_secs(10)),
        case("oversized_declared_body_is_refused_before_reading_it", "--max-size 512K")
            .with(code("BR", OversizedDeclared(300 << 20), &too_big("512 KiB")).hits(1)
                .sent_below(64 << 20)),
        case("max_size_is_inclusive_for_declared_and_chunked_bodies", "--max-size 100")
            .with(code("AA", Gif(len100.clone()), "OK").saves(len100.clone()))
            .with(code("AB", Gif(len101), &too_big("100 bytes")))
            .with(code("AC", Oversized(100), "OK").saves(len100))
            .with(code("AD", Oversized(101), &too_big("100 bytes"))),
        case("html_with_200_is_not_a_gif_and_leaves_no_file", "")
            .with(code("BR", Html, "error: not a GIF (text/html)").hits(1))
            .with(ok("CN")),
        case("garbage_instead_of_http_is_an_error_not_a_hang", "--retries 0")
            .with(code("BR", ssh, "error: *")),
        case("http10_body_delimited_by_close_is_read_whole", "--retries 0")
            .with(code("BR", Raw(http10), "OK").saves(gif.clone())),
        case("informational_103_before_the_200_is_skipped", "--retries 0")
            .with(code("BR", Raw(early_hints), "OK").saves(gif.clone())),
        // Stalls. A connection closed or reset before any response may be a kept-alive
        // one that the server had closed, which a client may resend on a fresh connection
        // without counting an attempt (RFC 9112 §9.3.1): each attempt is one request or two.
        case("slow_drip_times_out_after_the_timeout", "--retries 0")
            .with(code("BR", Drip, timed_out).hits(1)),
        case("no_response_headers_time_out_and_are_retried", "--retries 1")
            .with(code("BR", Hang, &format!("{timed_out} (after 2 attempts)")).hits(2)),
        case("connection_closed_without_response_is_an_error_after_retries", "--retries 2")
            .with(code("BR", CloseNoResponse, &closed(3)).hits_in(3..=6))
            .with(ok("CN")),
        case("connection_reset_is_an_error_after_retries", "--retries 1")
            .with(code("BR", Reset, reset).hits_in(2..=4))
            .with(ok("CN")),
        // Statuses and retries.
        case("service_unavailable_twice_then_ok_is_downloaded_on_the_third_attempt", "--retries 2")
            .with(code("BR", unavailable_twice, "OK (after 3 attempts)").hits(3)
                .saves(gif.clone())),
        case("retry_after_is_waited_before_the_next_attempt", "--retries 1")
            .with(code("BR", retry_after, "OK (after 2 attempts)").hits(2).saves(gif)
                .apart(Duration::from_millis(900))),
        case("retries_zero_makes_a_503_final", "--retries 0")
            .with(code("BR", Status(503), e503).hits(1)),
        case("leaving_503_out_of_retry_status_makes_it_final", "--retries 2 --retry-status none")
            .with(code("BR", Status(503), e503).hits(1)),
        case("teapot_is_not_retried_by_default", "--retries 2")
            .with(code("BR", Status(418), e418).hits(1)),
        case("teapot_is_retried_when_listed_in_retry_status", "--retries 2 --retry-status 418")
            .with(code("BR", Status(418), &format!("{e418} (after 3 attempts)")).hits(3)),
        // Followed a bounded number of times, and not retried.
        case("redirect_loop_is_an_error_not_a_hang", "--retries 2")
            .with(code("BR", RedirectLoop, redirects).hits_in(2..=12)),
        case("not_found_is_not_an_error", "")
            .with(code("BR", NotFound, "not found").hits(1))
            .with(ok("CN")),
        case("always_500_is_an_error_after_three_attempts", "--retries 2")
            .with(code("BR", Status(500), &format!("{e500} (after 3 attempts)")).hits(3))
            .with(ok("CN")),
        // --names and --skip-existing.
        case("names_come_from_metadata", "--names")
            .with(ok("BR").metadata(brazil()).metadata_hits(1).saved_as("Brazil-br.gif")),
        case("bad_metadata_fails_its_code_only", "--names")
            .with(ok("BR").metadata(brazil()).saved_as("Brazil-br.gif"))
            .with(bad_metadata("XA", json("<html>not json</html>"), not_json))
            .with(bad_metadata("XB", json(r#"{"country": 7}"#), not_a_string))
            .with(bad_metadata("XC", json(r#"{"name": "Nowhere"}"#), no_country))
            .with(bad_metadata("XD", json(r#"["country"]"#), no_country))
            .with(bad_metadata("XE", huge, too_long))
            .with(bad_metadata("XF", Oversized(1 << 20), too_long)),
        case("skip_existing_makes_no_request_for_saved_flags", "--skip-existing")
            .with(code("BR", Gif(gif_bytes("BR")), "skipped: already saved").hits(0)
                .existing(gif_bytes("an earlier run")))
            .with(ok("CN").hits(1)),
    ];
    // Kept-alive connections: a server that says keep-alive but closes each connection
    // after one answer (RFC 9112 §9.3 lets it close at any time), for all 194 codes over
    // one connection (`-m 1`). With `--retries 0` the client must notice the closed
    // connection, or resend the GET on a new one by itself (RFC 9112 §9.3.1), so that no
    // code fails and none counts more than one attempt: before 147ae16 about one code in
    // twelve failed in async mode, and a few in the blocking modes under CPU load. With
    // `--retries 2`, every code is downloaded, whether or not the resend spares an attempt.
    let every_code = |case: Case, line| all_codes().iter().fold(case, |case, cc| {
        case.with(code(cc, GifKeepAlive(gif_bytes(cc)), line).saves(gif_bytes(cc)))
    });
    let no_attempt = case("stale_kept_alive_connections_cost_no_attempt", "-m 1 --retries 0");
    cases.push(every_code(no_attempt, "OK").in_modes(&["async", "threads", "sequential"]));
    let retried = case("stale_kept_alive_connections_are_retried", "-m 1 --retries 2");
    cases.push(every_code(retried, "OK | OK (after 2 attempts)").in_modes(&["async"]));
    cases
}

mod fault_cases {
    #[test]
    fn async_mode() {
        super::run_fault_cases("async")
    }
    #[test]
    fn threads_mode() {
        super::run_fault_cases("threads")
    }
    #[test]
    fn sequential_mode() {
        super::run_fault_cases("sequential")
    }
}

/// Runs every fault case that runs in `mode`.
fn run_fault_cases(mode: &str) {
    let cases = fault_cases()
        .into_iter()
        .filter(|case| case.modes.contains(&mode));
    check_each(
        cases,
        |case| format!("{} in {mode} mode", case.name),
        |case| run_case(case, mode),
    );
}

/// Serves the case's codes from a fault server of its own, runs flags-dl against it in
/// `mode`, and checks what it reported, requested and saved.
fn run_case(case: &Case, mode: &str) {
    let server = FaultServer::start();
    let sandbox = scratch();
    for code in &case.codes {
        if let Some(scenario) = &code.flag {
            server.flag(&code.cc, scenario.clone());
        }
        if let Some(scenario) = &code.metadata {
            server.metadata(&code.cc, scenario.clone());
        }
        for (path, _) in code.hits.iter().filter(|(_, n)| *n == (0..=0)) {
            server.unrequested(path);
        }
        if let (true, Some((name, bytes))) = (code.existing, &code.file) {
            std::fs::create_dir_all(sandbox.out()).unwrap();
            std::fs::write(sandbox.out().join(name), bytes).unwrap();
        }
    }
    let mut args: Vec<&str> = case.codes.iter().map(|code| code.cc.as_str()).collect();
    args.extend(&case.args);
    let measure = case.rss_below_kib.is_some();
    let (run, max_rss_kib) = fetch_measured(&sandbox, mode, &server.base_url(), &args, measure);
    let context = format!("{} in {mode} mode, {}", case.name, run.show());

    // Each code once, each line as expected; the counts and the exit status as they say.
    let lines: BTreeMap<&str, &str> = run.verbose.iter().map(|l| split_verbose(l)).collect();
    let codes: BTreeSet<&str> = case.codes.iter().map(|code| code.cc.as_str()).collect();
    assert_eq!(
        run.verbose.len(),
        codes.len(),
        "one -v line a code\n{context}"
    );
    assert!(
        lines.keys().copied().eq(codes.iter().copied()),
        "codes\n{context}"
    );
    for code in &case.codes {
        let line = lines[code.cc.as_str()];
        assert!(
            code.says(line),
            "{} {line}, not {}\n{context}",
            code.cc,
            code.line
        );
    }
    let tally = Tally::of(&run.verbose);
    assert_eq!(run.counts, tally.count_lines(), "count lines\n{context}");
    let exit = if tally.error > 0 { 1 } else { 0 };
    assert_eq!(run.code(), Some(exit), "exit status\n{context}");

    // The requests each path got.
    for code in &case.codes {
        for (path, range) in &code.hits {
            let hits = server.hits(path);
            assert!(
                range.contains(&hits),
                "{hits} requests for {path}\n{context}"
            );
        }
        let path = flag_path(&code.cc);
        if let Some(gap) = code.apart {
            let times = server.hit_times(&path);
            for pair in times.windows(2) {
                let took = pair[1] - pair[0];
                assert!(took >= gap, "{path} asked again after {took:?}\n{context}");
            }
        }
        if let Some(most) = code.sent_below {
            let sent = server.body_bytes_sent(&path);
            assert!(
                sent < most,
                "the client read on: {sent} bytes sent\n{context}"
            );
        }
    }

    // Only the files expected, whole, and nothing else anywhere.
    let files: Vec<(&str, &[u8])> = case
        .codes
        .iter()
        .filter_map(|code| code.file.as_ref())
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    sandbox.assert_files(&files, &context);

    if let (Some(most), Some(kib)) = (case.rss_below_kib, max_rss_kib) {
        println!("{}, {mode}: max RSS {kib} KiB", case.name);
        assert!(kib < most, "max RSS {kib} KiB\n{context}");
    }
    if let Some(limit) = case.within {
        assert!(run.elapsed < limit, "took {:?}\n{context}", run.elapsed);
    }
}

// ---- Hostile country names ----

in_both_modes!(hostile_country_names_stay_inside_the_output_folder);

fn hostile_country_names_stay_inside_the_output_folder(mode: &str) {
    let long_ascii = "x".repeat(400);
    let long_accented = "é".repeat(400);
    // (code, country name served, the file name expected where it is known exactly)
    let cases: Vec<(&str, &str, Option<&str>)> = vec![
        ("XA", "../../x", Some("x-xa.gif")),
        ("XB", "/etc/passwd", Some("etcpasswd-xb.gif")),
        ("XC", "a\\b", Some("ab-xc.gif")),
        ("XD", "..", Some("xd.gif")),
        ("XE", "CON", Some("_CON-xe.gif")),
        ("XF", "", Some("xf.gif")),
        ("XG", "a\u{0}b", Some("ab-xg.gif")),
        ("XH", &long_ascii, None),
        ("XI", &long_accented, None),
        ("CI", "Côte d'Ivoire", Some("Côte_d'Ivoire-ci.gif")),
        ("XJ", ".hidden", Some("hidden-xj.gif")),
        ("XK", "..\\..\\..\\y", Some("y-xk.gif")),
        ("XL", "line\nbreak\r", Some("linebreak-xl.gif")),
        ("XM", "   ", Some("xm.gif")),
        ("XN", "xa", Some("xa-xn.gif")),
        ("XO", "nul.txt", Some("_nul.txt-xo.gif")),
    ];
    let server = FaultServer::start();
    for (cc, country, _) in &cases {
        server.metadata(cc, Scenario::country(country));
        server.flag(cc, Scenario::Gif(gif_bytes(cc)));
    }
    let sandbox = scratch();
    let codes: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let mut args = codes.clone();
    args.push("--names");
    let run = fetch(&sandbox, mode, &server.base_url(), &args);
    let downloaded = format!("{:3} flags downloaded.", cases.len());
    let ok: Vec<String> = codes.iter().map(|cc| format!("{cc} OK")).collect();
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    run.expect(0, &[&downloaded], &ok);

    // Nothing beside or above the output folder, and nothing in it but one file per code.
    assert_eq!(file_names(sandbox.root()), ["cwd"], "{}", run.show());
    assert_eq!(file_names(sandbox.path()), ["out"], "{}", run.show());
    assert!(!Path::new("/etc/passwd-xb.gif").exists());
    let names = file_names(&sandbox.out());
    assert_eq!(names.len(), cases.len(), "one file per code: {names:#?}");
    for (cc, country, expected) in &cases {
        let lower = cc.to_ascii_lowercase();
        let suffix = format!("-{lower}.gif");
        let plain = format!("{lower}.gif");
        let matching: Vec<&String> = names
            .iter()
            .filter(|n| n.ends_with(&suffix) || **n == plain)
            .collect();
        assert_eq!(matching.len(), 1, "{cc} ({country:?}): {names:#?}");
        let name = matching[0];
        if let Some(expected) = expected {
            assert_eq!(name, expected, "the file for {country:?}");
        }
        assert!(
            !name.contains(['/', '\\', '\0']) && !name.starts_with('.'),
            "unsafe name {name:?}"
        );
        assert!(name.len() <= 100, "{name:?} is {} bytes", name.len());
        let path = sandbox.out().join(name);
        assert!(path.is_file(), "{name:?} is not a plain file");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            gif_bytes(cc),
            "{name:?} holds another code's flag"
        );
    }
    let long = names.iter().find(|n| n.ends_with("-xi.gif")).unwrap();
    assert!(long.starts_with("éé"), "{long:?}");
}

// ---- Ctrl-C ----

in_both_modes!(
    sigint_mid_run_reports_cancelled_and_leaves_only_complete_flags,
    sigint_during_a_retry_wait_and_a_hung_request_stops_at_once,
);

fn sigint_during_a_retry_wait_and_a_hung_request_stops_at_once(mode: &str) {
    let server = FaultServer::start();
    // A 500, not a 503: a 503 pauses every request to the host (the shared backoff), and
    // CN's request might then never start; here BR alone waits out its Retry-After.
    server.flag("BR", Scenario::ServerErrorRetryAfter(30));
    server.flag("CN", Scenario::Hang);
    let sandbox = scratch();
    let mut cmd = command(bin_path());
    cmd.current_dir(sandbox.path())
        .args(["BR", "CN", "-v", "--retries", "1", "--timeout", "20"])
        .args(["--mode", mode, "-s", &server.base_url(), "-o"])
        .arg(sandbox.out());
    let mut child = Spawned::start(cmd);
    // BR is waiting out its Retry-After and CN is waiting for an answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.hits(&flag_path("BR")) < 1 || server.hits(&flag_path("CN")) < 1 {
        assert!(Instant::now() < deadline, "the requests never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal("INT");
    let sent = Instant::now();
    let status = child.wait(Duration::from_secs(10));
    let stopped_in = sent.elapsed();
    let (stdout, stderr) = child.kill();
    let show = format!(
        "{status:?}, {stopped_in:.2?} after SIGINT\n--- stdout\n{stdout}--- stderr\n{stderr}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{show}");
    assert!(stopped_in < Duration::from_secs(5), "{show}");
    let output = Output {
        status: status.unwrap(),
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    };
    let run = Run::new(output, stopped_in);
    run.expect(
        130,
        &["  0 flags downloaded.", "  2 cancelled."],
        &["BR cancelled", "CN cancelled"],
    );
    assert_eq!(server.hits(&flag_path("BR")), 1, "the retry never started");
    sandbox.assert_files(&[], &run.show());
}

#[test]
fn sigterm_mid_run_stops_as_cleanly_as_sigint() {
    interrupt_mid_run("async", "TERM");
}

fn sigint_mid_run_reports_cancelled_and_leaves_only_complete_flags(mode: &str) {
    interrupt_mid_run(mode, "INT");
}

/// Starts `--all -m 50 --delay 2..3 -v` on the embedded server, waits for the first flag
/// to be saved, sends `signal`, and checks the run stops at once and cleanly.
fn interrupt_mid_run(mode: &str, signal: &str) {
    let sandbox = scratch();
    let mut cmd = command(bin_path());
    cmd.current_dir(sandbox.path())
        .args(["--all", "-m", "50", "--delay", "2..3", "-v", "--mode", mode])
        .arg("-o")
        .arg(sandbox.out());
    let mut child = Spawned::start(cmd);

    // The report's header, then the first code done: the run is mid-way.
    let mut stdout = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stdout.lines().any(|l| without_phases(l).ends_with(" OK")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.next_line(left) {
            Ok(line) => stdout.push_str(&line),
            Err(e) => panic!("no flag downloaded ({e}); stdout so far:\n{stdout}"),
        }
    }
    assert!(
        stdout
            .lines()
            .any(|l| l == "50 concurrent connections will be used."),
        "{stdout}"
    );

    child.signal(signal);
    let sent = Instant::now();
    let status = child
        .wait(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIG{signal}; stdout:\n{stdout}"));
    let stopped_in = sent.elapsed();
    let (rest, stderr) = child.kill();
    stdout.push_str(&rest);
    let show = format!(
        "exit {:?}, {stopped_in:.2?} after SIG{signal}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        status.code(),
    );
    assert_eq!(status.code(), Some(130), "{show}");
    assert!(stopped_in < Duration::from_secs(5), "{show}");
    assert!(stderr.contains("flags-dl: interrupted; stopping"), "{show}");

    // The report: every code once, as OK or cancelled, and counts that agree.
    let report = Report::parse(&stdout).unwrap_or_else(|why| panic!("{why}\n{show}"));
    let mut ok = BTreeSet::new();
    let mut cancelled = 0;
    let mut seen = BTreeSet::new();
    for line in &report.verbose {
        let (cc, what) = split_verbose(line);
        assert!(seen.insert(cc.to_string()), "{cc} reported twice\n{show}");
        match what {
            "OK" => {
                ok.insert(cc.to_string());
            }
            "cancelled" => cancelled += 1,
            _ => panic!("unexpected line {line:?}\n{show}"),
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        all_codes(),
        "every code accounted for\n{show}"
    );
    assert!(cancelled > 0, "{show}");
    let tally = Tally::of(&report.verbose);
    assert_eq!(report.counts, tally.count_lines(), "{show}");

    // The folder: exactly the flags reported OK, each complete; no temporaries.
    assert_eq!(file_names(sandbox.root()), ["cwd"], "{show}");
    assert_eq!(file_names(sandbox.path()), ["out"], "{show}");
    let want: Vec<String> = ok
        .iter()
        .map(|cc| format!("{}.gif", cc.to_ascii_lowercase()))
        .collect();
    assert_eq!(file_names(&sandbox.out()), want, "{show}");
    for name in &want {
        assert_decodable_gif(name, &std::fs::read(sandbox.out().join(name)).unwrap());
    }
}

// ---- Load and peers ----

in_both_modes!(every_pair_with_1000_in_flight_against_a_slow_server);

fn every_pair_with_1000_in_flight_against_a_slow_server(mode: &str) {
    let server = Server::start(&["--delay", "0.5"]);
    let sandbox = scratch();
    let started = Instant::now();
    let output = flags_dl()
        .timeout(RUN_LIMIT)
        .current_dir(sandbox.path())
        .args(["--every", "-m", "1000", "-v", "--mode", mode])
        .args(["-s", &server.base_url, "-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    let run = Run::new(output, started.elapsed());
    assert_eq!(run.code(), Some(0), "{}", run.show());
    assert_eq!(run.counts, ["194 flags downloaded.", "482 not found."]);
    let stdout = text(&run.output.stdout);
    // The book's min(max_req, number of codes).
    assert!(
        stdout.contains("\n676 concurrent connections will be used.\n"),
        "{}",
        run.show()
    );
    let mut by_code = BTreeMap::new();
    for line in &run.verbose {
        let (cc, what) = split_verbose(line);
        assert!(
            by_code.insert(cc.to_string(), what.to_string()).is_none(),
            "{cc} twice"
        );
    }
    assert_eq!(by_code.len(), 676, "every code accounted for");
    let found: Vec<String> = by_code
        .iter()
        .filter(|(_, what)| *what == "OK")
        .map(|(cc, _)| cc.clone())
        .collect();
    assert_eq!(found, all_codes());
    assert!(by_code
        .values()
        .all(|what| what == "OK" || what == "not found"));
    let want: Vec<String> = found
        .iter()
        .map(|cc| format!("{}.gif", cc.to_ascii_lowercase()))
        .collect();
    assert_eq!(file_names(&sandbox.out()), want);
    for name in &want {
        assert_decodable_gif(name, &std::fs::read(sandbox.out().join(name)).unwrap());
    }
}

in_both_modes!(
    python_http_server_serves_the_books_flags_byte_for_byte,
    python_http_server_at_100_in_flight_needs_no_retry,
    a_rate_limited_server_gets_every_flag_with_few_refusals,
    a_fast_server_still_reaches_max_req_in_flight,
);

fn python_http_server_serves_the_books_flags_byte_for_byte(mode: &str) {
    python_http_server(mode, &[]);
}

/// The book's own set-up (issue 9): `-m 100` against a server whose listen queue holds 5.
/// No retries: a handshake the kernel dropped and left to TCP's retransmission would be a
/// timeout here, and a lost flag.
fn python_http_server_at_100_in_flight_needs_no_retry(mode: &str) {
    let Some(summary) = python_http_server(mode, &["--retries", "0"]) else {
        return;
    };
    // Opening all 100 at once, about 95 handshakes were dropped, each sent again by TCP a
    // second later; each is now made again at once, a couple of milliseconds in, as many
    // times as it takes (late_connects counts them).
    let late = summary.more["late_connects"].as_u64().unwrap();
    println!(
        "{mode}: {late} connection attempts late, {} s",
        summary.elapsed_s
    );
    assert!(
        summary.elapsed_s < 1.0,
        "a handshake waited out TCP's retransmission: {summary:?}"
    );
}

/// Issue 9: a server that allows 50 requests a second and refuses the rest with 429 and
/// `Retry-After: 1` (scripts/ratelimit_server.py). Every flag arrives with the default
/// options, and the shared backoff keeps the refusals to a few per second of the run,
/// not hundreds.
fn a_rate_limited_server_gets_every_flag_with_few_refusals(mode: &str) {
    let Some(flags) = shared_flags() else {
        println!("skipping: ../shared/flags is absent");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ratelimit_server.py");
    let script = script.to_str().unwrap();
    let Some(server) = Server::python(&[script, "--quiet", "--port", "0"], flags.parent().unwrap())
    else {
        return;
    };
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(RUN_LIMIT)
        .current_dir(sandbox.path())
        .args(["--all", "--json", "--mode", mode, "-s", &server.base_url])
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    let summary = parse_ndjson(&text(&output.stdout)).summary;
    assert_eq!(summary.ok, 194, "{}", text(&output.stderr));
    assert!(summary.more["pace_lowered"].as_u64().unwrap() >= 1);
    let stats: serde_json::Value = serde_json::from_slice(&server.get("/__stats").body).unwrap();
    let refused = stats["refused"].as_u64().unwrap();
    println!("{mode}: {refused} requests refused");
    assert!(refused <= 40, "{refused} requests refused: {stats}");
}

/// Issue 9: pacing costs a server that takes every connection nothing: the embedded
/// server, with a delay, has all of `-m` in flight at once (the bench's gauge).
fn a_fast_server_still_reaches_max_req_in_flight(mode: &str) {
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(RUN_LIMIT)
        .current_dir(sandbox.path())
        .args([
            "--all", "--json", "--delay", "0.3", "-m", "50", "--mode", mode,
        ])
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    let summary = parse_ndjson(&text(&output.stdout)).summary;
    assert_eq!(summary.ok, 194);
    assert_eq!(summary.more["peak_in_flight"], 50, "{summary:?}");
}

/// `--all -m 100 <extra>` from `python3 -m http.server` serving `../shared`: every flag
/// downloaded, byte for byte the book's file. Returns the NDJSON summary; `None` where
/// the test is skipped.
fn python_http_server(mode: &str, extra: &[&str]) -> Option<Summary> {
    let Some(flags) = shared_flags() else {
        println!("skipping: ../shared/flags is absent");
        return None;
    };
    let python = Server::python(&["-m", "http.server", "0"], flags.parent().unwrap())?;
    let sandbox = scratch();
    let output = flags_dl()
        .timeout(RUN_LIMIT)
        .current_dir(sandbox.path())
        .args(["--all", "--json", "-m", "100", "--mode", mode])
        .args(["-s", &python.base_url])
        .args(extra)
        .args(["-o", &sandbox.out_arg()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let summary = parse_ndjson(&text(&output.stdout)).summary;
    assert_eq!(summary.ok, 194, "{}", show(&output));
    let names: Vec<String> = all_codes()
        .iter()
        .map(|cc| format!("{}.gif", cc.to_ascii_lowercase()))
        .collect();
    assert_eq!(file_names(&sandbox.out()), names);
    for cc in all_codes() {
        let cc = cc.to_ascii_lowercase();
        let served = std::fs::read(flags.join(&cc).join(format!("{cc}.gif"))).unwrap();
        let saved = std::fs::read(sandbox.out().join(format!("{cc}.gif"))).unwrap();
        assert!(saved == served, "{cc}.gif differs from ../shared/flags");
    }
    Some(summary)
}

// ---- The flag server under abuse ----

#[test]
fn serve_answers_promptly_with_500_idle_and_half_sent_connections_open() {
    let server = Server::start(&[]);
    let mut held = Vec::new();
    for i in 0..500 {
        let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        match i % 10 {
            // A request line cut short, and headers never finished.
            0 => stream.write_all(b"GET /flags/br/br.g").unwrap(),
            1 => stream
                .write_all(b"GET /flags/br/br.gif HTTP/1.1\r\nHost: x\r\n")
                .unwrap(),
            _ => {}
        }
        held.push(stream);
    }
    let started = Instant::now();
    let answer = raw_request(server.addr, "GET", "/flags/br/br.gif");
    let took = started.elapsed();
    assert_eq!(answer.status, Some(200), "{}", answer.head);
    assert!(answer.body.starts_with(b"GIF89a"));
    assert!(
        took < Duration::from_secs(2),
        "answered in {took:?} with 500 idle connections open"
    );

    // And a real run still works beside them.
    let sandbox = scratch();
    let run = fetch(&sandbox, "async", &server.base_url, &["BR", "CN"]);
    run.expect(0, &["  2 flags downloaded."], &["BR OK", "CN OK"]);
    drop(held);
}

#[test]
fn serve_refuses_path_traversal() {
    // A folder with a secret beside the served one, for --dir.
    let tmp = scratch();
    std::fs::create_dir_all(tmp.path().join("flags/br")).unwrap();
    std::fs::write(tmp.path().join("flags/br/br.gif"), gif_bytes("br")).unwrap();
    std::fs::write(
        tmp.path().join("secret"),
        "root:x:0:0:root:/root:/bin/bash\n",
    )
    .unwrap();
    let dir = tmp.path().join("flags");
    let generated = Server::start(&[]);
    let folder = Server::start(&["--dir", dir.to_str().unwrap()]);
    assert_eq!(folder.get("/flags/br/br.gif").body, gif_bytes("br"));

    let targets = [
        "/flags/../../etc/passwd",
        "/flags/..%2f..%2fetc%2fpasswd",
        "/flags/%2e%2e/%2e%2e/etc/passwd",
        "/flags/..\\..\\etc\\passwd",
        "/flags/../../../../../../../../etc/passwd",
        "/flags/br/../../../../etc/passwd",
        "/flags/../secret",
        "/flags/%2e%2e/secret",
        "/flags/..%2fsecret",
        "/flags/..\\secret",
        "/flags/br/..%2f..%2fsecret",
        "/../secret",
        "//etc/passwd",
        "/etc/passwd",
        "http://127.0.0.1/flags/../secret",
    ];
    for server in [&generated, &folder] {
        for target in targets {
            let answer = raw_request(server.addr, "GET", target);
            assert!(
                matches!(answer.status, Some(400 | 404)),
                "{target}: {:?}\n{}",
                answer.status,
                answer.head
            );
            assert!(
                !String::from_utf8_lossy(&answer.body).contains("root:"),
                "{target} leaked a file"
            );
        }
    }
}

#[test]
fn serve_error_rate_above_one_is_a_usage_error() {
    let output = flags_dl()
        .timeout(RUN_LIMIT)
        .args(["serve", "--port", "0", "--error-rate", "1.5"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(text(&output.stdout), "");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("error: invalid value '1.5' for '--error-rate <P>'"),
        "{stderr}"
    );
    // One error line; the rest is clap's usual pointer to --help.
    assert_eq!(
        &lines[1..],
        ["For more information, try '--help'."],
        "{stderr}"
    );
}

#[test]
fn serve_injected_503_carries_retry_after() {
    let server = Server::start(&[
        "--error-status",
        "503",
        "--retry-after",
        "2",
        "--error-rate",
        "1",
    ]);
    let answer = server.get("/flags/br/br.gif");
    assert_eq!(answer.status, Some(503), "{}", answer.head);
    assert_eq!(answer.header("retry-after"), Some("2"), "{}", answer.head);

    let sandbox = scratch();
    let run = fetch(
        &sandbox,
        "async",
        &server.base_url,
        &["BR", "--retries", "0"],
    );
    run.expect(
        1,
        &["  0 flags downloaded.", "  1 error."],
        &["BR error: HTTP 503 Service Unavailable"],
    );
    sandbox.assert_files(&[], &run.show());
}

// ---- The fault server itself ----

#[test]
fn fault_server_gif_decodes_and_hits_are_counted() {
    assert_decodable_gif("gif_bytes", &gif_bytes("br"));
    let server = FaultServer::start();
    server.flag(
        "BR",
        Scenario::Sequence(vec![Scenario::Status(503), Scenario::NotFound]),
    );
    let first = raw_request(server.addr(), "GET", "/br/br.gif?x=1");
    let second = raw_request(server.addr(), "GET", "/br/br.gif");
    let third = raw_request(server.addr(), "GET", "/br/br.gif");
    assert_eq!(
        (first.status, second.status, third.status),
        (Some(503), Some(404), Some(404))
    );
    // A bare connection, as flags-dl's reachability check makes, is not a hit.
    drop(TcpStream::connect(server.addr()).unwrap());
    assert_eq!(server.hits("/br/br.gif"), 3);
    assert_eq!(server.total_hits(), 3);
}
