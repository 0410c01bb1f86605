//! The command line of `flags-dl serve`, and the plain [`ServeConfig`] it is read into:
//! the preset, with each option given taking its place.

use super::parse_secs;
use crate::serve::inject::{parse_delay, parse_error_rate, DelayRange};
use crate::serve::{Limits, Preset, ServeConfig};
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `flags-dl serve [local|delay|error] [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The book's servers: local (port 8000, no delay), delay (port 8001, 0.5..5 s delay),
    /// error (port 8002, 0.5 s delay, 25% of requests answered 418).
    #[arg(value_enum, default_value_t = Preset::Local)]
    pub preset: Preset,

    /// Port to listen on, instead of the preset's (0 picks a free one).
    #[arg(short, long)]
    pub port: Option<u16>,

    /// Address to listen on.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Serve this folder, in the book's layout (<cc>/<cc>.gif, <cc>/metadata.json),
    /// instead of the generated flags; for example ../shared/flags.
    #[arg(short, long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Delay per request in seconds, MIN or MIN..MAX, instead of the preset's.
    #[arg(long, value_name = "SECS", value_parser = parse_delay)]
    pub delay: Option<DelayRange>,

    /// Share of requests answered with an error, 0 to 1, instead of the preset's.
    #[arg(long, value_name = "P", value_parser = parse_error_rate)]
    pub error_rate: Option<f64>,

    /// Status of the injected errors: 418 as the book has, or e.g. 503 or 429 to exercise
    /// a client's retries.
    #[arg(long, value_name = "CODE", default_value_t = 418, value_parser = clap::value_parser!(u16).range(400..=599))]
    pub error_status: u16,

    /// Send `Retry-After: SECS` with the injected errors.
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u64>,

    /// Seed for the random delays and errors, to repeat a run exactly.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// No log line per request.
    #[arg(short, long)]
    pub quiet: bool,

    /// A round trip of MS milliseconds on every connection: every byte received and sent
    /// is held MS/2 each way, so TLS handshakes and each request pay it (unlike --delay,
    /// the server's think time). It cannot model the TCP handshake, loss or bandwidth.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub latency: Option<u64>,

    /// Speak HTTPS, with HTTP/2 and HTTP/1.1 by ALPN, with a certificate for localhost and
    /// 127.0.0.1 made at start and signed by a CA of its own, whose PEM file the first line
    /// names (give it to the client with --cacert).
    #[arg(long)]
    pub tls: bool,

    /// With --tls, serve this certificate chain (PEM) instead of making one. A regular
    /// file of at most 4 MiB.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,

    /// With --tls and --cert, the certificate's private key (PEM). A regular file of at
    /// most 4 MiB.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "cert"])]
    pub key: Option<PathBuf>,

    /// Connections served at once. Past it, new ones wait in the listen queue until one
    /// ends, or until the one that has sent and received nothing for the longest (silent,
    /// idle, or not taking its answer) is closed to make room; one whose answer is being
    /// prepared is never closed for room.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// End an answer whose client has taken none of it for SECS: its HTTP/2 stream is
    /// reset, an HTTP/1.1 connection closed.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub send_timeout: Duration,
}

impl ServeArgs {
    /// The preset, with each option given on the command line taking its place.
    pub fn config(&self) -> ServeConfig {
        ServeConfig {
            bind: self.bind,
            port: self.port.unwrap_or(self.preset.port()),
            dir: self.dir.clone(),
            delay: self.delay.or(self.preset.delay()),
            error_rate: self.error_rate.unwrap_or(self.preset.error_rate()),
            error_status: self.error_status,
            retry_after: self.retry_after,
            seed: self.seed,
            quiet: self.quiet,
            limits: Limits {
                max_connections: self.max_connections as usize,
                send_timeout: self.send_timeout,
                latency: Duration::from_millis(self.latency.unwrap_or(0)),
                ..Limits::default()
            },
            tls: self.tls,
            cert: self.cert.clone().zip(self.key.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn serve_options_override_the_preset() {
        let cli = Cli::try_parse_from([
            "flags-dl",
            "serve",
            "error",
            "--port",
            "0",
            "--error-rate",
            "1",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve")
        };
        let config = args.config();
        assert_eq!((config.port, config.error_rate), (0, 1.0));
        assert_eq!(config.delay, Some(DelayRange::fixed(0.5)));
    }
}
