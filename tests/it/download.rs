//! The download command, end to end: the real binary against loopback servers only (its
//! embedded server, or a `flags-dl serve` child), checked by what a user sees: stdout,
//! stderr, the exit status and the files on disk.

use crate::harness::{
    all_codes, assert_exit, assert_stderr_has, assert_stdout_has, file_names, flags_dl, free_port,
    gif_names, one_stderr_line, report, run, scratch, shared_flags, show, split_verbose, text,
    Report, Scratch, Server, Tally, POP20_SORTED,
};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const TEAPOT: &str = "error: HTTP 418 I'm a teapot";

/// The report of a run without `-v`: no line between the header and the rule.
fn quiet_report(out: &Output) -> Report {
    let r = report(out);
    assert!(
        r.verbose.is_empty(),
        "lines between the header and the rule without -v:\n{}",
        show(out)
    );
    r
}

/// Checks the site line of a run on the embedded server.
fn assert_embedded_site(report: &Report) {
    let url = report
        .site
        .strip_prefix("EMBEDDED site: http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/flags"))
        .unwrap_or_else(|| panic!("not an embedded site line: {:?}", report.site));
    assert!(url.parse::<u16>().is_ok(), "{:?}", report.site);
}

/// Checks that every saved flag is byte for byte what `expected(cc)` gives.
fn assert_same_bytes(out_dir: &Path, codes: &[String], expected: impl Fn(&str) -> Vec<u8>) {
    for cc in codes {
        let name = format!("{}.gif", cc.to_ascii_lowercase());
        let saved = std::fs::read(out_dir.join(&name)).unwrap();
        let want = expected(cc);
        assert!(
            saved == want,
            "{name}: saved {} bytes differ from the {} bytes served",
            saved.len(),
            want.len()
        );
    }
}

// ---- Which codes ----

#[test]
fn no_codes_fetches_the_books_top_20_and_prints_the_books_report() {
    let tmp = scratch();
    let out = run(tmp.path(), &["-o", "out"]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stderr), "", "{}", show(&out));
    let r = quiet_report(&out);
    assert_embedded_site(&r);
    assert_eq!(r.searching, "Searching for 20 flags: from BD to VN");
    assert_eq!(r.connections, "5 concurrent connections will be used.");
    assert!(r.verbose.is_empty(), "lines without -v: {:?}", r.verbose);
    assert_eq!(r.counts, [" 20 flags downloaded."]);
    assert_eq!(
        file_names(&tmp.path().join("out")),
        gif_names(&POP20_SORTED)
    );
}

#[test]
fn two_letter_codes_are_case_insensitive_and_saved_in_lower_case() {
    let (tmp, out) = download(0, &["br", "Us", "cN", "BR"]);
    let r = quiet_report(&out);
    assert_eq!(r.searching, "Searching for 3 flags: BR, CN, US");
    assert_eq!(r.connections, "3 concurrent connections will be used.");
    assert_eq!(r.counts, ["  3 flags downloaded."]);
    assert_eq!(
        file_names(&tmp.path().join("out")),
        ["br.gif", "cn.gif", "us.gif"]
    );
}

#[test]
fn one_code_reads_in_the_singular() {
    let (_, out) = download(0, &["br"]);
    let r = quiet_report(&out);
    assert_eq!(r.searching, "Searching for 1 flag: BR");
    assert_eq!(r.connections, "1 connection will be used.");
    assert_eq!(r.counts, ["  1 flag downloaded."]);
}

#[test]
fn one_letter_means_the_26_codes_that_start_with_it() {
    let b_countries: Vec<String> = all_codes()
        .into_iter()
        .filter(|cc| cc.starts_with('B'))
        .collect();
    for arg in ["b", "B"] {
        let (tmp, out) = download(0, &[arg, "-v"]);
        let r = report(&out);
        assert_eq!(r.searching, "Searching for 26 flags: from BA to BZ");
        let verbose = r.verbose_sorted();
        let expected: Vec<String> = ('A'..='Z')
            .map(|c| {
                let cc = format!("B{c}");
                if b_countries.contains(&cc) {
                    format!("{cc} OK")
                } else {
                    format!("{cc} not found")
                }
            })
            .collect();
        assert_eq!(verbose, expected, "{arg}");
        assert_eq!(
            r.counts,
            [
                format!("{:3} flags downloaded.", b_countries.len()),
                format!("{:3} not found.", 26 - b_countries.len()),
            ]
        );
        assert_eq!(file_names(&tmp.path().join("out")), gif_names(&b_countries));
    }
}

