//! The plan of a bench: which (mode, HTTP version, max-req) triples to time, and the
//! embedded server's delay when none is given. This module does not run anything and
//! prints nothing.

use crate::download::mode::MAX_IN_FLIGHT;
use crate::download::Mode;
use crate::serve::inject::DelayRange;
use std::time::Duration;

/// The embedded server's delay when none is given: long enough that waiting dominates, as
/// it does on the real network, short enough that the default bench takes seconds.
pub const DEFAULT_DELAY: DelayRange = DelayRange {
    min: Duration::from_millis(100),
    max: Duration::from_millis(300),
};

/// The HTTP version a run offers the server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Http {
    /// HTTP/1.1 only: what `--http1.1` asks for, and all that threads and sequential speak.
    #[serde(rename = "1.1")]
    H1,
    /// HTTP/2 offered by ALPN (with HTTP/1.1 as the fallback): async's default over TLS.
    #[serde(rename = "2")]
    H2,
}

impl Http {
    /// "1.1" or "2", as NDJSON's `http_version` and the exports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Http::H1 => "1.1",
            Http::H2 => "2",
        }
    }
}

impl std::fmt::Display for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP versions that answered, as one value: "1.1", "2", or "1.1+2" when some answers
/// came over each; `None` when nothing answered. Each item may itself be such a value, so
/// that the runs' versions combine into their row's.
pub fn versions<'a>(items: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut seen: Vec<&str> = items.into_iter().flat_map(|v| v.split('+')).collect();
    seen.sort_unstable();
    seen.dedup();
    (!seen.is_empty()).then(|| seen.join("+"))
}

/// One line of the table: a mode over one HTTP version at one level of concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// What the runs offer the server (always HTTP/1.1 for threads and sequential).
    pub http: Http,
    /// As asked for (always 1 for sequential).
    pub max_req: usize,
}

/// 5, 20, 80, ... up to the first value above `code_count` (at most 1000): each step cuts
/// the waiting by four until every request is in flight at once, and the point past that
/// shows the curve flatten. It starts at 5, the book's default for asyncio, not at 1: one
/// request in flight is what the sequential baseline already measures, and timing it again
/// in two more modes would make the default bench take a minute instead of under 30 s.
pub fn default_max_req(code_count: usize) -> Vec<usize> {
    let mut levels = vec![];
    let mut m = 5;
    loop {
        levels.push(m.min(MAX_IN_FLIGHT));
        if m > code_count || m >= MAX_IN_FLIGHT {
            return levels;
        }
        m *= 4;
    }
}

/// Every mode at every level, except sequential, which has one level: 1; async over each
/// of `http`, the others over HTTP/1.1, the only version their clients speak (as the
/// book's `requests`).
pub fn plan(modes: &[Mode], http: &[Http], levels: &[usize]) -> Vec<Config> {
    let mut seen = vec![];
    let mut configs = vec![];
    for &mode in modes {
        if seen.contains(&mode) {
            continue;
        }
        seen.push(mode);
        match mode {
            Mode::Sequential => configs.push(Config {
                mode,
                http: Http::H1,
                max_req: 1,
            }),
            Mode::Threads => configs.extend(levels.iter().map(|&max_req| Config {
                mode,
                http: Http::H1,
                max_req,
            })),
            Mode::Async => {
                for &http in http {
                    configs.extend(levels.iter().map(|&max_req| Config {
                        mode,
                        http,
                        max_req,
                    }));
                }
            }
        }
    }
    configs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_levels_stop_once_every_code_is_in_flight() {
        assert_eq!(default_max_req(20), [5, 20, 80]);
        assert_eq!(default_max_req(194), [5, 20, 80, 320]);
        assert_eq!(default_max_req(676), [5, 20, 80, 320, 1000]);
        assert_eq!(default_max_req(3), [5]);
        assert_eq!(default_max_req(5), [5, 20]);
        assert_eq!(default_max_req(1000), [5, 20, 80, 320, 1000]);
    }

    #[test]
    fn versions_combine_once_each_in_order() {
        assert_eq!(versions(["2", "1.1", "2"]).as_deref(), Some("1.1+2"));
        assert_eq!(versions(["1.1+2", "2"]).as_deref(), Some("1.1+2"));
        assert_eq!(versions([]), None);
    }
}
