//! The phases of each exchange (`timings` and `connection` in the NDJSON), in every mode:
//! against a server that delays each answer, one whose connections pay a round trip for
//! each handshake, and `python3 -m http.server`. Only lower bounds that the server itself
//! sets are checked, never how fast this machine is.

use crate::harness::{
    flags_dl, json_run, parse_ndjson, run, scratch, shared_flags, show, text, CodeLine, Server,
    Status,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const MODES: [&str; 3] = ["async", "threads", "sequential"];

/// A record's phases after `queued` add up to its `ms` (which counts whole milliseconds)
/// for a code fetched in one exchange; they are the last exchange's, so never more.
/// How many exchanges each code took, the record does not say: the run's HAR does.
fn assert_adds_up(line: &CodeLine, exchanges: &BTreeMap<String, usize>) {
    // `ms` is the time truncated to whole milliseconds, the phases each rounded to the
    // nearest microsecond: six of them may sum to up to 3 µs more than the time they
    // split (a code that took 25.9995 ms has `ms` 25 and phases that may sum to 26.002).
    const ROUNDING: f64 = 6.0 * 0.0005;
    let timings = line
        .timings
        .unwrap_or_else(|| panic!("no timings: {line:?}"));
    assert!(timings.queued.is_some(), "{line:?}");
    let (sum, ms) = (timings.after_queue(), line.ms as f64);
    assert!(
        sum <= ms + 1.0 + ROUNDING,
        "the last exchange is within ms: {line:?}"
    );
    if exchanges.get(&line.cc) == Some(&1) {
        assert!(
            sum >= ms - 1.0,
            "the phases after queued add up to {sum} ms, not ms = {ms}: {line:?}"
        );
    }
}

/// How many exchanges each code (lower case) took, from the HAR at `path`.
fn exchanges_per_code(path: &Path) -> BTreeMap<String, usize> {
    let har: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut counts = BTreeMap::new();
    for entry in har["log"]["entries"].as_array().unwrap() {
        let url = entry["request"]["url"].as_str().unwrap();
        // `…/flags/<cc>/<cc>.gif`
        let cc = url.rsplit('/').nth(1).unwrap().to_string();
        *counts.entry(cc).or_insert(0) += 1;
    }
    counts
}

#[test]
fn against_a_delaying_server_every_wait_is_at_least_the_delay_in_every_mode() {
    for (mode, args) in [
        ("async", &["--all", "-m", "200"][..]),
        ("threads", &["-l", "40", "A", "B", "C", "-m", "20"]),
        ("sequential", &["BR", "CN", "IN"]),
    ] {
        let dir = scratch();
        let mut all = vec![
            "--json", "--delay", "0.5", "--mode", mode, "--har", "run.har", "-o", "out",
        ];
        all.extend_from_slice(args);
        let out = run(dir.path(), &all);
        let json = json_run(&out, 0);
        let exchanges = exchanges_per_code(&dir.path().join("run.har"));
        for line in json.codes.values() {
            let wait = line.timings.and_then(|t| t.wait);
            assert!(
                wait.is_some_and(|wait| wait >= 495.0),
                "{mode}: wait under the server's 0.5 s: {line:?}"
            );
            assert_adds_up(line, &exchanges);
        }
    }
}

/// `--tls --latency 50`: each handshake pays a round trip. A new connection's `connect`
/// and `tls` together take at least that; a request on a connection that an earlier one
/// opened has neither.
#[test]
fn over_tls_with_a_round_trip_new_connections_pay_it_and_reused_ones_do_not() {
    for (mode, extra) in [
        ("async", &["-m", "8"][..]),
        ("async", &["-m", "4", "--http1.1"]),
        ("threads", &["-m", "4"]),
        ("sequential", &[]),
    ] {
        let dir = scratch();
        let mut args = vec![
            "--json",
            "--har",
            "run.har",
            "--tls",
            "--latency",
            "50",
            "--mode",
            mode,
            "-l",
            "12",
            "A",
            "B",
            "-o",
            "out",
        ];
        args.extend_from_slice(extra);
        let out = run(dir.path(), &args);
        let json = json_run(&out, 0);
        let exchanges = exchanges_per_code(&dir.path().join("run.har"));
        let mut new_ids = Vec::new();
        let mut reused = 0;
        for line in json.codes.values() {
            let timings = line.timings.unwrap();
            let connection = line
                .connection
                .unwrap_or_else(|| panic!("{mode}: no connection: {line:?}"));
            if connection.new {
                let handshakes = timings.connect.unwrap() + timings.tls.unwrap_or(0.0);
                assert!(
                    handshakes >= 50.0,
                    "{mode} {extra:?}: a new connection's connect + tls under 50 ms: {line:?}"
                );
                new_ids.push(connection.id);
            } else {
                assert_eq!(
                    (timings.dns, timings.connect, timings.tls),
                    (None, None, None),
                    "{mode}: a reused connection's handshakes: {line:?}"
                );
                reused += 1;
            }
            if mode != "async" {
                // ureq tells TCP from TLS: the round trip is in the TLS handshake.
                assert!(
                    !connection.new || timings.tls.is_some_and(|tls| tls >= 25.0),
                    "{mode}: {line:?}"
                );
            }
            assert_adds_up(line, &exchanges);
        }
        let opened = new_ids.len();
        new_ids.sort_unstable();
        new_ids.dedup();
        assert_eq!(
            new_ids.len(),
            opened,
            "{mode}: one new request per connection"
        );
        assert!(
            reused > 0,
            "{mode} {extra:?}: every request on a new connection"
        );
    }
}

#[test]
fn against_python_http_server_the_phases_add_up_in_every_mode() {
    let Some(flags) = shared_flags() else {
        println!("skipping: ../shared/flags is absent");
        return;
    };
    let Some(python) = Server::python(&["-m", "http.server", "0"], flags.parent().unwrap()) else {
        return;
    };
    for mode in MODES {
        let dir = scratch();
        let output = flags_dl()
            .current_dir(dir.path())
            .args(["--all", "--json", "-m", "100", "--mode", mode])
            .args(["-s", &python.base_url, "--har", "run.har", "-o", "out"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", show(&output));
        let json = parse_ndjson(&text(&output.stdout));
        assert_eq!(json.with_status(Status::Ok).len(), 194);
        let exchanges = exchanges_per_code(&dir.path().join("run.har"));
        for line in json.codes.values() {
            let timings = line.timings.unwrap();
            assert!(timings.dns.is_none(), "127.0.0.1 needs no lookup: {line:?}");
            assert!(timings.wait.is_some() && timings.receive.is_some());
            assert!(timings.save.is_some(), "a saved flag: {line:?}");
            assert_adds_up(line, &exchanges);
        }
    }
}

/// `-v` lines end with the phases in short form, and the NDJSON summary sums them over the
/// run: against a server that delays each answer 0.2 s, its `wait` is at least that per
/// request, and the requests held back by `-m 2` show in `queued`.
#[test]
fn verbose_lines_end_with_the_phases_and_the_summary_sums_them() {
    let dir = scratch();
    let args = [
        "BR", "CN", "IN", "US", "--delay", "0.2", "-m", "2", "-o", "out",
    ];
    let out = run(dir.path(), &[&args[..], &["-v"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    let verbose: Vec<&str> = stdout.lines().filter(|l| l.contains(" OK")).collect();
    assert_eq!(verbose.len(), 4, "{stdout}");
    for line in verbose {
        let phases = line
            .split_once("  [")
            .and_then(|(_, p)| p.strip_suffix(" ms]"))
            .unwrap_or_else(|| panic!("no phases at the end: {line:?}"));
        assert!(
            phases.starts_with("q ") && phases.contains(" w "),
            "{line:?}"
        );
    }
    let out = run(dir.path(), &[&args[..], &["--json"]].concat());
    let json = json_run(&out, 0);
    let summed = &json.summary.more["timings"];
    assert!(summed["wait"].as_f64().unwrap() >= 4.0 * 195.0, "{summed}");
    assert!(
        summed["queued"].as_f64().unwrap() >= 2.0 * 195.0,
        "{summed}"
    );
    assert!(summed["tls"].is_null(), "no TLS: {summed}");
}
