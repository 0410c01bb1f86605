//! The book's `slow_server.py`: the random delay and the random error status that
//! `FlagServer::handle` draws for every request.
//!
//! Delays are `tokio::time::sleep`, so a delayed request holds no thread and never holds
//! up another: a thousand requests with a 0.5 s delay are all answered in about 0.5 s.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use std::time::Duration;

/// A uniform random delay between `min` and `max` (equal for a fixed delay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayRange {
    pub min: Duration,
    pub max: Duration,
}

impl DelayRange {
    pub fn fixed(secs: f64) -> DelayRange {
        let d = Duration::from_secs_f64(secs);
        DelayRange { min: d, max: d }
    }
}

impl std::fmt::Display for DelayRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{} s", self.min.as_secs_f64())
        } else {
            write!(f, "{}–{} s", self.min.as_secs_f64(), self.max.as_secs_f64())
        }
    }
}

/// Parses `--delay`: seconds as `MIN` or `MIN..MAX`, from 0 to 3600.
pub fn parse_delay(arg: &str) -> Result<DelayRange, String> {
    let secs = |s: &str| -> Result<Duration, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("'{arg}' is not a delay: give seconds, as 0.5 or 0.5..5"))?;
        if !(0.0..=3600.0).contains(&v) {
            return Err(format!(
                "'{arg}' is out of range: delays are 0 to 3600 seconds"
            ));
        }
        Ok(Duration::from_secs_f64(v))
    };
    let range = match arg.split_once("..") {
        Some((min, max)) => DelayRange {
            min: secs(min)?,
            max: secs(max)?,
        },
        None => {
            let d = secs(arg)?;
            DelayRange { min: d, max: d }
        }
    };
    if range.min > range.max {
        return Err(format!(
            "'{arg}' has its minimum above its maximum: write MIN..MAX"
        ));
    }
    Ok(range)
}

/// Parses `--error-rate`: a probability from 0 to 1.
pub fn parse_error_rate(arg: &str) -> Result<f64, String> {
    match arg.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "'{arg}' is not an error rate: give a probability from 0 to 1, as 0.25"
        )),
    }
}

/// The fault settings of one server, and the random source they draw from.
pub struct Inject {
    pub delay: Option<DelayRange>,
    pub error_rate: f64,
    /// The status of an injected error (the book's 418 I'm a teapot by default).
    pub error_status: u16,
    /// `Retry-After` seconds sent with injected errors, if any.
    pub retry_after: Option<u64>,
    /// Seeded, so that `--seed` makes a run's delays and errors repeatable.
    rng: Mutex<StdRng>,
}

/// What one request gets: how long to wait, and whether to fail.
pub struct Draw {
    pub delay: Duration,
    pub fail: bool,
}

impl Inject {
    pub fn new(delay: Option<DelayRange>, error_rate: f64, seed: Option<u64>) -> Inject {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Inject {
            delay,
            error_rate,
            error_status: 418,
            retry_after: None,
            rng: Mutex::new(rng),
        }
    }

    /// No delay and no errors.
    #[cfg(test)]
    pub fn none() -> Inject {
        Inject::new(None, 0.0, Some(0))
    }

    pub fn is_active(&self) -> bool {
        self.delay.is_some_and(|d| !d.max.is_zero()) || self.error_rate > 0.0
    }

    /// Draws the delay and the error decision for one request.
    pub fn draw(&self) -> Draw {
        if !self.is_active() {
            return Draw {
                delay: Duration::ZERO,
                fail: false,
            };
        }
        // The lock is held for two draws; a poisoned lock only means another request
        // panicked mid-draw, and the generator's state is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let delay = match self.delay {
            Some(DelayRange { min, max }) if max > min => rng.random_range(min..=max),
            Some(DelayRange { min, .. }) => min,
            None => Duration::ZERO,
        };
        let fail = self.error_rate > 0.0 && rng.random_bool(self.error_rate);
        Draw { delay, fail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse_as_seconds_or_ranges() {
        assert_eq!(parse_delay("0.5").unwrap(), DelayRange::fixed(0.5));
        let r = parse_delay("0.5..5").unwrap();
        assert_eq!((r.min.as_millis(), r.max.as_millis()), (500, 5000));
        assert!(parse_delay("5..1")
            .unwrap_err()
            .contains("minimum above its maximum"));
        assert!(parse_delay("-1").unwrap_err().contains("out of range"));
        assert!(parse_delay("soon").unwrap_err().contains("not a delay"));
    }

    #[test]
    fn error_rates_are_probabilities() {
        assert_eq!(parse_error_rate("0.25"), Ok(0.25));
        assert!(parse_error_rate("1.5").is_err());
        assert!(parse_error_rate("NaN").is_err());
    }

    #[test]
    fn a_seed_repeats_the_draws_and_rates_hold_roughly() {
        let draws = |seed| {
            let inject = Inject::new(Some(parse_delay("0..1").unwrap()), 0.25, Some(seed));
            (0..1000)
                .map(|_| inject.draw())
                .map(|d| (d.delay, d.fail))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        let fails = draws(7).iter().filter(|d| d.1).count();
        assert!(
            (150..350).contains(&fails),
            "{fails} of 1000 failed at rate 0.25"
        );
        assert!(draws(7).iter().all(|d| d.0 <= Duration::from_secs(1)));
    }
}
