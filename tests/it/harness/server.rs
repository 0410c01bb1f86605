//! A server child on a free loopback port: `flags-dl serve`, `python3 -m http.server` or
//! a Python script of `scripts/`. Each prints its address on its first stdout line (the
//! banner); the test waits for that line, so it never guesses when the port is open, and
//! a server that exits instead fails the test at once with what it said on stderr.
//! Dropping a [`Server`] kills it.

use super::child::Spawned;
use super::http::{raw_request, RawResponse};
use super::run::{bin_path, command};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a started server has to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server has to stop after [`Server::stop`]'s signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A server that [`Server::stop`] stopped.
pub struct Stopped {
    /// From the signal to the exit.
    pub took: Duration,
    /// What it wrote to stdout after its banner, and to stderr.
    pub stdout: String,
    pub stderr: String,
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running server child.
pub struct Server {
    process: Spawned,
    /// `http://127.0.0.1:<port>/flags`.
    pub base_url: String,
    pub addr: SocketAddr,
    /// The first stdout line, as printed.
    pub banner: String,
    /// The CA file of a `serve --tls`, removed with the server: a killed server cannot
    /// remove it itself, and each test run left one in the temporary folder.
    _ca_file: Option<RemovedOnDrop>,
}

/// A file removed when this is dropped.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Server {
    /// Runs `flags-dl serve --port 0 --quiet <extra>` and waits for its address.
    pub fn start(extra: &[&str]) -> Server {
        // clap takes a preset (`error`) after the options too.
        let mut args = vec!["--port", "0", "--quiet"];
        args.extend_from_slice(extra);
        Server::from_banner(Spawned::start(Server::command(&args)))
    }

    /// `flags-dl serve <args>` as a command, for [`Server::from_banner`].
    pub fn command(args: &[&str]) -> std::process::Command {
        let mut cmd = command(bin_path());
        cmd.arg("serve").args(args);
        cmd
    }

    /// Waits for the banner of a started `flags-dl serve`:
    /// `Serving ... at http://127.0.0.1:PORT/flags[, ...]; Ctrl-C stops it.`
    pub fn from_banner(process: Spawned) -> Server {
        let mut server = Server::wait_for_banner(process, |banner| {
            if !banner.starts_with("Serving ") || !banner.ends_with("; Ctrl-C stops it.") {
                return None;
            }
            // `--tls` serves https and names its CA: `https://…/flags (its CA …)`.
            let start = banner.find("://")? + "://".len();
            let rest = &banner[start..];
            let authority = rest[..rest.find([',', ';', ' '])?].strip_suffix("/flags")?;
            authority.parse().ok()
        });
        server._ca_file = server.cacert().map(RemovedOnDrop);
        server
    }

    /// Runs `python3 -u <args> --bind 127.0.0.1 --directory <dir>`, `args` asking for
    /// port 0, and waits for its address; `None` (the test is skipped) where python3 is
    /// missing. The flags are at `/flags` if `dir` holds the book's `flags/` folder.
    pub fn python(args: &[&str], dir: &Path) -> Option<Server> {
        let mut cmd = command("python3");
        cmd.arg("-u")
            .args(args)
            .args(["--bind", "127.0.0.1", "--directory"])
            .arg(dir);
        if let Err(e) = command("python3").arg("--version").output() {
            println!("skipping: python3 is not available ({e})");
            return None;
        }
        // `Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ...`
        Some(Server::wait_for_banner(Spawned::start(cmd), |banner| {
            let (_, rest) = banner.split_once(" port ")?;
            let port: u16 = rest.split_whitespace().next()?.parse().ok()?;
            Some(SocketAddr::from(([127, 0, 0, 1], port)))
        }))
    }

    /// Waits for the first stdout line and finds the address in it with `address`.
    fn wait_for_banner(
        mut process: Spawned,
        address: impl Fn(&str) -> Option<SocketAddr>,
    ) -> Server {
        let line = process.next_line(START_TIMEOUT);
        let fail = |process: Spawned, why: String| -> ! {
            let (_, stderr) = process.kill();
            panic!("the server did not start: {why}; its stderr: {stderr:?}")
        };
        let banner = match line {
            Ok(line) => line.trim_end().to_string(),
            Err(e) => fail(
                process,
                format!("no address line within {START_TIMEOUT:?} ({e})"),
            ),
        };
        let Some(addr) = address(&banner) else {
            fail(process, format!("unexpected first line {banner:?}"))
        };
        Server {
            process,
            base_url: format!("http://{addr}/flags"),
            addr,
            banner,
            _ca_file: None,
        }
    }

    /// The CA file a `serve --tls` banner names (`(its CA for --cacert: FILE)`).
    pub fn cacert(&self) -> Option<std::path::PathBuf> {
        let (_, rest) = self.banner.split_once("--cacert: ")?;
        Some(rest.split_once(')')?.0.into())
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A GET of `path`, sent verbatim.
    pub fn get(&self, path: &str) -> RawResponse {
        raw_request(self.addr, "GET", path)
    }

    /// The server's process id, to read its /proc entries.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Sends `SIG<signal>` (`TERM`, `INT`, `HUP`) and waits for the exit, failing the
    /// test unless the server stops cleanly (exit 0) within [`STOP_TIMEOUT`].
    pub fn stop(self, signal: &str) -> Stopped {
        self.process.signal(signal);
        let sent = Instant::now();
        let (status, stdout, stderr) = self.process.finish(STOP_TIMEOUT);
        let took = sent.elapsed();
        assert!(status.success(), "{status} after SIG{signal}: {stderr}");
        Stopped {
            took,
            stdout,
            stderr,
        }
    }

    /// The server's process, to signal it and wait for its exit, leaving a `--tls` CA
    /// file for the server itself to remove, so that a test can see whether it does.
    pub fn into_process_keeping_files(mut self) -> Spawned {
        if let Some(file) = self._ca_file.take() {
            std::mem::forget(file);
        }
        self.process
    }
}
