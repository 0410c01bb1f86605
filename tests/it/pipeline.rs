//! Pipelines and the terminal (issue 4), end to end: codes from stdin, `--list`, `--json`,
//! `-q`, which stream gets what, `| head -1`, colour, the environment variables, shell
//! completions, the man page, `--help`, `--version` and the exit codes.
//!
//! Every run is the real binary against its embedded server (loopback only), typed as a
//! user would type it, with a time limit. Pipes, signals and pseudo-terminals are Unix's,
//! so the whole module is (`main.rs` compiles it on Unix only).

use crate::harness::{
    all_codes, assert_exit, assert_no_stderr, assert_no_stdout, assert_stderr_has,
    assert_stdout_has, bin_path, command, file_names, free_port, gif_names, json_run, lines,
    parse_ndjson, run, run_env, run_stdin, scratch, show, text, tool, without_phases, CodeLine,
    Spawned, Status, RUN_TIMEOUT,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The start of any ANSI escape sequence.
const ESC: &str = "\x1b[";

/// Quotes a word for `sh -c`.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The binary's path, quoted for `sh -c`.
fn sh_bin() -> String {
    sh_quote(bin_path().to_str().expect("the binary's path is UTF-8"))
}

/// `bash -c <script>` in `cwd`, without flags-dl's variables, with a time limit.
fn bash(cwd: &Path, script: &str) -> Output {
    tool("bash")
        .args(["-c", script])
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// A program on the PATH, answering `<program> <probe>` with success.
fn has_program(program: &str, probe: &str) -> bool {
    std::process::Command::new(program)
        .arg(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `flags-dl <args>` in `cwd`, as a command to start by hand.
fn flags_dl_in(cwd: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = command(bin_path());
    cmd.current_dir(cwd).args(args);
    cmd
}

/// A downloaded code's line: its file is where `path` says, of `bytes` bytes.
fn assert_ok_line(line: &CodeLine, out_dir: &Path) {
    let expected = format!("{}/{}.gif", out_dir.display(), line.cc);
    assert_eq!(line.path.as_deref(), Some(expected.as_str()), "{line:?}");
    let size = std::fs::metadata(&expected)
        .unwrap_or_else(|e| panic!("{expected}: {e} ({line:?})"))
        .len();
    assert_eq!(line.bytes, size, "bytes vs the file on disk: {line:?}");
    assert!(line.bytes > 0, "{line:?}");
    assert_eq!(line.http_status, Some(200), "{line:?}");
    assert_eq!(line.error, None, "{line:?}");
    assert!(line.attempts >= 1, "{line:?}");
}

fn assert_not_found_line(line: &CodeLine) {
    assert_eq!(line.path, None, "{line:?}");
    assert_eq!(line.http_status, Some(404), "{line:?}");
    assert_eq!(line.error, None, "{line:?}");
    assert_eq!(line.bytes, 0, "{line:?}");
}

fn lower(codes: &[String]) -> BTreeSet<String> {
    codes.iter().map(|cc| cc.to_ascii_lowercase()).collect()
}

// ---- Codes from stdin, and --list ----

#[test]
fn dash_reads_codes_from_stdin_split_on_spaces_commas_and_newlines() {
    let tmp = scratch();
    let dir = tmp.path().join("out");
    let out = run_stdin(
        tmp.path(),
        "br, cn\nus",
        &["-", "fr", "--json", "-o", dir.to_str().unwrap()],
    );
    let run = json_run(&out, 0);
    assert_eq!(
        run.cc_set(),
        lower(&["BR".into(), "CN".into(), "FR".into(), "US".into()])
    );
    for line in run.codes.values() {
        assert_eq!(line.status, Status::Ok, "{line:?}");
        assert_ok_line(line, &dir);
    }
    assert_eq!(file_names(&dir), ["br.gif", "cn.gif", "fr.gif", "us.gif"]);
}

#[test]
fn stdin_takes_tabs_crlf_letters_any_case_and_repeats() {
    let tmp = scratch();
    let out = run_stdin(tmp.path(), "Us\r\n\tbr,,BR ,\n\nz\r\n", &["-", "--list"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    let mut expected: Vec<String> = ('A'..='Z').map(|b| format!("Z{b}")).collect();
    expected.extend(["BR".to_string(), "US".to_string()]);
    expected.sort();
    assert_eq!(lines(&out.stdout), expected);
}

#[test]
fn a_bad_code_on_stdin_is_a_one_line_usage_error_naming_it() {
    for (stdin, bad) in [
        ("br, x7\nus", "x7"),
        ("BR BRA", "BRA"),
        ("br\n-\n", "-"),
        ("br é", "é"),
    ] {
        let tmp = scratch();
        let out = run_stdin(tmp.path(), stdin, &["-", "fr"]);
        assert_exit(&out, 2);
        assert_no_stdout(&out);
        let err = lines(&out.stderr);
        assert_eq!(
            err.len(),
            1,
            "one stderr line for {stdin:?}:\n{}",
            show(&out)
        );
        assert!(
            err[0].starts_with("flags-dl: ") && err[0].contains(&format!("'{bad}'")),
            "the error should name '{bad}':\n{}",
            show(&out)
        );
        assert!(
            file_names(tmp.path()).is_empty(),
            "a usage error created {:?}",
            file_names(tmp.path())
        );
    }
}

#[test]
fn a_bad_code_reads_the_same_on_stdin_as_on_the_command_line() {
    let tmp = scratch();
    let piped = run_stdin(tmp.path(), "x7", &["-"]);
    let typed = run(tmp.path(), &["x7"]);
    assert_exit(&piped, 2);
    assert_exit(&typed, 2);
    let message = lines(&piped.stderr)[0]
        .strip_prefix("flags-dl: ")
        .unwrap()
        .to_string();
    assert!(message.contains("'x7' is not a country code"), "{message}");
    assert!(
        text(&typed.stderr).contains(&message),
        "the command line should give the same reason {message:?}:\n{}",
        show(&typed)
    );
}

#[test]
fn empty_stdin_is_a_usage_error() {
    let tmp = scratch();
    let out = run_stdin(tmp.path(), " \n, \n", &["-"]);
    assert_exit(&out, 2);
    assert_no_stdout(&out);
    assert_eq!(lines(&out.stderr).len(), 1, "{}", show(&out));
    assert!(file_names(tmp.path()).is_empty());
}

#[test]
fn all_list_prints_the_194_codes_and_downloads_nothing() {
    let tmp = scratch();
    let out = run(tmp.path(), &["--all", "--list"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    let listed = lines(&out.stdout);
    assert_eq!(listed.len(), 194);
    assert_eq!(listed.first().map(String::as_str), Some("AD"));
    assert_eq!(listed.last().map(String::as_str), Some("ZW"));
    assert_eq!(listed, all_codes());
    assert!(
        file_names(tmp.path()).is_empty(),
        "--list created {:?}",
        file_names(tmp.path())
    );

    // Nor the folder named with -o.
    let out = run(tmp.path(), &["--all", "--list", "-o", "flags"]);
    assert_exit(&out, 0);
    assert!(file_names(tmp.path()).is_empty());
}

#[test]
fn a_filtered_list_fed_back_on_stdin_comes_back_exactly() {
    let tmp = scratch();
    let listed = run(tmp.path(), &["--all", "--list"]);
    assert_exit(&listed, 0);
    let b_codes: Vec<String> = lines(&listed.stdout)
        .into_iter()
        .filter(|cc| cc.starts_with('B'))
        .collect();
    assert_eq!(b_codes.len(), 17, "{b_codes:?}");
    let stdin = b_codes.join("\n") + "\n";

    let dir = tmp.path().join("out");
    let out = run_stdin(
        tmp.path(),
        &stdin,
        &["-", "--json", "-o", dir.to_str().unwrap()],
    );
    let run = json_run(&out, 0);
    assert_eq!(run.cc_set(), lower(&b_codes));
    assert_eq!(run.with_status(Status::Ok), lower(&b_codes));
    for line in run.codes.values() {
        assert_ok_line(line, &dir);
    }
}

#[test]
fn the_help_pipeline_example_works_in_bash() {
    // `grep -v '^U' <(flags-dl --all --list) | flags-dl -`, as --help has it.
    let tmp = scratch();
    let bin = sh_bin();
    let script = format!("set -o pipefail; grep -v '^U' <({bin} --all --list) | {bin} - -o out");
    let out = bash(tmp.path(), &script);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    let expected: Vec<String> = all_codes()
        .into_iter()
        .filter(|cc| !cc.starts_with('U'))
        .collect();
    assert_eq!(file_names(&tmp.path().join("out")), gif_names(&expected));
    let searching = format!("Searching for {} flags: from AD to ZW", expected.len());
    assert!(
        lines(&out.stdout).contains(&searching),
        "{searching:?}:\n{}",
        show(&out)
    );
}

// ---- --json ----

#[test]
fn json_every_reports_each_code_once_with_its_file() {
    let tmp = scratch();
    let dir = tmp.path().join("out");
    let out = run(
        tmp.path(),
        &[
            "--json",
            "--every",
            "-m",
            "100",
            "-o",
            dir.to_str().unwrap(),
        ],
    );
    let run = json_run(&out, 0);
    assert_eq!(run.codes.len(), 676);
    let countries = lower(&all_codes());
    assert_eq!(run.with_status(Status::Ok), countries);
    for line in run.codes.values() {
        match line.status {
            Status::Ok => assert_ok_line(line, &dir),
            Status::NotFound => assert_not_found_line(line),
            _ => panic!("neither ok nor not_found: {line:?}"),
        }
    }
    let s = &run.summary;
    assert_eq!(
        (s.ok, s.not_found, s.error, s.skipped, s.cancelled, s.total),
        (194, 482, 0, 0, 0, 676)
    );
    assert_eq!((s.mode.as_str(), s.max_req), ("async", 100));
    assert_eq!(file_names(&dir).len(), 194);
}

#[test]
fn json_error_rate_1_reports_errors_and_exits_1() {
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["--json", "--error-rate", "1", "BR", "CN", "-o", "out"],
    );
    let run = json_run(&out, 1);
    assert_eq!(run.cc_set(), lower(&["BR".into(), "CN".into()]));
    for line in run.codes.values() {
        assert_eq!(line.status, Status::Error, "{line:?}");
        let error = line.error.as_deref().unwrap_or_default();
        assert!(
            !error.trim().is_empty(),
            "an error needs a reason: {line:?}"
        );
        assert_eq!(line.path, None, "{line:?}");
        assert_eq!(line.http_status, Some(418), "{line:?}");
    }
    assert_eq!((run.summary.error, run.summary.total), (2, 2));
}

#[test]
fn json_skip_existing_reports_skipped() {
    let tmp = scratch();
    let dir = tmp.path().join("out");
    let dir_arg = dir.to_str().unwrap();
    assert_exit(&run(tmp.path(), &["BR", "-o", dir_arg]), 0);
    let saved = std::fs::read(dir.join("br.gif")).unwrap();

    let out = run(
        tmp.path(),
        &["--json", "--skip-existing", "BR", "CN", "-o", dir_arg],
    );
    let run = json_run(&out, 0);
    assert_eq!(run.codes["br"].status, Status::Skipped, "{:?}", run.codes);
    assert_eq!(run.codes["cn"].status, Status::Ok, "{:?}", run.codes);
    assert_ok_line(&run.codes["cn"], &dir);
    let skipped = &run.codes["br"];
    let existing = format!("{}/br.gif", dir.display());
    assert_eq!(
        skipped.path.as_deref(),
        Some(existing.as_str()),
        "{skipped:?}"
    );
    assert_eq!(
        (skipped.attempts, skipped.http_status, &skipped.error),
        (0, None, &None),
        "{skipped:?}"
    );
    let s = &run.summary;
    assert_eq!((s.ok, s.skipped, s.total), (1, 1, 2));
    assert_eq!(std::fs::read(dir.join("br.gif")).unwrap(), saved);
}

#[test]
fn json_has_the_same_shape_in_every_mode() {
    let countries: BTreeSet<String> = all_codes()
        .iter()
        .filter(|cc| cc.starts_with('A') || cc.starts_with('B'))
        .map(|cc| cc.to_ascii_lowercase())
        .collect();
    for (mode, max_req) in [("async", 5), ("threads", 30), ("sequential", 1)] {
        let tmp = scratch();
        let dir = tmp.path().join("out");
        let out = run(
            tmp.path(),
            &[
                "--json",
                "--mode",
                mode,
                "A",
                "B",
                "-o",
                dir.to_str().unwrap(),
            ],
        );
        let run = json_run(&out, 0);
        assert_eq!(run.codes.len(), 52, "{mode}");
        assert_eq!(run.with_status(Status::Ok), countries, "{mode}");
        for line in run.codes.values() {
            match line.status {
                Status::Ok => assert_ok_line(line, &dir),
                Status::NotFound => assert_not_found_line(line),
                _ => panic!("{mode}: neither ok nor not_found: {line:?}"),
            }
        }
        assert_eq!(run.summary.mode, mode);
        assert_eq!(run.summary.max_req, max_req, "{mode}");
    }
}

#[test]
fn json_stays_plain_with_color_always() {
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["--json", "--color", "always", "BR", "XX", "-o", "out"],
    );
    assert!(
        !text(&out.stdout).contains(ESC) && !text(&out.stderr).contains(ESC),
        "escape codes in JSON mode:\n{}",
        show(&out)
    );
    let run = json_run(&out, 0);
    assert_eq!(run.codes["br"].status, Status::Ok);
    assert_eq!(run.codes["xx"].status, Status::NotFound);
}

#[test]
fn json_lines_arrive_as_each_code_finishes() {
    // With a 2 s delay and 2 requests in flight, the first two codes finish well before
    // the last; a reader must see them then, not at the end of the run.
    let tmp = scratch();
    let mut run = Spawned::start(flags_dl_in(
        tmp.path(),
        &[
            "--json", "--delay", "2", "-m", "2", "BR", "CN", "FR", "US", "-o", "out",
        ],
    ));
    let started = Instant::now();
    let first = run.line(Duration::from_secs(60));
    let first_at = started.elapsed();
    let (status, rest, stderr) = run.finish(RUN_TIMEOUT);
    let done_at = started.elapsed();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(first.starts_with("{\"cc\":"), "{first}");
    assert!(
        done_at - first_at >= Duration::from_millis(1500),
        "the first line came at {first_at:?}, the end at {done_at:?}: not streamed"
    );
    let mut all = first;
    all.push_str(&rest);
    assert_eq!(parse_ndjson(&all).codes.len(), 4);
}

#[test]
fn interrupted_json_run_reports_cancelled_codes_and_exits_130() {
    let tmp = scratch();
    let dir = tmp.path().join("out");
    let mut run = Spawned::start(flags_dl_in(
        tmp.path(),
        &[
            "--json",
            "--all",
            "--delay",
            "1",
            "-m",
            "2",
            "-o",
            dir.to_str().unwrap(),
        ],
    ));
    // The first line means the run (and its Ctrl-C handler) is under way.
    let first = run.line(Duration::from_secs(60));
    run.signal("INT");
    let (status, rest, stderr) = run.finish(RUN_TIMEOUT);
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut all = first;
    all.push_str(&rest);
    let json = parse_ndjson(&all);
    assert_eq!(json.cc_set(), lower(&all_codes()), "every code, once");
    assert!(json.summary.cancelled > 0, "{:?}", json.summary);
    for line in json.codes.values() {
        match line.status {
            Status::Ok => assert_ok_line(line, &dir),
            Status::Cancelled => {
                assert_eq!((&line.path, &line.error), (&None, &None), "{line:?}")
            }
            _ => panic!("neither ok nor cancelled: {line:?}"),
        }
    }
}

// ---- -q ----

#[test]
fn quiet_prints_one_stderr_line_per_failed_code_and_nothing_on_stdout() {
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["-q", "--error-rate", "1", "BR", "CN", "-o", "out"],
    );
    assert_exit(&out, 1);
    assert_no_stdout(&out);
    let mut err = lines(&out.stderr);
    err.sort();
    assert_eq!(err.len(), 2, "{}", show(&out));
    assert!(err[0].contains("BR") && !err[0].contains("CN"), "{err:?}");
    assert!(err[1].contains("CN") && !err[1].contains("BR"), "{err:?}");
}

#[test]
fn quiet_clean_run_prints_nothing_at_all() {
    let tmp = scratch();
    let out = run(tmp.path(), &["--quiet", "BR", "XX", "-o", "out"]);
    assert_exit(&out, 0);
    assert_no_stdout(&out);
    assert_no_stderr(&out);
    assert_eq!(file_names(&tmp.path().join("out")), ["br.gif"]);
}

// ---- Streams ----

#[test]
fn report_goes_to_stdout_and_diagnostics_to_stderr() {
    let tmp = scratch();
    let out = run(tmp.path(), &["-v", "BR", "XX", "-o", "out"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    let stdout = lines(&out.stdout);
    for expected in [
        "BR OK",
        "XX not found",
        "  1 flag downloaded.",
        "  1 not found.",
    ] {
        assert!(
            stdout.iter().any(|l| without_phases(l) == expected),
            "no {expected:?} on stdout:\n{}",
            show(&out)
        );
    }

    let url = format!("http://127.0.0.1:{}/flags", free_port());
    let out = run(tmp.path(), &["-s", &url, "BR", "-o", "out2"]);
    assert_exit(&out, 1);
    assert_no_stdout(&out);
    assert_eq!(lines(&out.stderr).len(), 1, "{}", show(&out));
}

/// Checks how a run that lost its reader ended.
fn assert_ended_quietly(what: &str, status: ExitStatus, stderr: &str) {
    assert!(
        status.code() == Some(0) || status.signal() == Some(13),
        "{what}: ended with {status} (0 or SIGPIPE expected); stderr:\n{stderr}"
    );
    assert_ne!(status.code(), Some(101), "{what}: panicked:\n{stderr}");
    let lower = stderr.to_ascii_lowercase();
    assert!(
        !lower.contains("panicked") && !lower.contains("broken pipe"),
        "{what}: stderr:\n{stderr}"
    );
}

#[test]
fn json_into_head_1_ends_quietly() {
    let tmp = scratch();
    let script = format!(
        "set -o pipefail; {} --json --every -m 20 -o out | head -1",
        sh_bin()
    );
    let out = bash(tmp.path(), &script);
    // With pipefail, bash's status is flags-dl's unless flags-dl exited 0.
    assert_exit(&out, 0);
    assert_ended_quietly("--json | head -1", out.status, &text(&out.stderr));
    assert_no_stderr(&out);
    let stdout = lines(&out.stdout);
    assert_eq!(stdout.len(), 1, "{}", show(&out));
    let first: Value = serde_json::from_str(&stdout[0]).unwrap();
    assert!(first.get("cc").is_some(), "{first}");
}

#[test]
fn closing_stdout_after_one_line_ends_quietly() {
    for args in [
        &["--json", "--every", "-m", "20"][..],
        &["-v", "--every", "-m", "20"],
        &["--every", "-m", "20"],
        &["--every", "--list"],
    ] {
        let tmp = scratch();
        let mut all = args.to_vec();
        all.extend(["-o", "out"]);
        let mut run = Spawned::closing_stdout_after(flags_dl_in(tmp.path(), &all), 1);
        let first = run.line(Duration::from_secs(60));
        assert!(!first.is_empty());
        let (status, _, stderr) = run.finish(RUN_TIMEOUT);
        assert_ended_quietly(&args.join(" "), status, &stderr);
    }
}

// ---- Colour ----

#[test]
fn color_never_and_no_color_leave_no_escape_codes() {
    for (env, color) in [
        (&[][..], "never"),
        (&[("NO_COLOR", "1")][..], "auto"),
        (&[("NO_COLOR", "1")][..], "never"),
        (&[][..], "auto"),
    ] {
        let tmp = scratch();
        for codes in [&["BR", "XX"][..], &["--error-rate", "1", "CN"]] {
            let mut args = vec!["-v", "--color", color, "-o", "out"];
            args.extend(codes);
            let out = run_env(tmp.path(), env, &args);
            assert!(
                !text(&out.stdout).contains(ESC) && !text(&out.stderr).contains(ESC),
                "escape codes with {env:?} {args:?}:\n{}",
                show(&out)
            );
        }
    }
}

#[test]
fn color_always_paints_the_verbose_lines() {
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["-v", "--color", "always", "BR", "XX", "-o", "out"],
    );
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("BR \x1b[32mOK"), "{}", show(&out));
    assert!(stdout.contains("XX \x1b[33mnot found"), "{}", show(&out));

    // Even with NO_COLOR: always is always.
    let out = run_env(
        tmp.path(),
        &[("NO_COLOR", "1")],
        &[
            "-v",
            "--color",
            "always",
            "--error-rate",
            "1",
            "CN",
            "-o",
            "out",
        ],
    );
    assert_exit(&out, 1);
    assert_stdout_has(&out, "CN \x1b[31merror:");
}

/// Runs `command` through `sh` on a pseudo-terminal (util-linux `script`) and returns
/// what reached the terminal, or `None` when there is no such `script` here.
fn on_a_terminal(cwd: &Path, env: &[(&str, &str)], command: &str) -> Option<String> {
    let version = std::process::Command::new("script")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    if !version.is_ok_and(|v| text(&v.stdout).contains("util-linux")) {
        println!("skipping the terminal checks: util-linux `script` is not installed");
        return None;
    }
    let out = tool("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(cwd)
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    Some(text(&out.stdout))
}

/// Whether `text` holds an SGR (colour) sequence, `ESC [ <digits;> m`.
fn has_sgr(text: &str) -> bool {
    text.split(ESC).skip(1).any(|rest| {
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != ';')
            .unwrap_or(rest.len());
        rest[end..].starts_with('m')
    })
}

#[test]
fn on_a_terminal_auto_colours_unless_no_color_or_never() {
    let tmp = scratch();
    let command = |color: &str| format!("{} -v --color {color} BR XX -o out", sh_bin());
    let Some(auto) = on_a_terminal(tmp.path(), &[], &command("auto")) else {
        return;
    };
    assert!(
        auto.contains("BR \x1b[32mOK"),
        "auto on a terminal: {auto:?}"
    );

    let no_color = on_a_terminal(tmp.path(), &[("NO_COLOR", "1")], &command("auto")).unwrap();
    assert!(!has_sgr(&no_color), "NO_COLOR=1 --color auto: {no_color:?}");
    assert!(no_color.contains("BR OK"), "{no_color:?}");

    let never = on_a_terminal(tmp.path(), &[], &command("never")).unwrap();
    assert!(!has_sgr(&never), "--color never: {never:?}");
    assert!(never.contains("BR OK"), "{never:?}");
}

#[test]
fn json_and_quiet_draw_no_progress_bar_on_a_terminal() {
    let tmp = scratch();
    // stdout to a file, so only stderr reaches the terminal.
    let command =
        |mode: &str, file: &str| format!("{} {mode} --every -m 20 -o out > {file}", sh_bin());
    // The control: without --json, the bar is drawn on a terminal.
    let Some(human) = on_a_terminal(tmp.path(), &[], &command("", "human.txt")) else {
        return;
    };
    assert!(
        human.contains("flags") && human.contains("ETA"),
        "no progress bar in the human run: {human:?}"
    );

    let json = on_a_terminal(tmp.path(), &[], &command("--json", "out.json")).unwrap();
    assert_eq!(json, "", "--json on a terminal drew: {json:?}");
    let stdout = std::fs::read_to_string(tmp.path().join("out.json")).unwrap();
    assert_eq!(parse_ndjson(&stdout).codes.len(), 676);

    let quiet = on_a_terminal(tmp.path(), &[], &command("-q", "quiet.txt")).unwrap();
    assert_eq!(quiet, "", "-q on a terminal drew: {quiet:?}");
    let stdout = std::fs::read_to_string(tmp.path().join("quiet.txt")).unwrap();
    assert_eq!(stdout, "");
}

// ---- The environment ----

#[test]
fn help_shows_the_environment_variables() {
    let tmp = scratch();
    let out = run(tmp.path(), &["--help"]);
    assert_exit(&out, 0);
    let help = text(&out.stdout);
    for var in ["FLAGS_DL_SERVER", "FLAGS_DL_OUTPUT_DIR", "FLAGS_DL_MAX_REQ"] {
        assert!(help.contains(&format!("[env: {var}")), "{var} in:\n{help}");
    }
    // And the value in force, when set.
    let out = run_env(tmp.path(), &[("FLAGS_DL_MAX_REQ", "3")], &["--help"]);
    assert_exit(&out, 0);
    assert_stdout_has(&out, "[env: FLAGS_DL_MAX_REQ=3]");
}

#[test]
fn flags_dl_output_dir_is_where_flags_are_saved() {
    let tmp = scratch();
    let dir = tmp.path().join("from-env");
    let out = run_env(
        tmp.path(),
        &[("FLAGS_DL_OUTPUT_DIR", dir.to_str().unwrap())],
        &["BR"],
    );
    assert_exit(&out, 0);
    assert_eq!(file_names(&dir), ["br.gif"]);
    assert_eq!(file_names(tmp.path()), ["from-env"], "nothing else created");
}

#[test]
fn flags_dl_max_req_sets_the_connections() {
    let tmp = scratch();
    let out = run_env(
        tmp.path(),
        &[("FLAGS_DL_MAX_REQ", "3")],
        &["-a", "-o", "out"],
    );
    assert_exit(&out, 0);
    assert!(
        lines(&out.stdout).contains(&"3 concurrent connections will be used.".to_string()),
        "{}",
        show(&out)
    );
}

#[test]
fn flags_dl_server_on_a_closed_port_is_one_line_and_exit_1() {
    let tmp = scratch();
    let url = format!("http://127.0.0.1:{}/flags", free_port());
    let out = run_env(tmp.path(), &[("FLAGS_DL_SERVER", &url)], &["BR"]);
    assert_exit(&out, 1);
    assert_no_stdout(&out);
    let err = lines(&out.stderr);
    assert_eq!(err.len(), 1, "{}", show(&out));
    assert!(
        err[0].starts_with("flags-dl: cannot reach the ") && err[0].contains(&url),
        "{}",
        show(&out)
    );
    assert!(file_names(tmp.path()).is_empty(), "nothing created");
}

#[test]
fn the_command_line_beats_the_environment() {
    let tmp = scratch();
    let closed = format!("http://127.0.0.1:{}/flags", free_port());
    let env_dir = tmp.path().join("env-dir");
    let out = run_env(
        tmp.path(),
        &[
            ("FLAGS_DL_MAX_REQ", "3"),
            ("FLAGS_DL_OUTPUT_DIR", env_dir.to_str().unwrap()),
            ("FLAGS_DL_SERVER", &closed),
        ],
        &["-m", "7", "-o", "cli-dir", "-s", "embedded", "-a"],
    );
    assert_exit(&out, 0);
    let stdout = lines(&out.stdout);
    assert!(
        stdout.contains(&"7 concurrent connections will be used.".to_string()),
        "{}",
        show(&out)
    );
    assert!(stdout[0].starts_with("EMBEDDED site: "), "{}", show(&out));
    assert_eq!(file_names(&tmp.path().join("cli-dir")).len(), 194);
    assert!(!env_dir.exists(), "the environment's folder was created");
}

// ---- Completions ----

/// For each shell: a line that registers the script, how it offers a subcommand, and how
/// it offers `--max-req`.
fn completion_markers(shell: &str) -> (&'static str, fn(&str) -> String, &'static str) {
    match shell {
        "bash" => (
            "complete -F _flags__dl",
            |sub| format!("flags__dl,{sub})"),
            " --max-req ",
        ),
        "zsh" => (
            "#compdef flags-dl",
            |sub| format!("'{sub}:"),
            "'--max-req=[",
        ),
        "fish" => (
            "complete -c flags-dl",
            |sub| format!("-a \"{sub}\""),
            "-l max-req",
        ),
        "powershell" => (
            "Register-ArgumentCompleter -Native -CommandName 'flags-dl'",
            |sub| format!("[CompletionResult]::new('{sub}'"),
            "[CompletionResult]::new('--max-req'",
        ),
        "elvish" => (
            "edit:completion:arg-completer[flags-dl]",
            |sub| format!("cand {sub} "),
            "cand --max-req ",
        ),
        _ => unreachable!("{shell}"),
    }
}

#[test]
fn completions_for_each_shell_offer_the_subcommands_and_options() {
    let tmp = scratch();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(tmp.path(), &["completions", shell]);
        assert_exit(&out, 0);
        assert_no_stderr(&out);
        let script = text(&out.stdout);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        let (registers, offers, max_req) = completion_markers(shell);
        assert!(script.contains(registers), "{shell}: no {registers:?}");
        for sub in ["serve", "bench", "completions", "man"] {
            let marker = offers(sub);
            assert!(script.contains(&marker), "{shell}: no {marker:?}");
        }
        assert!(script.contains(max_req), "{shell}: no {max_req:?}");
    }
    assert!(file_names(tmp.path()).is_empty());
}

#[test]
fn completion_scripts_parse_in_the_shells_installed() {
    let tmp = scratch();
    for (shell, program) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        if !has_program(program, "--version") {
            println!("skipping {shell} -n: {program} is not installed");
            continue;
        }
        let out = run(tmp.path(), &["completions", shell]);
        assert_exit(&out, 0);
        let file = tmp.path().join(format!("flags-dl.{shell}"));
        std::fs::write(&file, &out.stdout).unwrap();
        let check = tool(program).arg("-n").arg(&file).output().unwrap();
        assert!(check.status.success(), "{program} -n:\n{}", show(&check));
    }
}

/// What bash's completion offers for `words` (the last one being completed), with the
/// script of `flags-dl completions bash` loaded; `None` when bash isn't installed.
fn bash_complete(words: &[&str]) -> Option<Vec<String>> {
    if !has_program("bash", "--version") {
        println!("skipping the bash completion check: bash is not installed");
        return None;
    }
    let tmp = scratch();
    let out = run(tmp.path(), &["completions", "bash"]);
    assert_exit(&out, 0);
    let file = tmp.path().join("flags-dl.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let script = format!(
        "source {file}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
         _flags__dl flags-dl {cur} {prev}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file = sh_quote(file.to_str().unwrap()),
        words = quoted.join(" "),
        cur = sh_quote(words[cword]),
        prev = sh_quote(prev),
    );
    let out = bash(tmp.path(), &script);
    assert!(out.status.success(), "{}", show(&out));
    Some(
        lines(&out.stdout)
            .into_iter()
            .filter(|word| !word.is_empty())
            .collect(),
    )
}

#[test]
fn bash_completes_subcommands_and_top_level_options() {
    let Some(subs) = bash_complete(&["flags-dl", "se"]) else {
        return;
    };
    assert_eq!(subs, ["serve"]);
    let options = bash_complete(&["flags-dl", "--max"]).unwrap();
    assert_eq!(options, ["--max-req", "--max-wait", "--max-size"]);
    let modes = bash_complete(&["flags-dl", "--mode", ""]).unwrap();
    assert_eq!(modes, ["async", "threads", "sequential"]);
}

#[test]
fn bash_completes_the_options_of_a_subcommand() {
    let Some(serve) = bash_complete(&["flags-dl", "serve", "--p"]) else {
        return;
    };
    assert_eq!(serve, ["--port"]);
    let shells = bash_complete(&["flags-dl", "completions", ""]).unwrap();
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(shells.iter().any(|s| s == shell), "{shell} in {shells:?}");
    }
}

#[test]
fn completions_for_an_unknown_shell_is_a_usage_error() {
    let tmp = scratch();
    let out = run(tmp.path(), &["completions", "nosh"]);
    assert_exit(&out, 2);
    assert_no_stdout(&out);
    assert_stderr_has(&out, "nosh");
}

// ---- The man page ----

#[test]
fn man_prints_roff_that_man_renders() {
    let tmp = scratch();
    let out = run(tmp.path(), &["man"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    let roff = text(&out.stdout);
    let roff_lines: Vec<&str> = roff.lines().collect();
    assert!(
        roff_lines.iter().any(|l| l.starts_with(".TH ")),
        "no .TH:\n{roff}"
    );
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION"] {
        assert!(
            roff_lines.iter().any(|l| *l == format!(".SH {section}")),
            "no .SH {section}:\n{roff}"
        );
    }
    // roff writes a hyphen as `\-`.
    let plain = roff.replace(r"\-", "-");
    for option in ["--max-req", "--json", "--output-dir"] {
        assert!(plain.contains(option), "no {option}:\n{roff}");
    }

    if !has_program("man", "--version") {
        println!("skipping man -l: man is not installed");
        return;
    }
    let page = tmp.path().join("flags-dl.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let rendered = tool("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .env("TERM", "dumb")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "man -l:\n{}", show(&rendered));
    let rendered = text(&rendered.stdout);
    assert!(rendered.contains("NAME"), "{rendered}");
    assert!(rendered.contains("flags-dl"), "{rendered}");
}

// ---- --help and --version ----

#[test]
fn help_has_the_books_examples_and_the_exit_codes() {
    let tmp = scratch();
    let out = run(tmp.path(), &["--help"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    let help = text(&out.stdout);
    for example in ["serve delay", "-s DELAY", "--list", "--json", "flags-dl -"] {
        assert!(help.contains(example), "no {example:?} in:\n{help}");
    }
    let exit = help
        .find("Exit status")
        .map(|at| &help[at..])
        .unwrap_or_else(|| panic!("no exit status in:\n{help}"));
    let words: BTreeSet<&str> = exit
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    for code in ["0", "1", "2", "130"] {
        assert!(words.contains(code), "exit code {code} in:\n{exit}");
    }
}

#[test]
fn version_prints_the_name_and_the_package_version() {
    let tmp = scratch();
    let out = run(tmp.path(), &["--version"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
    assert_eq!(
        text(&out.stdout),
        format!("flags-dl {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// ---- Exit codes ----

#[test]
fn exit_0_when_every_code_is_downloaded_or_not_found() {
    let tmp = scratch();
    let out = run(tmp.path(), &["XX", "BR", "-o", "out"]);
    assert_exit(&out, 0);
    assert_no_stderr(&out);
}

#[test]
fn exit_1_when_some_code_fails() {
    let tmp = scratch();
    let out = run(tmp.path(), &["--error-rate", "1", "BR", "-o", "out"]);
    assert_exit(&out, 1);
}

#[test]
fn exit_2_for_usage_errors_before_any_work() {
    for args in [
        &["-m", "0", "BR"][..],
        &["--json", "--quiet", "BR"],
        &["--json", "-q", "BR"],
        &["-v", "--json", "BR"],
        &["-v", "-q", "BR"],
    ] {
        let tmp = scratch();
        let out = run(tmp.path(), args);
        assert_exit(&out, 2);
        assert_no_stdout(&out);
        assert!(!out.stderr.is_empty(), "{args:?}: no reason given");
        assert!(
            file_names(tmp.path()).is_empty(),
            "{args:?} created {:?}",
            file_names(tmp.path())
        );
    }
}
