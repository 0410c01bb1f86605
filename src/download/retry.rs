//! When a failed request is tried again, and how long to wait first.
//!
//! Transient failures (connect errors, resets, a kept-alive connection the server had
//! closed, timeouts, and the statuses of `--retry-status`) are retried up to `--retries`
//! times, with exponential backoff and jitter so that many codes failing together do not
//! retry together. A server's `Retry-After` is a minimum wait; no wait exceeds 60 s.

use rand::Rng;
use std::time::{Duration, SystemTime};

/// The longest wait before a retry, whatever the server asks.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The statuses retried by default: timeouts, rate limits and server errors that say
/// "try later".
pub const DEFAULT_RETRY_STATUS: [u16; 6] = [408, 429, 500, 502, 503, 504];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 is the book's behaviour.
    pub retries: u32,
    /// Statuses worth another attempt.
    pub statuses: Vec<u16>,
    /// The first backoff; each retry doubles it.
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 2,
            statuses: DEFAULT_RETRY_STATUS.to_vec(),
            base: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    pub fn retries_status(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    /// Whether a failure on attempt `attempt` (1-based) is tried again.
    pub fn should_retry(&self, attempt: u32, transient: bool) -> bool {
        transient && attempt <= self.retries
    }

    /// The wait after failed attempt `attempt` (1-based): `base * 2^(attempt-1)`, scaled by
    /// a random factor in [0.5, 1), raised to the server's `Retry-After`, capped at 60 s.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let jittered = exponential.mul_f64(rand::rng().random_range(0.5..1.0));
        jittered.max(retry_after.unwrap_or_default()).min(MAX_WAIT)
    }
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (a date in the past means now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_WAIT));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(MAX_WAIT),
    )
}

/// Parses `--retry-status`: a comma-separated list of HTTP statuses (100–599), or `none`.
pub fn parse_status_list(arg: &str) -> Result<Vec<u16>, String> {
    if arg.trim().eq_ignore_ascii_case("none") || arg.trim().is_empty() {
        return Ok(Vec::new());
    }
    arg.split(',')
        .map(|item| match item.trim().parse::<u16>() {
            Ok(code) if (100..=599).contains(&code) => Ok(code),
            _ => Err(format!(
                "'{}' is not an HTTP status: give a comma-separated list such as 429,503",
                item.trim()
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_with_jitter_and_honour_retry_after() {
        let policy = RetryPolicy::default();
        for _ in 0..100 {
            let first = policy.wait(1, None);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let third = policy.wait(3, None);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400));
        }
        assert_eq!(
            policy.wait(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(policy.wait(1, Some(Duration::from_secs(600))), MAX_WAIT);
        assert_eq!(policy.wait(40, None), MAX_WAIT);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = parse_retry_after(&soon).unwrap();
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn only_transient_failures_within_the_budget_are_retried() {
        let policy = RetryPolicy {
            retries: 2,
            ..RetryPolicy::default()
        };
        assert!(policy.should_retry(1, true) && policy.should_retry(2, true));
        assert!(!policy.should_retry(3, true));
        assert!(!policy.should_retry(1, false));
        assert!(!RetryPolicy {
            retries: 0,
            ..policy
        }
        .should_retry(1, true));
    }

    #[test]
    fn status_lists_are_validated() {
        assert_eq!(parse_status_list("418, 503"), Ok(vec![418, 503]));
        assert_eq!(parse_status_list("none"), Ok(vec![]));
        assert!(parse_status_list("503,abc").unwrap_err().contains("'abc'"));
        assert!(parse_status_list("99").is_err());
    }
}
