//! Paths and streams the user hands flags-dl are read within bounds (issue 8 of the
//! hardening issue): `--cacert`, `serve --cert` and `--key`, `SSL_CERT_FILE` and each file
//! of `SSL_CERT_DIR` are read only if they are regular files of at most 4 MiB, and the
//! hidden `bench --child-run` reads at most 1 MiB of its stdin.
//!
//! Each attack runs under a time bound and a memory bound (`ulimit -d`, the process's data
//! segment: its heap and every private mapping it writes), so that the code these tests
//! guard against, which waited on a FIFO for ever or read `/dev/zero` until memory ran
//! out, fails them in seconds instead of taking the machine with it.

use crate::harness::{assert_exit, bin_path, json_run, one_stderr_line, parse_ndjson, scratch};
use crate::harness::{show, text, tool};
use crate::harness::{Scratch, Server};
use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Longest a refused run may take: it reads next to nothing, so a second or two on a slow
/// machine; a FIFO waited on runs into it.
const PROMPTLY: Duration = Duration::from_secs(20);

/// The data segment a run may grow to, in KiB (`ulimit -d`). A run that reads no more than
/// it should needs a few tens of MiB (all 194 flags, 50 threads, fit in 64 MiB); one that
/// reads `/dev/zero` or a gigabyte file whole runs out of it at once.
const DATA_LIMIT_KIB: u64 = 128 * 1024;

/// The bound of a certificate or key file.
const LIMIT_MIB: u64 = 4;

/// How a run is fed.
enum Stdin {
    Closed,
    /// `< /dev/zero`: an endless stream.
    Zeros,
}

/// Runs flags-dl in `cwd` under [`DATA_LIMIT_KIB`], killed past [`PROMPTLY`], with no
/// `SSL_CERT_*` but those of `env`; returns its output and how long it took.
fn bounded(
    cwd: &Path,
    env: &[(&str, &OsStr)],
    args: &[&OsStr],
    stdin: Stdin,
) -> (Output, Duration) {
    let redirect = match stdin {
        Stdin::Closed => "< /dev/null",
        Stdin::Zeros => "< /dev/zero",
    };
    let script = format!("ulimit -d {DATA_LIMIT_KIB} && exec \"$0\" \"$@\" {redirect}");
    let started = Instant::now();
    let output = tool("sh")
        .current_dir(cwd)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .args([OsStr::new("-c"), OsStr::new(&script)])
        .arg(bin_path())
        .args(args)
        .timeout(PROMPTLY)
        .output()
        .unwrap();
    (output, started.elapsed())
}

/// Fails unless the run ended by itself, with exit 2 and one line on stderr that holds
/// `expected`.
fn assert_refused(run: &(Output, Duration), expected: &str, context: &str) {
    let (output, elapsed) = run;
    assert!(
        *elapsed < PROMPTLY,
        "{context}: still running after {elapsed:?}, killed\n{}",
        show(output)
    );
    assert_exit(output, 2);
    let line = one_stderr_line(output);
    assert!(
        line.contains(expected),
        "{context}: {line:?} does not say {expected:?}"
    );
}

/// A CA, a certificate for localhost signed by it and that certificate's key, as PEM files
/// `ca.pem`, `cert.pem` and `key.pem` in `dir`.
fn pem_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// A FIFO at `path`, which no one ever opens for writing.
fn fifo(path: &Path) {
    let made = tool("mkfifo").arg(path).output().unwrap();
    assert!(made.status.success(), "mkfifo: {}", show(&made));
}

/// A file of `size` bytes, made sparse: a gigabyte costs no disk.
fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

/// A file of 5 MiB that looks like certificates all the way: `BEGIN` lines and base64.
fn pem_like_garbage(path: &Path) {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n";
    let block = format!(
        "-----BEGIN CERTIFICATE-----\n{}-----END CERTIFICATE-----\n",
        line.repeat(60)
    );
    let mut text = block.repeat((5 << 20) / block.len() + 1);
    text.truncate(5 << 20);
    std::fs::write(path, text).unwrap();
}