#[test]
fn up_to_ten_codes_are_listed_by_name() {
    // The help's own example: the first 10 of the codes that start with A, B or C.
    let (_, out) = download(0, &["-l", "10", "A", "B", "C"]);
    let r = quiet_report(&out);
    assert_eq!(
        r.searching,
        "Searching for 10 flags: AA, AB, AC, AD, AE, AF, AG, AH, AI, AJ"
    );
}

#[test]
fn bad_codes_are_usage_errors_that_name_the_value() {
    for bad in ["BRA", "b1", "1", "é", "B-", "xyz"] {
        assert_stderr_has(&usage_error(&["BR", bad]), &format!("'{bad}'"));
    }
}

/// Runs `flags-dl <args> -o out` in a folder of its own, which must exit with `code`;
/// returns the folder (`out` in it holds what was saved) and the run.
fn download(code: i32, args: &[&str]) -> (Scratch, Output) {
    let tmp = scratch();
    let out = run(tmp.path(), &[args, &["-o", "out"]].concat());
    assert_exit(&out, code);
    (tmp, out)
}

/// Runs `flags-dl <args> -o out` in a folder of its own, which must be a usage error:
/// exit 2, nothing on stdout, no output folder made. Returns the run.
fn usage_error(args: &[&str]) -> Output {
    let tmp = scratch();
    let out = run(tmp.path(), &[args, &["-o", "out"]].concat());
    assert_exit(&out, 2);
    assert_eq!(text(&out.stdout), "", "{}", show(&out));
    assert!(
        !tmp.path().join("out").exists(),
        "a usage error should not create the output folder"
    );
    out
}

#[test]
fn all_fetches_the_194_codes_from_ad_to_zw() {
    let (tmp, out) = download(0, &["-a"]);
    let r = quiet_report(&out);
    assert_eq!(r.searching, "Searching for 194 flags: from AD to ZW");
    assert_eq!(r.counts, ["194 flags downloaded."]);
    assert_eq!(file_names(&tmp.path().join("out")), gif_names(&all_codes()));
    // The long form too.
    let (_, out) = download(0, &["--all", "-l", "12"]);
    assert_eq!(
        quiet_report(&out).searching,
        "Searching for 12 flags: from AD to BA"
    );
}

#[test]
fn limit_keeps_the_first_n_codes_after_sorting() {
    let (tmp, out) = download(0, &["-a", "-l", "3"]);
    let r = quiet_report(&out);
    assert_eq!(r.searching, "Searching for 3 flags: AD, AE, AF");
    assert_eq!(r.counts, ["  3 flags downloaded."]);
    assert_eq!(
        file_names(&tmp.path().join("out")),
        ["ad.gif", "ae.gif", "af.gif"]
    );

    // Sorting comes first, whatever the order on the command line.
    let (tmp, out) = download(0, &["--limit", "2", "us", "cn", "br"]);
    assert_eq!(
        quiet_report(&out).searching,
        "Searching for 2 flags: BR, CN"
    );
    assert_eq!(file_names(&tmp.path().join("out")), ["br.gif", "cn.gif"]);
}

#[test]
fn limit_zero_and_max_req_zero_are_usage_errors() {
    for args in [
        ["-l", "0"],
        ["-m", "0"],
        ["--limit", "0"],
        ["--max-req", "0"],
    ] {
        assert_stderr_has(&usage_error(&args), "'0'");
    }
}

#[test]
fn every_finds_194_flags_and_482_not_found_and_exits_0() {
    let (tmp, out) = download(0, &["-e", "-m", "100"]);
    let r = quiet_report(&out);
    assert_eq!(r.searching, "Searching for 676 flags: from AA to ZZ");
    assert_eq!(r.connections, "100 concurrent connections will be used.");
    assert_eq!(r.counts, ["194 flags downloaded.", "482 not found."]);
    assert_eq!(file_names(&tmp.path().join("out")), gif_names(&all_codes()));
}

// ---- What the run shows ----

#[test]
fn verbose_prints_one_line_per_code_and_zero_counts_are_left_out() {
    let (tmp, out) = download(0, &["-v", "br", "xx", "us"]);
    let r = report(&out);
    let verbose = r.verbose_sorted();
    assert_eq!(verbose, ["BR OK", "US OK", "XX not found"]);
    // No errors: no error line.
    assert_eq!(r.counts, ["  2 flags downloaded.", "  1 not found."]);
    assert_eq!(file_names(&tmp.path().join("out")), ["br.gif", "us.gif"]);

    // Only not-found codes: the downloaded count stays, the error line does not appear.
    let (tmp, out) = download(0, &["--verbose", "xx"]);
    let r = report(&out);
    assert_eq!(r.verbose, ["XX not found"]);
    assert_eq!(r.counts, ["  0 flags downloaded.", "  1 not found."]);
    assert_eq!(file_names(&tmp.path().join("out")), Vec::<String>::new());
}

