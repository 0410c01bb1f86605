//! The `--json` output (NDJSON), checked against its documented shape and typed: one JSON
//! object per code, each code once, and `{"summary": {...}}` last, whose counts agree
//! with the lines. Fields beyond the documented ones are allowed (they are additions).

use super::run::{assert_exit, assert_no_stderr, text, RUN_TIMEOUT};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    NotFound,
    Error,
    Skipped,
    Cancelled,
}

/// One code's line, as documented. (`ms` is checked for presence and type only: a
/// duration varies.)
#[derive(Debug, Deserialize)]
pub struct CodeLine {
    pub cc: String,
    pub status: Status,
    pub path: Option<String>,
    pub bytes: u64,
    pub ms: u64,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub http_version: Option<String>,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    /// Where its last exchange's time went, in ms.
    pub timings: Option<Timings>,
    /// The connection its last exchange went over.
    pub connection: Option<Connection>,
}

/// A record's `timings` (and the summary's): each phase in ms, `null` where it did not
/// happen.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    pub queued: Option<f64>,
    pub dns: Option<f64>,
    pub connect: Option<f64>,
    pub tls: Option<f64>,
    pub wait: Option<f64>,
    pub receive: Option<f64>,
    pub save: Option<f64>,
}

impl Timings {
    /// Everything after `queued`: for a code fetched in one exchange, its `ms`.
    pub fn after_queue(&self) -> f64 {
        [
            self.dns,
            self.connect,
            self.tls,
            self.wait,
            self.receive,
            self.save,
        ]
        .iter()
        .flatten()
        .sum()
    }
}

/// A record's `connection`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub id: u64,
    pub new: bool,
}

/// The last line: `{"summary": {...}}`.
#[derive(Debug, Deserialize)]
struct SummaryLine {
    summary: Summary,
}

#[derive(Debug, Deserialize)]
pub struct Summary {
    pub ok: usize,
    pub not_found: usize,
    pub error: usize,
    pub skipped: usize,
    pub cancelled: usize,
    pub total: usize,
    pub elapsed_s: f64,
    pub mode: String,
    pub max_req: usize,
    pub server: String,
    /// The fields beyond the documented ones above (the pace's, for one).
    #[serde(flatten)]
    pub more: Map<String, Value>,
}

/// The JSON type a documented field must have.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Uint,
    Number,
    StrOrNull,
    UintOrNull,
    Bool,
    ObjectOrNull,
}

const CODE_FIELDS: [(&str, Kind); 12] = [
    ("cc", Kind::Str),
    ("status", Kind::Str),
    ("path", Kind::StrOrNull),
    ("bytes", Kind::Uint),
    ("ms", Kind::Uint),
    ("attempts", Kind::Uint),
    ("http_status", Kind::UintOrNull),
    ("http_version", Kind::StrOrNull),
    ("error", Kind::StrOrNull),
    ("error_kind", Kind::StrOrNull),
    ("timings", Kind::ObjectOrNull),
    ("connection", Kind::ObjectOrNull),
];

const SUMMARY_FIELDS: [(&str, Kind); 15] = [
    ("ok", Kind::Uint),
    ("not_found", Kind::Uint),
    ("error", Kind::Uint),
    ("skipped", Kind::Uint),
    ("cancelled", Kind::Uint),
    ("total", Kind::Uint),
    ("elapsed_s", Kind::Number),
    ("mode", Kind::Str),
    ("max_req", Kind::Uint),
    ("server", Kind::Str),
    ("peak_in_flight", Kind::Uint),
    ("pace_lowered", Kind::Uint),
    ("connections", Kind::Uint),
    ("late_connects", Kind::Uint),
    ("timings", Kind::ObjectOrNull),
];

const WAIT_FIELDS: [(&str, Kind); 5] = [
    ("http_status", Kind::Uint),
    ("wait_s", Kind::Number),
    ("waited_s", Kind::Number),
    ("max_wait_s", Kind::Number),
    ("gave_up", Kind::Bool),
];

/// Fails unless every documented field is present with its type (others may be added).
fn check_fields(object: &Map<String, Value>, fields: &[(&str, Kind)], line: &str) {
    for (name, kind) in fields {
        let value = object
            .get(*name)
            .unwrap_or_else(|| panic!("no field {name:?} in {line}"));
        let fits = match kind {
            Kind::Str => value.is_string(),
            Kind::Uint => value.is_u64(),
            Kind::Number => value.is_number(),
            Kind::StrOrNull => value.is_string() || value.is_null(),
            Kind::UintOrNull => value.is_u64() || value.is_null(),
            Kind::Bool => value.is_boolean(),
            Kind::ObjectOrNull => value.is_object() || value.is_null(),
        };
        assert!(
            fits,
            "field {name:?} should be {kind:?}, is {value} in {line}"
        );
    }
}