/// An `https` base URL whose port accepts connections, as the run's check before starting
/// needs, and never answers: the runs below stop at their trust store.
fn silent_https_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}/flags",
        listener.local_addr().unwrap().port()
    );
    (listener, url)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The download command with `--cacert PATH`, against the embedded server.
fn cacert(dir: &Scratch, path: &Path) -> (Output, Duration) {
    let args = [
        os("--cacert"),
        path.as_os_str(),
        os("-o"),
        os("out"),
        os("BR"),
    ];
    bounded(dir.path(), &[], &args, Stdin::Closed)
}

/// `flags-dl serve --tls --cert CERT --key KEY`, which must refuse to start.
fn serve(dir: &Scratch, cert: &Path, key: &Path) -> (Output, Duration) {
    let args = [
        os("serve"),
        os("--tls"),
        os("--port"),
        os("0"),
        os("--cert"),
        cert.as_os_str(),
        os("--key"),
        key.as_os_str(),
    ];
    bounded(dir.path(), &[], &args, Stdin::Closed)
}

/// The download command against an https server, with `SSL_CERT_FILE=PATH`.
fn ssl_cert_file(dir: &Scratch, path: &Path) -> (Output, Duration) {
    let (_listener, url) = silent_https_server();
    let env = [("SSL_CERT_FILE", path.as_os_str())];
    let args = [os("-s"), os(&url), os("-o"), os("out"), os("BR")];
    bounded(dir.path(), &env, &args, Stdin::Closed)
}

/// Regression: `--cacert FIFO` and `serve --cert FIFO` waited for a writer for ever.
#[test]
fn a_fifo_as_cacert_cert_or_key_is_refused_at_once() {
    let dir = scratch();
    let (_, cert, key) = pem_files(dir.path());
    let pipe = dir.path().join("pipe.pem");
    fifo(&pipe);
    let said = |option: &str| format!("{option} {}: not a regular file but a FIFO", pipe.display());
    assert_refused(&cacert(&dir, &pipe), &said("--cacert"), "--cacert");
    assert_refused(&serve(&dir, &pipe, &key), &said("--cert"), "--cert");
    assert_refused(&serve(&dir, &cert, &pipe), &said("--key"), "--key");
    assert_refused(
        &ssl_cert_file(&dir, &pipe),
        &said("SSL_CERT_FILE"),
        "SSL_CERT_FILE",
    );
}

/// Regression: `--cacert /dev/zero` read until memory ran out (2.1 GB), `serve --cert
/// /dev/zero` aborted at 2 GB. Under the data limit, the code before the fix failed with
/// "out of memory" or aborted.
#[test]
fn dev_zero_as_cacert_cert_key_or_ssl_cert_file_ends_at_once_in_little_memory() {
    let dir = scratch();
    let (_, cert, key) = pem_files(dir.path());
    let zero = Path::new("/dev/zero");
    let said = "/dev/zero: not a regular file but a character device";
    assert_refused(&cacert(&dir, zero), &format!("--cacert {said}"), "--cacert");
    assert_refused(
        &serve(&dir, zero, &key),
        &format!("--cert {said}"),
        "--cert",
    );
    assert_refused(&serve(&dir, &cert, zero), &format!("--key {said}"), "--key");
    assert_refused(
        &ssl_cert_file(&dir, zero),
        &format!("SSL_CERT_FILE {said}"),
        "SSL_CERT_FILE",
    );
}

/// Regression: a 1 GB `SSL_CERT_FILE` was read whole (1.05 GB resident). Any certificate
/// or key file past 4 MiB is refused by its size before it is read, however much it
/// looks like PEM.
#[test]
fn a_certificate_or_key_file_past_4_mib_is_refused_by_its_size() {
    let dir = scratch();
    let (_, cert, key) = pem_files(dir.path());
    let garbage = dir.path().join("garbage.pem");
    pem_like_garbage(&garbage);
    let huge = dir.path().join("huge.pem");
    sparse(&huge, 1 << 30);
    let too_large =
        |size: &str, what: &str| format!("{size}, more than the {LIMIT_MIB} MiB {what} may be");
    let cert_5 = too_large("5.0 MiB", "a certificate file");
    assert_refused(&cacert(&dir, &garbage), &cert_5, "--cacert");
    assert_refused(&serve(&dir, &garbage, &key), &cert_5, "--cert");
    assert_refused(
        &serve(&dir, &cert, &garbage),
        &too_large("5.0 MiB", "a key file"),
        "--key",
    );
    assert_refused(&ssl_cert_file(&dir, &garbage), &cert_5, "SSL_CERT_FILE");
    assert_refused(
        &ssl_cert_file(&dir, &huge),
        &format!(
            "SSL_CERT_FILE {}: {}",
            huge.display(),
            too_large("1.0 GiB", "a certificate file")
        ),
        "SSL_CERT_FILE",
    );
    assert_refused(
        &cacert(&dir, &huge),
        &too_large("1.0 GiB", "a certificate file"),
        "--cacert",
    );
}

