//! `--timeline FILE.svg` and `--trace FILE.json`: what a run's pictures show, read back
//! from the files the built binary writes against its embedded server.

use crate::harness::{
    assert_exit, file_names, flags_dl, one_stderr_line, run, scratch, show, text,
};

/// The numbers of `attr="…"` on the lines holding `marker`.
fn attributes<'a>(svg: &'a str, marker: &str, attr: &str) -> Vec<&'a str> {
    let key = format!("{attr}=\"");
    svg.lines()
        .filter(|line| line.contains(marker))
        .filter_map(|line| {
            let start = line.find(&key)? + key.len();
            Some(&line[start..start + line[start..].find('"')?])
        })
        .collect()
}

#[test]
fn a_timeline_shows_one_bar_per_code_and_max_req_in_flight() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &[
            "--all",
            "--delay",
            "0.2",
            "-m",
            "50",
            "--timeline",
            "t.svg",
            "--trace",
            "t.json",
            "-o",
            "out",
        ],
    );
    assert_exit(&out, 0);
    let svg = std::fs::read_to_string(dir.path().join("t.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // Every code exactly once, each a download.
    let mut codes = attributes(&svg, r#"class="bar""#, "data-cc");
    assert_eq!(codes.len(), 194, "{}", show(&out));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 194, "one bar per code");
    assert!(attributes(&svg, r#"class="bar""#, "data-kind")
        .iter()
        .all(|kind| *kind == "downloaded"));
    // The curve reaches -m, and never more.
    assert_eq!(
        attributes(&svg, r#"class="in-flight""#, "data-peak"),
        ["50"]
    );
    // The gauge: every code queued from the start, at most -m of them on the wire.
    assert_eq!(attributes(&svg, r#"class="queued""#, "data-peak"), ["194"]);
    let wire: Vec<usize> = attributes(&svg, r#"class="on-the-wire""#, "data-peak")
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(matches!(wire[..], [n] if (1..=50).contains(&n)), "{wire:?}");
    // The waterfall: each code waited for the server's 0.2 s, in the wait phase.
    assert!(attributes(&svg, r#"data-phase="wait""#, "width").len() >= 194);
    // Bars lie within the run: x from the plot's left edge, never past its right.
    for x in attributes(&svg, r#"class="bar""#, "x") {
        let x: f64 = x.parse().unwrap();
        assert!((60.0..=940.0).contains(&x), "bar at x {x}");
    }
    // Written atomically: nothing else left beside the two files.
    assert_eq!(file_names(dir.path()), ["out", "t.json", "t.svg"]);

    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), 194, "one event per request");
    for event in &complete {
        assert!(event["ts"].is_u64() && event["dur"].is_u64() && event["tid"].is_u64());
        assert_eq!(event["cat"], "downloaded");
    }
    let tracks = events.iter().filter(|e| e["name"] == "thread_name").count();
    assert_eq!(tracks, 194, "a track per task in async mode");
}

#[test]
fn threads_mode_traces_a_track_per_worker_thread() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &[
            "--all", "--mode", "threads", "-m", "8", "--trace", "t.json", "-o", "out",
        ],
    );
    assert_exit(&out, 0);
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let tracks: Vec<_> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(
        !tracks.is_empty() && tracks.len() <= 8,
        "{tracks:?}: at most one track per worker"
    );
    assert!(tracks.iter().all(|t| t.starts_with("flags-")), "{tracks:?}");
}

#[test]
fn a_picture_into_a_missing_folder_is_refused_before_the_run() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &["BR", "--timeline", "no/such/t.svg", "-o", "out"],
    );
    assert_exit(&out, 2);
    let line = one_stderr_line(&out);
    assert!(line.contains("--timeline no/such/t.svg"), "{line}");
    assert!(!dir.path().join("out").exists(), "nothing downloaded");
}

/// `--timeline`, `--trace` and the bench's exports replaced what stood at their name with
/// a regular file: a link to `/proc/self/fd/1`, a character device (as root,
/// `--export-csv /dev/stdout` would have replaced the system's node). What stands there is
/// now written as it is, and stays.
#[test]
fn reports_into_a_link_to_stdout_or_to_a_device_are_written_through_it() {
    use std::os::unix::fs::symlink;
    let dir = scratch();
    let to_stdout = dir.path().join("to-stdout");
    symlink("/proc/self/fd/1", &to_stdout).unwrap();
    let to_null = dir.path().join("to-null");
    symlink("/dev/null", &to_null).unwrap();
    let is_link = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().is_symlink();

    let out = flags_dl()
        .current_dir(dir.path())
        .args(["BR", "-q", "-o", &dir.out_arg()])
        .arg("--trace")
        .arg(&to_stdout)
        .arg("--timeline")
        .arg(&to_null)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\"traceEvents\""),
        "the trace on stdout: {stdout}"
    );
    assert!(
        is_link(&to_stdout) && is_link(&to_null),
        "the links stay links"
    );

    let bench = flags_dl()
        .current_dir(dir.path())
        .args([
            "bench", "--modes", "async", "-m", "2", "--runs", "1", "--warmup", "0",
        ])
        .args(["--delay", "0", "-l", "2", "--export-csv"])
        .arg(&to_stdout)
        .arg("--export-json")
        .arg(&to_null)
        .output()
        .unwrap();
    assert!(bench.status.success(), "{}", show(&bench));
    let stdout = text(&bench.stdout);
    assert!(
        stdout.contains("mode,http_offered,"),
        "the CSV on stdout: {stdout}"
    );
    assert!(
        is_link(&to_stdout) && is_link(&to_null),
        "the links stay links"
    );
}

/// `--trace` into a folder that cannot be written in failed only after the whole run,
/// which was then lost; it now fails before any download, as `-o` does.
#[test]
fn a_trace_that_cannot_be_written_fails_before_the_run() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &[
            "--all",
            "-o",
            &dir.out_arg(),
            "--trace",
            "/proc/self/trace.json",
        ],
    );
    assert_exit(&out, 1);
    let line = one_stderr_line(&out);
    assert!(
        line.contains("cannot write the trace to /proc/self/trace.json"),
        "{line}"
    );
    assert!(
        file_names(&dir.out()).is_empty(),
        "nothing downloaded first"
    );
}