/// A `--json` run's stdout, checked and typed.
#[derive(Debug)]
pub struct JsonRun {
    /// By lower-case code.
    pub codes: BTreeMap<String, CodeLine>,
    /// The `{"wait": {...}}` records, in order: the server asked the run to wait.
    pub waits: Vec<Wait>,
    pub summary: Summary,
}

/// A `{"wait": {...}}` record.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Wait {
    pub http_status: u16,
    pub wait_s: f64,
    pub waited_s: f64,
    pub max_wait_s: f64,
    pub gave_up: bool,
}

impl JsonRun {
    /// The codes (lower case) of the lines with this status.
    pub fn with_status(&self, status: Status) -> BTreeSet<String> {
        self.codes
            .values()
            .filter(|line| line.status == status)
            .map(|line| line.cc.clone())
            .collect()
    }

    /// Every code reported (lower case).
    pub fn cc_set(&self) -> BTreeSet<String> {
        self.codes.keys().cloned().collect()
    }
}

/// Parses NDJSON: only JSON objects, one per line, each code once, a summary last whose
/// counts agree with the lines, from a server on loopback.
pub fn parse_ndjson(stdout: &str) -> JsonRun {
    assert!(
        stdout.ends_with('\n'),
        "NDJSON should end with a newline:\n{stdout}"
    );
    let all: Vec<&str> = stdout.lines().collect();
    let (last, code_lines) = all.split_last().expect("some NDJSON lines");
    let mut codes = BTreeMap::new();
    let mut waits = Vec::new();
    for line in code_lines {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{stdout}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("not a JSON object: {line}"));
        assert!(
            !object.contains_key("summary"),
            "a summary before the last line:\n{stdout}"
        );
        if let Some(wait) = object.get("wait").and_then(Value::as_object) {
            check_fields(wait, &WAIT_FIELDS, line);
            waits.push(serde_json::from_value(object["wait"].clone()).unwrap());
            continue;
        }
        check_fields(object, &CODE_FIELDS, line);
        let code: CodeLine = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("a code line of the wrong shape ({e}): {line}"));
        assert!(
            code.cc.len() == 2 && code.cc.bytes().all(|b| b.is_ascii_lowercase()),
            "cc should be two lower-case letters: {line}"
        );
        let cc = code.cc.clone();
        assert!(
            codes.insert(cc.clone(), code).is_none(),
            "{cc} reported twice:\n{stdout}"
        );
    }
    let value: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {last:?}"));
    let object = value
        .as_object()
        .and_then(|o| o.get("summary"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("the last line is not {{\"summary\": {{...}}}}: {last}"));
    check_fields(object, &SUMMARY_FIELDS, last);
    let SummaryLine { summary } = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("a summary of the wrong shape ({e}): {last}"));

    let run = JsonRun {
        codes,
        waits,
        summary,
    };
    let count = |status| run.with_status(status).len();
    let s = &run.summary;
    assert_eq!(
        (s.ok, s.not_found, s.error, s.skipped, s.cancelled),
        (
            count(Status::Ok),
            count(Status::NotFound),
            count(Status::Error),
            count(Status::Skipped),
            count(Status::Cancelled)
        ),
        "summary counts disagree with the lines:\n{stdout}"
    );
    assert_eq!(s.total, run.codes.len(), "summary total:\n{stdout}");
    assert!(
        s.elapsed_s >= 0.0 && s.elapsed_s < RUN_TIMEOUT.as_secs_f64(),
        "elapsed_s: {last}"
    );
    assert!(
        ["http://127.0.0.1:", "https://localhost:"]
            .iter()
            .any(|loopback| s.server.starts_with(loopback)),
        "a server on loopback: {last}"
    );
    run
}

/// Checks a `--json` run that must exit with `code`, print nothing on stderr and only
/// NDJSON on stdout, and returns its NDJSON.
pub fn json_run(out: &Output, code: i32) -> JsonRun {
    assert_exit(out, code);
    assert_no_stderr(out);
    parse_ndjson(&text(&out.stdout))
}