#[test]
fn connection_line_follows_the_mode_and_max_req() {
    let cases: [(&[&str], &str); 5] = [
        (&[], "5 concurrent connections will be used."),
        (
            &["--mode", "async"],
            "5 concurrent connections will be used.",
        ),
        // Threads default to 30, but never more than there are codes.
        (
            &["--mode", "threads"],
            "20 concurrent connections will be used.",
        ),
        (&["-m", "7"], "7 concurrent connections will be used."),
        (
            &["--mode", "sequential", "-m", "10"],
            "1 connection will be used.",
        ),
    ];
    for (extra, expected) in cases {
        let tmp = scratch();
        let mut args = extra.to_vec();
        args.extend(["-o", "out"]);
        let out = run(tmp.path(), &args);
        assert_exit(&out, 0);
        assert_eq!(quiet_report(&out).connections, expected, "{extra:?}");
    }
}

#[test]
fn a_custom_url_is_reported_as_given_without_trailing_slash() {
    let server = Server::start(&[]);
    let tmp = scratch();
    let with_slash = format!("{}/", server.base_url);
    let out = run(tmp.path(), &["-s", &with_slash, "br", "-o", "out"]);
    assert_exit(&out, 0);
    let r = quiet_report(&out);
    assert_eq!(r.site, format!("Custom site: {}", server.base_url));
    assert_eq!(r.counts, ["  1 flag downloaded."]);
}

#[test]
fn error_rate_one_gives_only_errors_and_exit_1() {
    let (tmp, out) = download(1, &["--error-rate", "1", "-v"]);
    let r = report(&out);
    assert_embedded_site(&r);
    let verbose = r.verbose_sorted();
    let expected: Vec<String> = POP20_SORTED
        .iter()
        .map(|cc| format!("{cc} {TEAPOT}"))
        .collect();
    assert_eq!(verbose, expected);
    assert_eq!(r.counts, ["  0 flags downloaded.", " 20 errors."]);
    assert_eq!(file_names(&tmp.path().join("out")), Vec::<String>::new());
}

#[test]
fn counts_are_three_wide_and_agree_with_the_verbose_lines() {
    // A seeded server failing about half its requests: all three count lines appear.
    let server = Server::start(&["--error-rate", "0.5", "--seed", "7", "--delay", "0"]);
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["-s", &server.base_url, "-e", "-v", "-m", "50", "-o", "out"],
    );
    let r = report(&out);
    assert_eq!(r.verbose.len(), 676, "{}", show(&out));
    let mut ok = Vec::new();
    for line in &r.verbose {
        let (cc, rest) = split_verbose(line);
        assert!(
            cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase()),
            "{line}"
        );
        assert!(["OK", "not found", TEAPOT].contains(&rest), "{line:?}");
        if rest == "OK" {
            ok.push(cc.to_string());
        }
    }
    let tally = Tally::of(&r.verbose);
    assert!(tally.error > 0 && tally.ok > 0, "{tally:?}");
    assert_eq!(r.counts, tally.count_lines());
    assert_exit(&out, 1);
    assert_eq!(file_names(&tmp.path().join("out")), gif_names(&ok));
}

// ---- Servers ----

#[test]
fn a_refused_connection_is_one_stderr_line_and_exit_1_not_one_error_per_code() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/flags");
    let (_, out) = download(1, &["-s", &url]);
    let line = one_stderr_line(&out);
    assert!(
        line.contains("cannot reach") && line.contains(&url),
        "should say it cannot reach {url}: {line}"
    );
    assert!(
        !text(&out.stdout).contains("error"),
        "no per-code errors expected:\n{}",
        show(&out)
    );
}

/// Whether anything accepts connections on `port` of localhost (IPv4 or IPv6).
fn listening_on(port: u16) -> bool {
    [
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
    ]
    .iter()
    .any(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(500)).is_ok())
}

#[test]
fn local_label_with_nothing_on_port_8000_says_to_start_flags_dl_serve_local() {
    if listening_on(8000) {
        println!("skipping: something listens on port 8000");
        return;
    }
    for label in ["LOCAL", "local"] {
        let (_, out) = download(1, &["-s", label]);
        let line = one_stderr_line(&out);
        assert!(
            line.contains("LOCAL")
                && line.contains("http://localhost:8000/flags")
                && line.contains("flags-dl serve local"),
            "{line}"
        );
        assert_eq!(text(&out.stdout), "", "{}", show(&out));
    }
}

