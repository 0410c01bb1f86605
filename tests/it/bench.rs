//! `flags-dl bench` end to end: the built binary, a tiny bench against the embedded server,
//! every export read back, and the usage errors of its lists.
//!
//! Kept small (5 codes, no delay, one run) so it takes well under a second of downloading;
//! the timing itself is not checked here, only that every run is recorded everywhere. What
//! a run costs (memory, threads) is checked where the modes must differ: 50 requests in
//! flight on 50 threads, or on a runtime of a few.

use crate::harness::bin_path;
use crate::harness::{
    command, file_names, flags_dl, free_port, scratch, tool, Spawned, RUN_TIMEOUT,
};
use std::path::Path;

const TINY: [&str; 12] = [
    "bench",
    "--modes",
    "sequential,async",
    "--max-req",
    "1,4",
    "--runs",
    "1",
    "--warmup",
    "0",
    "--delay",
    "0",
    "-l",
];

/// (mode, max-req) lines of the tiny bench: sequential once, async at each level.
const LINES: [(&str, u64); 3] = [("sequential", 1), ("async", 1), ("async", 4)];

#[test]
fn a_tiny_bench_prints_its_table_and_writes_every_export() {
    let dir = scratch();
    let file = |name: &str| dir.path().join(name);
    let stdout = stdout_of_success(
        flags_dl()
            .args(TINY)
            .arg("5")
            .arg("--export-json")
            .arg(file("bench.json"))
            .arg("--export-csv")
            .arg(file("bench.csv"))
            .arg("--export-markdown")
            .arg(file("bench.md"))
            .arg("--plot")
            .arg(file("bench.svg")),
    );
    assert!(stdout.contains("5 flags"), "{stdout}");
    for (mode, m) in LINES {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(mode) && l.contains(&format!("-m {m} ")))
            .unwrap_or_else(|| panic!("no line for {mode} -m {m}:\n{stdout}"));
        assert!(
            line.contains(" in flight") && line.contains("0 errors"),
            "{line}"
        );
    }

    // JSON: the settings, one record per run, one summary row per line.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("bench.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["settings"]["code_count"], 5);
    assert_eq!(json["settings"]["runs"], 1);
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), LINES.len());
    for (run, (mode, m)) in runs.iter().zip(LINES) {
        assert_eq!(
            (run["mode"].as_str(), run["max_req"].as_u64()),
            (Some(mode), Some(m))
        );
        assert_eq!(run["run"], 1);
        assert_eq!(
            (run["ok"].as_u64(), run["errors"].as_u64()),
            (Some(5), Some(0))
        );
        assert!(run["elapsed_s"].as_f64().unwrap() > 0.0);
        let peak = run["peak_in_flight"].as_u64().unwrap();
        assert!((1..=m).contains(&peak), "{run}");
    }
    assert_eq!(json["summary"].as_array().unwrap().len(), LINES.len());
    assert_eq!(json["summary"][0]["speedup"], 1.0);

    // CSV: a header and one row per run.
    let csv = std::fs::read_to_string(file("bench.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + LINES.len(), "{csv}");
    assert!(
        rows[0].starts_with("mode,http_offered,http_version,max_req,"),
        "{csv}"
    );
    assert!(rows[1].starts_with("sequential,1.1,1.1,1,1,1,"), "{csv}");

    // Each line keeps where its time went: the phases' medians, a wait for every line.
    for line in json["summary"].as_array().unwrap() {
        let wait = line["phases"]["wait_ms"].as_f64();
        assert!(wait.is_some_and(|ms| ms > 0.0), "{line}");
    }

    // Markdown: a header, its rule, one row per line; then where the time went, the same.
    let md = std::fs::read_to_string(file("bench.md")).unwrap();
    let (md, phases) = md.split_once("\n\n").unwrap();
    let rows: Vec<&str> = md.lines().collect();
    assert_eq!(rows.len(), 2 + LINES.len(), "{md}");
    let phase_rows: Vec<&str> = phases.lines().skip(2).collect();
    assert_eq!(phase_rows.len(), 2 + LINES.len(), "{phases}");
    assert!(phase_rows[0].contains("| queued |"), "{phases}");
    assert!(
        rows[0].starts_with("| mode |") && rows[1].starts_with("|:--"),
        "{md}"
    );
    for (row, (mode, m)) in rows[2..].iter().zip(LINES) {
        assert!(
            row.starts_with(&format!("| {mode} | HTTP/1.1 | {m} |")),
            "{md}"
        );
    }

    // SVG: well-formed, and it names every mode.
    let svg = std::fs::read_to_string(file("bench.svg")).unwrap();
    assert_well_formed(&file("bench.svg"), &svg);
    for mode in ["sequential", "async"] {
        assert!(svg.contains(mode), "the chart does not name {mode}");
    }
    assert!(svg.contains("max requests in flight (-m)") && svg.contains("elapsed time (s)"));

    // No temporary file is left beside the exports.
    let names = file_names(dir.path());
    assert_eq!(names.len(), 4, "{names:?}");
}

/// Threads and async at -m 50 on the embedded server (194 flags, 20 ms each, so 50 are in
/// flight for a while): one run each, with every export and the chart.
fn bench_at_50(dir: &Path) -> std::process::Output {
    flags_dl()
        .args([
            "bench",
            "--modes",
            "threads,async",
            "-m",
            "50",
            "--runs",
            "1",
        ])
        .args(["--warmup", "0", "--delay", "0.02", "--all"])
        .arg("--export-json")
        .arg(dir.join("bench.json"))
        .arg("--export-csv")
        .arg(dir.join("bench.csv"))
        .arg("--export-markdown")
        .arg(dir.join("bench.md"))
        .arg("--plot")
        .arg(dir.join("bench.svg"))
        .assert()
        .success()
        .get_output()
        .clone()
}

#[test]
fn each_run_has_its_memory_and_threads_and_threads_mode_uses_more_threads() {
    let dir = scratch();
    let output = bench_at_50(dir.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap())
            .unwrap();
    let runs = json["runs"].as_array().unwrap();
    let cost = |mode: &str| {
        let run = runs.iter().find(|r| r["mode"] == mode).unwrap();
        // At most 50: the pace may hold some back on a loaded machine.
        assert!(run["peak_in_flight"].as_u64() <= Some(50), "{run}");
        let rss = run["peak_rss_bytes"].as_u64().unwrap();
        let threads = run["peak_threads"].as_u64().unwrap();
        // A process that downloaded 194 flags: some MiB, well under a GiB.
        assert!((1 << 20..1 << 30).contains(&rss), "{mode}: {rss} bytes");
        assert!(run["cpu_s"].as_f64().unwrap() > 0.0, "{run}");
        (rss, threads)
    };
    let (threads_rss, threads) = cost("threads");
    let (async_rss, tasks) = cost("async");
    // A pool of 50 workers besides the main thread; a runtime of one worker per core.
    assert!(threads > 50, "threads mode: {threads} threads");
    assert!(tasks < 50, "async mode: {tasks} threads");
    assert!(threads_rss > 0 && async_rss > 0);

    // The table shows both, on each line.
    for mode in ["threads", "async"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(mode))
            .unwrap_or_else(|| panic!("no line for {mode}:\n{stdout}"));
        assert!(
            line.contains(" MiB ") && line.contains(" threads"),
            "{line}"
        );
    }
    let summary = json["summary"].as_array().unwrap();
    assert!(summary
        .iter()
        .all(|row| row["peak_rss_bytes"].as_u64() > Some(0)));
    assert!(summary
        .iter()
        .all(|row| row["peak_threads"].as_u64() > Some(0)));

    // Markdown: the two columns, filled.
    let md = std::fs::read_to_string(dir.path().join("bench.md")).unwrap();
    assert!(
        md.lines()
            .next()
            .unwrap()
            .contains("| peak RSS (MiB) | threads |"),
        "{md}"
    );
    let threads_row = md.lines().find(|l| l.starts_with("| threads |")).unwrap();
    assert!(
        threads_row.ends_with(&format!("| {threads} |")),
        "{threads_row}"
    );

    // The chart's second panel: memory and threads against -m.
    let svg = std::fs::read_to_string(dir.path().join("bench.svg")).unwrap();
    assert_well_formed(&dir.path().join("bench.svg"), &svg);
    assert!(svg.contains("peak memory of the run") && svg.contains("most OS threads of the run"));
}

