//! HTTPS you can trust (issue 10): the client against `flags-dl serve --tls`, whose
//! certificate comes from a CA the server makes at start, as a company proxy's or a test
//! server's would.

use crate::harness::{assert_exit, json_run, one_stderr_line, run, run_env, scratch, Server};

/// The server's https base URL, by name (the certificate is for localhost), and its CA.
fn tls_server() -> (Server, String, String) {
    let server = Server::start(&["--tls", "--quiet"]);
    let url = format!("https://localhost:{}/flags", server.addr.port());
    let ca = ca_of(&server);
    (server, url, ca)
}

/// The CA file a `serve --tls` banner names.
fn ca_of(server: &Server) -> String {
    let ca = server.cacert();
    let ca = ca.unwrap_or_else(|| panic!("no CA in {:?}", server.banner));
    ca.to_str().expect("a temporary path in UTF-8").to_string()
}

#[test]
fn with_its_ca_async_speaks_http2_over_one_connection_and_threads_http11() {
    let (_server, url, ca) = tls_server();
    let dir = scratch();
    let out = run(
        dir.path(),
        &[
            "-s", &url, "--cacert", &ca, "-m", "20", "--json", "-o", "a", "--all",
        ],
    );
    let run_async = json_run(&out, 0);
    assert_eq!(run_async.summary.ok, 194);
    assert!(run_async
        .codes
        .values()
        .all(|c| c.http_version.as_deref() == Some("2")));
    assert_eq!(
        run_async.summary.more["connections"], 1,
        "streams share one connection"
    );

    let out = run(
        dir.path(),
        &[
            "-s", &url, "--cacert", &ca, "--mode", "threads", "--json", "-o", "t", "BR",
        ],
    );
    let threads = json_run(&out, 0);
    assert_eq!(threads.codes["br"].http_version.as_deref(), Some("1.1"));

    let out = run(
        dir.path(),
        &[
            "-s",
            &url,
            "--cacert",
            &ca,
            "--http1.1",
            "--json",
            "-o",
            "h",
            "BR",
        ],
    );
    assert_eq!(
        json_run(&out, 0).codes["br"].http_version.as_deref(),
        Some("1.1")
    );
}

#[test]
fn ssl_cert_file_is_honoured_as_openssl_tools_honour_it() {
    let (_server, url, ca) = tls_server();
    let dir = scratch();
    let out = run_env(
        dir.path(),
        &[("SSL_CERT_FILE", &ca)],
        &["-s", &url, "--json", "-o", "out", "BR"],
    );
    assert_eq!(json_run(&out, 0).summary.ok, 1);
}

#[test]
fn an_untrusted_certificate_is_one_line_never_retried_and_nothing_saved() {
    let (_server, url, _ca) = tls_server();
    for mode in ["async", "threads"] {
        let dir = scratch();
        let out = run(
            dir.path(),
            &["-s", &url, "--mode", mode, "-o", "out", "BR", "CN"],
        );
        assert_exit(&out, 1);
        let line = one_stderr_line(&out);
        assert!(
            line.contains("certificate of localhost:") && line.contains("--cacert"),
            "{mode}: {line}"
        );
        let saved = std::fs::read_dir(dir.path().join("out")).map_or(0, |d| d.count());
        assert_eq!(saved, 0, "{mode}: nothing saved");
    }
}

#[test]
fn a_missing_cacert_is_a_usage_error() {
    let dir = scratch();
    let out = run(dir.path(), &["--cacert", "no-such.pem", "BR", "-o", "out"]);
    assert_exit(&out, 2);
    assert!(one_stderr_line(&out).contains("--cacert no-such.pem"));
}

/// The download command's `--tls` and `--latency` act on the embedded server, which the
/// run then trusts by itself: what connection reuse and HTTP/2 buy, on any machine.
#[test]
fn the_embedded_server_speaks_tls_and_pays_a_round_trip_per_exchange() {
    let dir = scratch();
    let out = run(
        dir.path(),
        &[
            "--all",
            "--tls",
            "--latency",
            "20",
            "-m",
            "50",
            "--json",
            "-o",
            "a",
        ],
    );
    let async_run = json_run(&out, 0);
    assert_eq!(async_run.summary.ok, 194);
    assert_eq!(async_run.summary.more["connections"], 1);
    assert!(async_run
        .codes
        .values()
        .all(|c| c.http_version.as_deref() == Some("2")));

    // One request at a time on one kept-alive connection: each of the 10 pays at least
    // one 50 ms round trip (a lower bound, which no slow machine can break).
    let out = run(
        dir.path(),
        &[
            "-l",
            "10",
            "--latency",
            "50",
            "--mode",
            "sequential",
            "--json",
            "-o",
            "s",
        ],
    );
    let sequential = json_run(&out, 0);
    assert_eq!(sequential.summary.ok, 10);
    assert!(
        sequential.summary.elapsed_s >= 0.5,
        "10 requests in {} s through a 50 ms round trip",
        sequential.summary.elapsed_s
    );
}