/// The check is on the file opened, not on the name: a symlink to a good PEM file is fine
/// for `--cacert`, `--cert` and `--key` alike.
#[test]
fn symlinks_to_good_pem_files_are_read() {
    let dir = scratch();
    let (ca, cert, key) = pem_files(dir.path());
    let link = |target: &Path, name: &str| {
        let path = dir.path().join(name);
        std::os::unix::fs::symlink(target, &path).unwrap();
        path
    };
    let (ca, cert, key) = (
        link(&ca, "ca-link.pem"),
        link(&cert, "cert-link.pem"),
        link(&key, "key-link.pem"),
    );
    let server = Server::start(&[
        "--tls",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let url = format!("https://localhost:{}/flags", server.addr.port());
    let args = [os("-s"), os(&url), os("--cacert"), ca.as_os_str()];
    let (output, _) = bounded(
        dir.path(),
        &[],
        &[&args[..], &[os("--json"), os("-o"), os("out"), os("BR")]].concat(),
        Stdin::Closed,
    );
    assert_eq!(json_run(&output, 0).summary.ok, 1, "{}", show(&output));
}

/// Regression: a gigabyte file in `SSL_CERT_DIR` was read whole. What is not a regular file
/// there (a FIFO, a link to `/dev/zero`, a subfolder) is passed over without a word, as
/// before; a file past 4 MiB is passed over with one warning; the folder's good CA is
/// still trusted.
#[test]
fn ssl_cert_dir_passes_over_a_fifo_and_a_device_and_warns_of_a_huge_file() {
    let server = Server::start(&["--tls"]);
    let url = format!("https://localhost:{}/flags", server.addr.port());
    let dir = scratch();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(certs.join("subfolder")).unwrap();
    fifo(&certs.join("00-pipe.pem"));
    std::os::unix::fs::symlink("/dev/zero", certs.join("01-zero.pem")).unwrap();
    sparse(&certs.join("02-huge.pem"), 1 << 30);
    std::fs::copy(server.cacert().unwrap(), certs.join("03-ca.pem")).unwrap();
    let run = bounded(
        dir.path(),
        &[("SSL_CERT_DIR", certs.as_os_str())],
        &[
            os("-s"),
            os(&url),
            os("--json"),
            os("-o"),
            os("out"),
            os("BR"),
        ],
        Stdin::Closed,
    );
    let (output, elapsed) = &run;
    assert!(
        *elapsed < PROMPTLY,
        "killed after {elapsed:?}\n{}",
        show(output)
    );
    assert_exit(output, 0);
    assert_eq!(parse_ndjson(&text(&output.stdout)).summary.ok, 1);
    let line = one_stderr_line(output);
    assert!(
        line.starts_with("flags-dl: warning: passed over SSL_CERT_DIR's ")
            && line.contains("02-huge.pem: 1.0 GiB, more than the 4 MiB"),
        "{line}"
    );
}

/// Regression: the hidden `bench --child-run` read its stdin for a line without bound: fed
/// an endless stream, it grew until memory ran out.
#[test]
fn bench_child_run_refuses_an_endless_stdin_at_once() {
    let dir = scratch();
    let run = bounded(
        dir.path(),
        &[],
        &[os("bench"), os("--child-run")],
        Stdin::Zeros,
    );
    assert_refused(
        &run,
        "more than 1024 KiB without a line's end",
        "--child-run",
    );
}
