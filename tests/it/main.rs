//! The integration tests: one binary (one link), with a module per area, all over one
//! shared [`harness`]. Every test drives the built `flags-dl` binary against servers on
//! 127.0.0.1 only (its embedded server, a `flags-dl serve` child, Python's, or the
//! [`fault_server`] in this process), with a time limit.
//!
//! - [`download`]: the download command as a user sees it (report, exit status, files).
//! - [`har`]: `--har`, the run as an HTTP Archive 1.2, checked against its schema.
//! - [`h2_faults`]: the failure promises over HTTP/2 (reset streams, GOAWAY, timeouts).
//! - [`pipeline`]: stdin, `--list`, `--json`, `-q`, pipes, colour, the environment,
//!   completions, the man page, `--help` and the exit codes (Unix only).
//! - [`reliability`]: servers that fail, stall, lie and attack; Ctrl-C; load and peers.
//! - [`serve`]: `flags-dl serve` asked with raw HTTP requests.
//! - [`serve_hardening`]: `flags-dl serve` against a local attacker in its folder.
//! - [`serve_bounds`]: `flags-dl serve` under floods: window-starved HTTP/2, thousands of
//!   streams, no file descriptors left, the connection cap.
//! - [`serve_page`]: `flags-dl serve` in a browser: listings, the gallery, the live figures,
//!   over raw HTTP and in headless Chromium (skipped, saying why, where none is installed).
//! - [`serve_latency`]: `serve --latency` keeps what it holds bounded and nothing open.
//! - [`serve_tls_hardening`]: `serve --tls` against slow, idle and flooding connections.
//! - [`tls`]: HTTPS and HTTP/2 against `flags-dl serve --tls`.
//! - [`bench`]: `flags-dl bench` and its exports.
//! - [`bounded_inputs`]: certificate and key paths, and `bench --child-run`'s stdin, read
//!   within bounds: a FIFO, `/dev/zero` or a gigabyte file hangs nothing, fills no memory.
//! - [`client_hardening`]: the client against a local attacker and hostile input.
//! - [`listen_queue`]: what a server that takes one connection at a time sees of the pace.
//! - [`one_path`]: the same response gives the same result in every mode.
//! - [`phases`]: where each request's time went (`timings`, `connection`), in every mode.
//! - [`pictures`]: `--timeline` and `--trace`.
//! - [`proxy`]: which proxy each request goes through, and how, in every mode.

mod harness;

mod bench;
#[cfg(unix)]
mod bounded_inputs;
mod client_hardening;
mod download;
mod fault_server;
mod h2_faults;
mod har;
mod listen_queue;
mod one_path;
mod phases;
mod pictures;
#[cfg(unix)]
mod pipeline;
mod proxy;
mod reliability;
mod serve;
mod serve_bounds;
mod serve_hardening;
mod serve_latency;
mod serve_page;
mod serve_tls_hardening;
mod tls;