/// The peak memory of a run is its process's own, not the bench's: a sequential run after
/// 676 requests at once (which grow the bench's embedded server) reports what the same
/// run reports alone. wait4's `ru_maxrss` gave the bench's own memory here (11 MiB after
/// such a run against 6 MiB alone), because Linux counts in it the address space a child
/// had before `exec`, which a vfork-spawned child shares with its parent.
#[test]
fn a_runs_memory_is_its_own_not_the_benchs() {
    let sequential_rss = |modes: &str| {
        let dir = scratch();
        let json = dir.path().join("bench.json");
        flags_dl()
            .args([
                "bench", "--every", "--delay", "0", "-m", "1000", "--runs", "1",
            ])
            .args(["--warmup", "0", "--modes", modes, "--export-json"])
            .arg(&json)
            .assert()
            .success();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let runs = json["runs"].as_array().unwrap();
        let run = runs.iter().find(|r| r["mode"] == "sequential").unwrap();
        run["peak_rss_bytes"].as_u64().unwrap() as f64
    };
    let alone = sequential_rss("sequential");
    let after = sequential_rss("threads,sequential");
    assert!(
        after < alone * 1.3,
        "a sequential run: {:.1} MiB after a run of 676 threads, {:.1} MiB alone",
        after / 1048576.0,
        alone / 1048576.0
    );
}

