//! Where a bench run's time went (issue 20): the median of each phase over the run's
//! exchanges, and, per line of the table, the median of those over its timed runs. The
//! JSON export keeps them with each line; the Markdown export shows them as a table of
//! their own.
//!
//! A phase's median is taken over the exchanges that had it: `connect`'s is that of the
//! new connections, not diluted by the requests that reused one.

use super::stats::median;
use crate::download::phases::{ms, Exchange};
use serde::{Deserialize, Serialize};

/// Each phase's median, in ms; `None` where no exchange had it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseMedians {
    pub queued_ms: Option<f64>,
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub wait_ms: Option<f64>,
    pub receive_ms: Option<f64>,
    pub save_ms: Option<f64>,
}

/// The phases' names, as the Markdown table heads them.
pub const NAMES: [&str; 7] = ["queued", "dns", "connect", "tls", "wait", "receive", "save"];

impl PhaseMedians {
    pub fn all(&self) -> [Option<f64>; 7] {
        [
            self.queued_ms,
            self.dns_ms,
            self.connect_ms,
            self.tls_ms,
            self.wait_ms,
            self.receive_ms,
            self.save_ms,
        ]
    }

    fn from_all(all: [Option<f64>; 7]) -> PhaseMedians {
        let [queued_ms, dns_ms, connect_ms, tls_ms, wait_ms, receive_ms, save_ms] = all;
        PhaseMedians {
            queued_ms,
            dns_ms,
            connect_ms,
            tls_ms,
            wait_ms,
            receive_ms,
            save_ms,
        }
    }

    /// Each phase's median over one run's exchanges.
    pub fn of_exchanges(exchanges: &[Exchange]) -> PhaseMedians {
        PhaseMedians::from_all(std::array::from_fn(|phase| {
            let values: Vec<f64> = exchanges
                .iter()
                .filter_map(|e| e.phases.all()[phase].map(ms))
                .collect();
            median(&values).map(round)
        }))
    }

    /// Each phase's median over the runs of one line of the table.
    pub fn of_runs<'a>(runs: impl Iterator<Item = &'a PhaseMedians> + Clone) -> PhaseMedians {
        PhaseMedians::from_all(std::array::from_fn(|phase| {
            let values: Vec<f64> = runs.clone().filter_map(|r| r.all()[phase]).collect();
            median(&values).map(round)
        }))
    }
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lines_median_is_over_the_runs_that_had_the_phase() {
        let run = |wait, connect| PhaseMedians {
            wait_ms: Some(wait),
            connect_ms: connect,
            ..PhaseMedians::default()
        };
        let runs = [
            run(500.0, Some(1.0)),
            run(510.0, None),
            run(700.0, Some(3.0)),
        ];
        let line = PhaseMedians::of_runs(runs.iter());
        assert_eq!(line.wait_ms, Some(510.0));
        assert_eq!(line.connect_ms, Some(2.0));
        assert_eq!(line.tls_ms, None);
    }
}
