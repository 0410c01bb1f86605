//! The one harness every area of the integration tests shares, so that there is one way
//! to do each thing a test does:
//!
//! - [`run`]: the built binary with a cleared environment and a time limit, run in a
//!   [`Scratch`] folder, and what a run printed ([`show`], [`assert_exit`], ...).
//! - [`child`]: a process started by hand ([`Spawned`]): its stdout line by line, its
//!   stderr collected, signals, a bounded wait; killed when dropped.
//! - [`server`]: a server child (`flags-dl serve`, `python3 -m http.server` or a Python
//!   script) started on a free loopback port, found from its banner, stopped when dropped.
//! - [`http`]: a raw HTTP/1.1 request, with the target written verbatim.
//! - [`cases`]: a table of cases run as one test, each to its end ([`check_each`]).
//! - [`report`]: the book's human report, parsed into its parts, and the counts it
//!   should print for a tally of its `-v` lines ([`Tally`]).
//! - [`ndjson`]: the `--json` output, checked against its documented shape and typed.
//! - [`data`]: the book's data (country codes, the shared flags) and GIF checks.
//!
//! It holds no assertion about flags-dl's behaviour beyond the documented shape of its
//! output: those live in the area modules beside it.

pub mod cases;
pub mod child;
pub mod data;
pub mod http;
pub mod ndjson;
pub mod report;
pub mod run;
pub mod server;

pub use cases::check_each;
pub use child::Spawned;
pub use data::{all_codes, assert_decodable_gif, gif_names, shared_flags, POP20_SORTED};
pub use http::{raw_request, raw_request_with, RawResponse};
pub use ndjson::{json_run, parse_ndjson, CodeLine, JsonRun, Status, Summary};
pub use report::{report, split_verbose, without_phases, Report, Tally};
pub use run::{
    assert_exit, assert_no_stderr, assert_no_stdout, assert_stderr_has, assert_stdout_has,
    bin_path, command, file_names, flags_dl, lines, one_stderr_line, run, run_env, run_stdin,
    scratch, show, text, tool, Scratch, RUN_TIMEOUT,
};
pub use server::{free_port, Server};