#[test]
fn latency_and_tls_are_for_the_embedded_server_only() {
    let dir = scratch();
    for option in [&["--latency", "50"][..], &["--tls"][..]] {
        let out = run(
            dir.path(),
            &[&["-s", "http://127.0.0.1:9/flags", "BR"][..], option].concat(),
        );
        assert_exit(&out, 2);
        assert!(one_stderr_line(&out).contains("embedded server only"));
    }
}

/// HTTP/2 as the server saw it, not only as the client reports it: its log says which
/// requests came over HTTP/2.
#[test]
fn the_server_sees_http2_from_async_and_http11_from_threads() {
    let (server, url, ca) = {
        // Not --quiet: the log line per request is what this test reads.
        let server = Server::from_banner(crate::harness::Spawned::start(Server::command(&[
            "--port", "0", "--tls",
        ])));
        let url = format!("https://localhost:{}/flags", server.addr.port());
        let ca = ca_of(&server);
        (server, url, ca)
    };
    let dir = scratch();
    let out = run(
        dir.path(),
        &["-s", &url, "--cacert", &ca, "-o", "a", "BR", "CN"],
    );
    assert_exit(&out, 0);
    let out = run(
        dir.path(),
        &[
            "-s", &url, "--cacert", &ca, "--mode", "threads", "-o", "t", "JP",
        ],
    );
    assert_exit(&out, 0);
    let stopped = server.stop("TERM");
    let log = format!("{}{}", stopped.stdout, stopped.stderr);
    let line = |cc: &str| {
        log.lines()
            .find(|l| l.contains(&format!("{cc} 200")))
            .unwrap_or_else(|| panic!("no {cc} in {log}"))
            .to_string()
    };
    assert!(line("BR").ends_with("over HTTP/2"), "{log}");
    assert!(line("CN").ends_with("over HTTP/2"), "{log}");
    assert!(!line("JP").contains("HTTP/2"), "{log}");
}

/// A certificate for other names is refused, as an unknown issuer is.
#[test]
fn a_certificate_for_another_name_is_refused() {
    let server = Server::start(&["--tls", "--quiet", "--bind", "0.0.0.0"]);
    let ca = ca_of(&server);
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
    let url = format!("https://127.0.0.2:{}/flags", server.addr.port());
    let dir = scratch();
    let out = run(
        dir.path(),
        &["-s", &url, "--cacert", &ca, "-o", "out", "BR"],
    );
    assert_exit(&out, 1);
    let line = one_stderr_line(&out);
    assert!(
        line.contains("certificate of 127.0.0.2:") && line.contains("NotValidForName"),
        "{line}"
    );
}

/// Over TLS, every mode saves the same bytes.
#[test]
fn all_three_modes_save_the_same_flags_over_tls() {
    let dir = scratch();
    for mode in ["async", "threads", "sequential"] {
        let out = run(
            dir.path(),
            &["--tls", "-l", "12", "--mode", mode, "-m", "4", "-o", mode],
        );
        assert_exit(&out, 0);
    }
    let files = |mode: &str| {
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join(mode))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| std::fs::read(dir.path().join(mode).join(&n)).unwrap())
            .collect::<Vec<_>>()
    };
    let reference = files("async");
    assert_eq!(reference.len(), 12);
    assert_eq!(files("threads"), reference);
    assert_eq!(files("sequential"), reference);
}

/// `serve --cert/--key` serves a given certificate; one that has expired is refused by the
/// client, with the reason, as any certificate failure is.
#[test]
fn an_expired_certificate_is_refused() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

    let dir = scratch();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    let server = Server::start(&[
        "--tls",
        "--cert",
        &path("cert.pem"),
        "--key",
        &path("key.pem"),
    ]);
    assert!(!server.banner.contains("--cacert"), "{}", server.banner);
    let url = format!("https://localhost:{}/flags", server.addr.port());
    let out = run(
        dir.path(),
        &["-s", &url, "--cacert", &path("ca.pem"), "-o", "out", "BR"],
    );
    assert_exit(&out, 1);
    let line = one_stderr_line(&out);
    assert!(
        line.contains("certificate of localhost:") && line.contains("Expired"),
        "{line}"
    );
}

/// `serve --tls` removes the CA file it made when it stops; on SIGHUP (a closed terminal)
/// it died at once and left the file behind. Now SIGHUP stops it as SIGTERM does.
#[test]
fn serve_tls_removes_its_ca_file_on_sighup_too() {
    let server = Server::start(&["--tls"]);
    let ca = server.cacert().expect("a CA file on the banner");
    assert!(ca.is_file());
    let pid = server.pid();
    let mut process = server.into_process_keeping_files();
    process.signal("HUP");
    let status = process
        .wait(std::time::Duration::from_secs(5))
        .expect("stopped within 5 s of SIGHUP");
    assert!(status.success(), "a clean stop: {status:?} (pid {pid})");
    assert!(!ca.exists(), "the CA file {} is left behind", ca.display());
}