#[test]
fn the_csv_header_is_the_records_fields_and_each_row_its_values() {
    let dir = scratch();
    bench_at_50(dir.path());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap())
            .unwrap();
    let csv = std::fs::read_to_string(dir.path().join("bench.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let runs = json["runs"].as_array().unwrap();
    let mut fields: Vec<&str> = runs[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut named = header.clone();
    fields.sort();
    named.sort();
    assert_eq!(
        named, fields,
        "the CSV header is not the JSON record's fields"
    );
    for (line, run) in lines.zip(runs) {
        let values: Vec<&str> = line.split(',').collect();
        assert_eq!(values.len(), header.len(), "{line}");
        for (name, value) in header.iter().zip(values) {
            let want = match &run[*name] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            assert_eq!(value, want, "{name} in {line}");
        }
    }
    assert_eq!(csv.lines().count(), 1 + runs.len(), "{csv}");
}

/// `--child-run` is hidden, but someone may still type it: one line says what it is for.
#[test]
fn child_run_by_hand_says_what_it_is_for() {
    let output = flags_dl()
        .args(["bench", "--child-run"])
        .write_stdin("not a spec\n")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is for flags-dl bench itself"), "{stderr}");
}

#[test]
fn per_code_errors_are_reported_not_fatal() {
    let dir = scratch();
    let csv = dir.path().join("runs.csv");
    let stdout = stdout_of_success(
        flags_dl()
            .args([
                "bench", "--modes", "async", "-m", "4", "--runs", "2", "--warmup", "0",
            ])
            .args([
                "--delay",
                "0",
                "--error-rate",
                "1",
                "-l",
                "3",
                "--export-csv",
            ])
            .arg(&csv),
    );
    assert!(stdout.contains("6 errors"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in text.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        let counts = [at("ok"), at("not_found"), at("errors")].map(|i| fields[i]);
        assert_eq!(counts, ["0", "0", "3"], "{text}");
    }
}

#[test]
fn bad_list_items_are_usage_errors_that_name_them() {
    for (args, item) in [
        (&["--max-req", "0,4"][..], "'0'"),
        (&["--max-req", "4,many"][..], "'many'"),
        (&["--modes", "async,turbo"][..], "'turbo'"),
        (&["--runs", "0"][..], "'0'"),
    ] {
        let stderr = usage_error(args);
        assert!(stderr.contains(item), "{args:?}: {stderr}");
    }
}

/// The stdout of a run that must succeed.
fn stdout_of_success(cmd: &mut assert_cmd::Command) -> String {
    let output = cmd.assert().success().get_output().clone();
    String::from_utf8(output.stdout).unwrap()
}

/// The stderr of `flags-dl bench ARGS`, which must be a usage error (exit 2) that ran
/// nothing.
fn usage_error(args: &[&str]) -> String {
    failed_start(2, args)
}

/// The stderr of `flags-dl bench ARGS`, which must exit with `code` having run nothing
/// (nothing on stdout).
fn failed_start(code: i32, args: &[&str]) -> String {
    let output = flags_dl()
        .arg("bench")
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone();
    assert!(output.stdout.is_empty(), "{args:?}: ran anyway");
    String::from_utf8(output.stderr).unwrap()
}

/// `bench --tls`: async is timed over HTTP/1.1 and over HTTP/2, threads over HTTP/1.1, and
/// every output says which version answered each line, not only which was asked for.
#[test]
fn a_bench_over_tls_compares_async_over_http_1_1_and_http_2_everywhere() {
    let dir = scratch();
    let file = |name: &str| dir.path().join(name);
    let stdout = stdout_of_success(
        flags_dl()
            .current_dir(dir.path())
            .args(["bench", "--tls", "--modes", "threads,async", "-m", "4"])
            .args(["--runs", "1", "--warmup", "0", "--delay", "0", "-l", "5"])
            .args(["--export-json", "b.json", "--export-csv", "b.csv"])
            .args(["--export-markdown", "b.md", "--plot", "b.svg"])
            .args(["--timeline", "t.svg"]),
    );
    assert!(stdout.contains("over HTTPS"), "{stdout}");
    // (mode, what answered) of each line, in the table's order.
    let lines = [
        ("threads", "HTTP/1.1"),
        ("async", "HTTP/1.1"),
        ("async", "HTTP/2"),
    ];
    let table: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.contains(" in flight "))
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    let want: Vec<Vec<&str>> = lines.iter().map(|&(m, h)| vec![m, h, "-m", "4"]).collect();
    assert_eq!(table, want, "{stdout}");

    // JSON: each run and each summary row say what was offered and what answered.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("b.json")).unwrap()).unwrap();
    assert_eq!(json["settings"]["tls"], true);
    assert_eq!(json["settings"]["http"], serde_json::json!(["1.1", "2"]));
    let versions = |key: &str| -> Vec<(String, String, String)> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let text = |field: &str| r[field].as_str().unwrap_or_default().to_string();
                (text("mode"), text("http_offered"), text("http_version"))
            })
            .collect()
    };
    let expected: Vec<(String, String, String)> = [
        ("threads", "1.1", "1.1"),
        ("async", "1.1", "1.1"),
        ("async", "2", "2"),
    ]
    .map(|(m, o, v)| (m.into(), o.into(), v.into()))
    .into();
    assert_eq!(versions("runs"), expected);
    assert_eq!(versions("summary"), expected);

    // CSV: the two columns, filled, one row per run.
    let csv = std::fs::read_to_string(file("b.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("mode,http_offered,http_version,max_req,"),
        "{csv}"
    );
    assert_eq!(
        rows[1..]
            .iter()
            .map(|r| r.split(',').take(4).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>(),
        ["threads,1.1,1.1,4", "async,1.1,1.1,4", "async,2,2,4"],
        "{csv}"
    );

    // Markdown: an HTTP column.
    let md = std::fs::read_to_string(file("b.md")).unwrap();
    for (mode, http) in lines {
        assert!(md.contains(&format!("| {mode} | {http} | 4 |")), "{md}");
    }

    // The chart: a series per (mode, version), and the legend names the versions.
    let svg = std::fs::read_to_string(file("b.svg")).unwrap();
    assert_well_formed(&file("b.svg"), &svg);
    assert!(
        svg.contains("async over HTTP/2:"),
        "the chart does not name HTTP/2"
    );
    assert!(
        svg.contains("async over HTTP/1.1:"),
        "the chart does not name HTTP/1.1"
    );

    // One timeline per line of the table: the HTTP/2 one named apart.
    let mut names: Vec<String> = file_names(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("t-"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["t-async-h2-m4.svg", "t-async-m4.svg", "t-threads-m4.svg"]
    );
}

/// HTTP/2 is offered only in a TLS handshake: asked for without one, the bench says so in
/// one line before it starts anything.
#[test]
fn http_2_without_tls_is_a_one_line_usage_error() {
    for args in [
        &["--http", "2"][..],
        &["--http", "1.1,2", "-s", "http://127.0.0.1:9/flags"][..],
    ] {
        let stderr = usage_error(args);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("--http 2 needs"), "{args:?}: {stderr}");
    }
}

#[test]
fn delay_with_another_server_is_a_usage_error() {
    usage_error(&["-s", "http://127.0.0.1:9/flags", "--delay", "0.5"]);
}

#[test]
fn an_unreachable_server_fails_to_start() {
    // A port that was free a moment ago: nothing listens there.
    let url = format!("http://127.0.0.1:{}/flags", free_port());
    let stderr = failed_start(1, &["-s", &url]);
    assert!(stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn an_export_into_a_missing_folder_fails_before_any_run() {
    let dir = scratch();
    let path = dir.path().join("missing").join("bench.json");
    let path = path.to_str().unwrap();
    let stderr = failed_start(1, &[&TINY[1..], &["5", "--export-json", path]].concat());
    assert!(stderr.contains("bench.json"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_runs_that_finished() {
    let dir = scratch();
    let (csv, json) = (dir.path().join("runs.csv"), dir.path().join("bench.json"));
    // Three runs of about 1 s each (5 codes, 0.2 s apiece, one at a time).
    let mut cmd = command(bin_path());
    cmd.args([
        "bench",
        "--modes",
        "sequential",
        "--runs",
        "3",
        "--warmup",
        "0",
    ])
    .args(["--delay", "0.2", "-l", "5", "--export-csv"])
    .arg(&csv)
    .arg("--export-json")
    .arg(&json);
    let child = Spawned::start(cmd);
    // Interrupt as soon as the first run is on file, so the second is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&csv).map_or(0, |t| t.lines().count()) < 2 {
        assert!(std::time::Instant::now() < deadline, "no run finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.signal("INT");
    let (status, stdout, _) = child.finish(RUN_TIMEOUT);
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("Interrupted"), "{stdout}");
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    assert!((1..3).contains(&rows), "{rows} runs on file");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["runs"].as_array().unwrap().len(), rows);
}

/// Regression: a second Ctrl-C, which exits at once, left the run's `flags-dl-bench-*`
/// folder in the temporary directory, with every flag the run had saved. From a terminal
/// both Ctrl-Cs reach the bench and its run's process alike: so here, sent to the process
/// group one after the other, once the run has saved flags. Nothing may be left in `TMPDIR`,
/// once every process of the bench has ended.
#[cfg(unix)]
#[test]
fn a_second_ctrl_c_leaves_no_run_folder_behind() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    let dir = scratch();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // One run of 20 flags, one at a time, 0.5 s each: mid-run for 10 s.
    let mut cmd = command(bin_path());
    cmd.args([
        "bench",
        "--modes",
        "sequential",
        "--runs",
        "1",
        "--warmup",
        "0",
    ])
    .args(["--delay", "0.5", "-l", "20"])
    .env("TMPDIR", &tmp)
    .current_dir(dir.path())
    .process_group(0);
    let child = Spawned::start(cmd);
    let group = child.id();
    let flags_saved = || -> usize {
        std::fs::read_dir(&tmp)
            .unwrap()
            .filter_map(|entry| std::fs::read_dir(entry.ok()?.path()).ok())
            .flat_map(|run| run.filter_map(Result::ok))
            .filter(|file| file.file_name().to_string_lossy().ends_with(".gif"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while flags_saved() < 2 {
        assert!(
            Instant::now() < deadline,
            "no run saved 2 flags in 60 s:\n{}",
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Two quick presses, a `kill` process each (a millisecond or two apart: one call
    // sending both could have them merged into one): the second comes before the run,
    // which looks at its cancellation every 50 ms, has finished the stop the first began.
    child.signal_group("INT");
    child.signal_group("INT");
    let (status, stdout, stderr) = child.finish(RUN_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(130),
        "--- stdout\n{stdout}--- stderr\n{stderr}"
    );
    // The run's process, orphaned once the bench exits, is still in the group: wait for
    // the group to empty before looking.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::process::Command::new("kill")
        .args(["-0", "--", &format!("-{group}")])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "the bench's run is still going");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        file_names(&tmp),
        Vec::<String>::new(),
        "left in TMPDIR after a second Ctrl-C"
    );
}

/// Parses the SVG with python3's XML parser where there is one, and always checks that its
/// tags balance.
fn assert_well_formed(path: &Path, svg: &str) {
    let python = tool("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])",
        ])
        .arg(path)
        .output();
    if let Ok(out) = python {
        assert!(
            out.status.success(),
            "not well-formed XML: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut open: Vec<&str> = vec![];
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("an unclosed tag");
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(closing.trim()), "mismatched </{closing}>");
        } else {
            open.push(tag.split_whitespace().next().unwrap_or(""));
        }
    }
    assert!(open.is_empty(), "unclosed tags: {open:?}");
    assert!(svg.trim_start().starts_with("<svg") || svg.trim_start().starts_with("<?xml"));
}

/// `bench --timeline` and `--trace`: one picture per line of the table, from that line's
/// first timed run, each with one bar (and one event) per code.
#[test]
fn bench_draws_one_timeline_and_trace_per_mode_and_level() {
    let dir = scratch();
    let output = flags_dl()
        .current_dir(dir.path())
        .args(["bench", "--modes", "threads,async", "--max-req", "2,8"])
        .args(["--runs", "2", "--warmup", "0", "--delay", "0", "-l", "6"])
        .args(["--timeline", "t.svg", "--trace", "t.json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names = file_names(dir.path());
    names.sort();
    let mut expected: Vec<String> = ["threads", "async"]
        .iter()
        .flat_map(|mode| {
            ["2", "8"]
                .iter()
                .flat_map(move |m| [format!("t-{mode}-m{m}.json"), format!("t-{mode}-m{m}.svg")])
        })
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for name in names.iter().filter(|n| n.ends_with(".svg")) {
        let svg = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(svg.matches(r#"class="bar""#).count(), 6, "{name}");
    }
    for name in names.iter().filter(|n| n.ends_with(".json")) {
        let trace: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
        let events = trace["traceEvents"].as_array().unwrap();
        assert_eq!(
            events.iter().filter(|e| e["ph"] == "X").count(),
            6,
            "{name}"
        );
    }
}

/// The internal `bench --child-run` is for the bench's own runs: no completion script
/// offers it (clap_complete lists hidden options unless told otherwise), nor the help or
/// the man page, while what they did offer is still there.
#[test]
fn the_internal_child_run_flag_is_offered_nowhere() {
    let shells = ["bash", "zsh", "fish", "elvish", "powershell"]
        .map(|shell| (vec!["completions", shell], "export-csv"));
    // The man page documents the top level and names bench's own page.
    let others = [
        (vec!["bench", "--help"], "--export-csv"),
        (vec!["man"], "flags-dl-bench"),
    ];
    for (args, kept) in shells.into_iter().chain(others) {
        let output = flags_dl().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        // roff writes a hyphen as `\-`.
        let text = String::from_utf8_lossy(&output.stdout).replace("\\-", "-");
        assert!(!text.contains("child-run"), "{args:?} offers --child-run");
        assert!(text.contains(kept), "{args:?} no longer offers {kept}");
    }
}