#[test]
fn delay_and_error_labels_with_nothing_listening_name_their_preset() {
    for (label, port, preset) in [("DELAY", 8001, "delay"), ("Error", 8002, "error")] {
        if listening_on(port) {
            println!("skipping {label}: something listens on port {port}");
            continue;
        }
        let (_, out) = download(1, &["-s", label]);
        let line = one_stderr_line(&out);
        assert!(
            line.contains(&format!("localhost:{port}"))
                && line.contains(&format!("flags-dl serve {preset}")),
            "{line}"
        );
    }
}

#[test]
fn embedded_is_the_default_and_its_label_is_case_insensitive() {
    for args in [
        &["-s", "EMBEDDED"][..],
        &["--server", "embedded"][..],
        &[][..],
    ] {
        let tmp = scratch();
        let mut all = args.to_vec();
        all.extend(["br", "-o", "out"]);
        let out = run(tmp.path(), &all);
        assert_exit(&out, 0);
        assert_embedded_site(&quiet_report(&out));
    }
}

#[test]
fn delay_and_error_rate_with_another_server_are_usage_errors() {
    let url = format!("http://127.0.0.1:{}/flags", free_port());
    for (option, value) in [("--delay", "0.1"), ("--error-rate", "0.5")] {
        let line = one_stderr_line(&usage_error(&[option, value, "-s", &url]));
        assert!(
            line.contains(option) && line.contains("embedded server only"),
            "{line}"
        );
    }
}

#[test]
fn delay_applies_to_the_embedded_server() {
    let (_, out) = download(0, &["--delay", "0.05", "br"]);
    let r = quiet_report(&out);
    assert_eq!(r.counts, ["  1 flag downloaded."]);
    assert!(r.elapsed >= 0.05, "a 0.05 s delay, {} s elapsed", r.elapsed);
}

#[test]
fn unknown_server_labels_and_modes_are_usage_errors() {
    for args in [
        ["-s", "nowhere"],
        ["-s", "ftp://127.0.0.1/flags"],
        ["--mode", "fast"],
    ] {
        assert_stderr_has(&usage_error(&args), args[1]);
    }
}

// ---- The files saved ----

/// `--all` in `mode` from the embedded server: every file as a `flags-dl serve` with
/// generated data serves it (both make the same deterministic GIFs).
fn embedded_mode_saves_served_bytes(mode: &str) {
    let server = Server::start(&[]);
    let (tmp, out) = download(0, &["-a", "--mode", mode]);
    let r = quiet_report(&out);
    assert_embedded_site(&r);
    assert_eq!(r.counts, ["194 flags downloaded."]);
    let codes = all_codes();
    let out_dir = tmp.path().join("out");
    assert_eq!(file_names(&out_dir), gif_names(&codes));
    assert_same_bytes(&out_dir, &codes, |cc| {
        let cc = cc.to_ascii_lowercase();
        let answer = server.get(&format!("/flags/{cc}/{cc}.gif"));
        assert_eq!(answer.status, Some(200), "{cc}: {}", answer.head);
        answer.body
    });
}

#[test]
fn async_mode_saves_the_embedded_servers_bytes() {
    embedded_mode_saves_served_bytes("async");
}

#[test]
fn threads_mode_saves_the_embedded_servers_bytes() {
    embedded_mode_saves_served_bytes("threads");
}

#[test]
fn sequential_mode_saves_the_embedded_servers_bytes() {
    embedded_mode_saves_served_bytes("sequential");
}

/// `--all` in `mode` from `serve --dir ../shared/flags`: the book's files, byte for byte.
fn shared_mode_saves_the_books_files(mode: &str) {
    let Some(shared) = shared_flags() else {
        println!("skipping: ../shared/flags is absent");
        return;
    };
    let server = Server::start(&["--dir", shared.to_str().unwrap()]);
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["-s", &server.base_url, "-a", "--mode", mode, "-o", "out"],
    );
    assert_exit(&out, 0);
    let r = quiet_report(&out);
    assert_eq!(r.site, format!("Custom site: {}", server.base_url));
    assert_eq!(r.counts, ["194 flags downloaded."]);
    let codes = all_codes();
    let out_dir = tmp.path().join("out");
    assert_eq!(file_names(&out_dir), gif_names(&codes));
    assert_same_bytes(&out_dir, &codes, |cc| {
        let cc = cc.to_ascii_lowercase();
        std::fs::read(shared.join(&cc).join(format!("{cc}.gif"))).unwrap()
    });
}

