//! Helpers shared by the integration tests: the binary as an `assert_cmd` command, a
//! `flags-dl serve` child process on a free port, a raw HTTP client, and the book's data.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use assert_cmd::Command;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The environment variables flags-dl reads; removed so the user's settings can't leak in.
const ENV_VARS: [&str; 4] = [
    "FLAGS_DL_SERVER",
    "FLAGS_DL_OUTPUT_DIR",
    "FLAGS_DL_MAX_REQ",
    "NO_COLOR",
];

/// Longest any one run of the binary may take before the test fails: generous, because
/// debug builds on a loaded two-core machine are slow, but a hang still ends.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a started server has to print its address.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of the built binary.
pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flags-dl")
}

/// The binary as an `assert_cmd` command, with flags-dl's environment variables removed
/// and a time limit.
pub fn flags_dl() -> Command {
    let mut cmd = Command::cargo_bin("flags-dl").expect("the flags-dl binary is built");
    for var in ENV_VARS {
        cmd.env_remove(var);
    }
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// The book's 20 most populous countries, sorted: what a run with no codes fetches.
pub const POP20_SORTED: [&str; 20] = [
    "BD", "BR", "CD", "CN", "DE", "EG", "ET", "FR", "ID", "IN", "IR", "JP", "MX", "NG", "PH", "PK",
    "RU", "TR", "US", "VN",
];

/// The 194 codes of the data set, upper case and sorted, from the repository's
/// `flags/country_codes.txt` (the book's file), independent of the code under test.
pub fn all_codes() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("flags/country_codes.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut codes: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    codes.sort();
    assert_eq!(codes.len(), 194, "{} should hold 194 codes", path.display());
    codes
}

/// `<cc>.gif` file names, lower case and sorted, for the given codes.
pub fn gif_names<S: AsRef<str>>(codes: &[S]) -> Vec<String> {
    let mut names: Vec<String> = codes
        .iter()
        .map(|cc| format!("{}.gif", cc.as_ref().to_ascii_lowercase()))
        .collect();
    names.sort();
    names
}

/// The book's real flags, `../shared/flags` beside the repository, if present.
pub fn shared_flags() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flags");
    path.join("br/br.gif").is_file().then_some(path)
}

/// Every entry of a folder (hidden ones included), by name, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `flags-dl serve` child process on a free loopback port, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>/flags`.
    pub base_url: String,
    pub addr: SocketAddr,
    /// The first stdout line, as printed.
    pub banner: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Runs `flags-dl serve --port 0 --quiet <extra>` and waits for its address.
    pub fn start(extra: &[&str]) -> Server {
        // clap takes a preset (`error`) after the options too.
        let mut args = vec!["serve", "--port", "0", "--quiet"];
        args.extend_from_slice(extra);
        let mut child = std::process::Command::new(bin_path())
            .args(&args)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flags-dl serve starts");

        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep draining, so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let line = rx.recv_timeout(START_TIMEOUT);
        let fail = |mut child: Child, why: String| -> String {
            let _ = child.kill();
            let _ = child.wait();
            // Let the stderr thread take the last bytes.
            std::thread::sleep(Duration::from_millis(100));
            format!(
                "flags-dl {}: {why}; its stderr: {:?}",
                args.join(" "),
                stderr.lock().unwrap()
            )
        };
        let banner = match line {
            Ok(Ok(line)) if !line.is_empty() => line.trim_end().to_string(),
            Ok(Ok(_)) => panic!(
                "{}",
                fail(child, "stdout closed before the address line".into())
            ),
            Ok(Err(e)) => panic!("{}", fail(child, format!("cannot read stdout: {e}"))),
            Err(e) => panic!(
                "{}",
                fail(
                    child,
                    format!("no address line within {START_TIMEOUT:?} ({e})")
                )
            ),
        };
        let Some(base_url) = parse_banner(&banner) else {
            panic!(
                "{}",
                fail(child, format!("unexpected first line {banner:?}"))
            )
        };
        let authority = base_url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix("/flags"))
            .unwrap();
        let addr: SocketAddr = authority.parse().unwrap();
        Server {
            child,
            base_url,
            addr,
            banner,
            stderr,
        }
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A GET of `path`, sent verbatim.
    pub fn get(&self, path: &str) -> RawResponse {
        raw_request(self.addr, "GET", path)
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The base URL in `Serving ... at http://127.0.0.1:PORT/flags[, ...]; Ctrl-C stops it.`
pub fn parse_banner(line: &str) -> Option<String> {
    if !line.starts_with("Serving ") || !line.ends_with("; Ctrl-C stops it.") {
        return None;
    }
    let start = line.find(" at http://")? + " at ".len();
    let rest = &line[start..];
    let end = rest.find([',', ';'])?;
    let url = &rest[..end];
    url.ends_with("/flags").then(|| url.to_string())
}

/// An HTTP response as read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    /// The status of the status line, or `None` if the server sent none.
    pub status: Option<u16>,
    /// The status line and headers, lower-cased.
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// Sends `<method> <target> HTTP/1.1` with the target written verbatim (no client
/// normalises it), with `Connection: close`, and reads the whole answer.
pub fn raw_request(addr: SocketAddr, method: &str, target: &str) -> RawResponse {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A reset after a complete answer still leaves the answer in `raw`.
        assert!(
            !raw.is_empty(),
            "{method} {target}: no answer from {addr}: {e}"
        );
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = raw[split..].to_vec();
    let status = head
        .strip_prefix("http/1.1 ")
        .or_else(|| head.strip_prefix("http/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    RawResponse { status, head, body }
}

/// The lines of a run's stdout.
pub fn lines(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