#[test]
fn async_mode_saves_the_shared_flags_byte_for_byte() {
    shared_mode_saves_the_books_files("async");
}

#[test]
fn threads_mode_saves_the_shared_flags_byte_for_byte() {
    shared_mode_saves_the_books_files("threads");
}

#[test]
fn sequential_mode_saves_the_shared_flags_byte_for_byte() {
    shared_mode_saves_the_books_files("sequential");
}

#[test]
fn output_folder_is_created_with_its_parents_and_holds_only_the_flags() {
    let tmp = scratch();
    let out_dir = tmp.path().join("a/b/flags");
    let out_arg = out_dir.to_str().unwrap();
    for mode in ["async", "threads", "sequential"] {
        // A second and third run into the same folder replace the files.
        let out = run(
            tmp.path(),
            &["--mode", mode, "-e", "-m", "20", "-o", out_arg],
        );
        assert_exit(&out, 0);
        assert_eq!(
            file_names(&out_dir),
            gif_names(&all_codes()),
            "after --mode {mode}"
        );
    }
}

#[test]
fn a_stale_temporary_from_a_killed_run_is_cleared() {
    // A pid above the kernel's maximum (4194304): that run cannot still be going.
    let tmp = scratch();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join(".br.gif.999999999.flags-dl-part"), b"GIF8").unwrap();
    let out = run(tmp.path(), &["br", "-o", "out"]);
    assert_exit(&out, 0);
    assert_eq!(file_names(&out_dir), ["br.gif"]);
}

#[test]
fn errors_leave_no_file_and_no_temporary() {
    let server = Server::start(&["error", "--error-rate", "1", "--delay", "0"]);
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &["-s", &server.base_url, "-a", "-m", "50", "-o", "out"],
    );
    assert_exit(&out, 1);
    assert_eq!(
        quiet_report(&out).counts,
        ["  0 flags downloaded.", "194 errors."]
    );
    assert_eq!(file_names(&tmp.path().join("out")), Vec::<String>::new());
}

#[test]
fn a_running_processs_temporary_is_left_alone() {
    // Two runs into one folder: the other one (pid 1 stands for it: always running) is
    // still writing its temporary, which this run must not remove.
    let tmp = scratch();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join(".br.gif.1.flags-dl-part"), b"GIF8").unwrap();
    let out = run(tmp.path(), &["cn", "-o", "out"]);
    assert_exit(&out, 0);
    assert!(
        out_dir.join(".br.gif.1.flags-dl-part").exists(),
        "{}",
        show(&out)
    );
    assert!(out_dir.join("cn.gif").exists());
}

#[test]
fn proxy_variables_do_not_apply_to_loopback_servers() {
    // A proxy that refuses every connection: were it used, every code would fail.
    let proxy = format!("http://127.0.0.1:{}", free_port());
    for mode in ["async", "threads"] {
        let tmp = scratch();
        let out = flags_dl()
            .current_dir(tmp.path())
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .args(["br", "cn", "--mode", mode, "-o", "out"])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_stdout_has(&out, "  2 flags downloaded.");
    }
}

#[test]
fn an_output_folder_that_cannot_be_written_is_one_line_before_any_download() {
    let tmp = scratch();
    // Nothing can be created under /proc, not even by root.
    let out = run(tmp.path(), &["-a", "-o", "/proc/flags-dl-test"]);
    assert_exit(&out, 1);
    let line = one_stderr_line(&out);
    assert!(
        line.contains("cannot create the output folder /proc/flags-dl-test"),
        "{line}"
    );
    assert!(line.ends_with("choose another with -o"), "{line}");
    assert!(text(&out.stdout).is_empty(), "{}", show(&out));
}

#[test]
fn a_flag_given_twice_means_what_it_means_once() {
    let tmp = scratch();
    let out = run(
        tmp.path(),
        &[
            "--skip-existing",
            "--skip-existing",
            "-m",
            "3",
            "-m",
            "2",
            "br",
            "cn",
            "us",
            "-o",
            "out",
        ],
    );
    assert_exit(&out, 0);
    assert_stdout_has(&out, "2 concurrent connections will be used.");
}

#[test]
fn list_with_json_quiet_or_verbose_is_a_usage_error() {
    for other in ["--json", "-q", "-v"] {
        let out = usage_error(&["--all", "--list", other]);
        assert_stderr_has(&out, "'--list' cannot be used with");
    }
}

#[test]
fn timeouts_below_a_millisecond_are_refused_not_rounded_to_zero() {
    let out = usage_error(&["--timeout", "1e-300", "br"]);
    assert_stderr_has(&out, "give seconds from 0.001 to 86400");
}
