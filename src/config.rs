//! Settings from the environment, with defaults that run on a local machine.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderName;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/dhune";

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`
    pub database_url: String,
    /// `DHUNE_ADDR`
    pub addr: SocketAddr,
    /// `DHUNE_SWEEP_SECS`: how often the background sweeps run.
    pub sweep_interval: Duration,
    /// `DHUNE_SECURE_COOKIES`: mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// `DHUNE_COMMISSION_BPS`: the platform's cut of each order, in basis points.
    pub commission_bps: i32,
    /// `DHUNE_DISPUTE_WINDOW_HOURS`: how long after completion a customer may
    /// open a dispute.
    pub dispute_window: time::Duration,
    /// `DHUNE_AUTO_COMPLETE_HOURS`: orders left out for delivery this long
    /// are completed by the sweep.
    pub auto_complete_after: time::Duration,
    /// How often an open live stream checks that its session is still
    /// signed in (a logout or an expired session ends the stream).
    pub stream_recheck: Duration,
    /// `DHUNE_LOGIN_LIMIT_PER_ADDRESS`: login attempts allowed from one
    /// client address per 15 minutes.
    pub login_limit_per_address: i64,
    /// `DHUNE_SIGNUP_LIMIT_PER_ADDRESS`: sign-up attempts allowed from one
    /// client address per 15 minutes.
    pub signup_limit_per_address: i64,
    /// `DHUNE_TRUSTED_PROXY`: the header (such as `X-Forwarded-For`) in which
    /// a reverse proxy in front of Dhune passes the client's address; unset,
    /// the address is the connection's peer.
    pub trusted_proxy: Option<HeaderName>,
    /// `DHUNE_HEADER_READ_TIMEOUT_SECS`: a connection that has not sent a
    /// whole request head within this time (idle keep-alive ones included)
    /// is closed.
    pub header_read_timeout: Duration,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            addr: parse_var("DHUNE_ADDR", "127.0.0.1:3000")?,
            sweep_interval: Duration::from_secs(parse_var("DHUNE_SWEEP_SECS", "30")?),
            secure_cookies: parse_var("DHUNE_SECURE_COOKIES", "false")?,
            commission_bps: parse_var("DHUNE_COMMISSION_BPS", "1000")?,
            dispute_window: time::Duration::hours(parse_var("DHUNE_DISPUTE_WINDOW_HOURS", "72")?),
            auto_complete_after: time::Duration::hours(parse_var(
                "DHUNE_AUTO_COMPLETE_HOURS",
                "48",
            )?),
            stream_recheck: Duration::from_secs(30),
            login_limit_per_address: parse_var("DHUNE_LOGIN_LIMIT_PER_ADDRESS", "100")?,
            signup_limit_per_address: parse_var("DHUNE_SIGNUP_LIMIT_PER_ADDRESS", "20")?,
            trusted_proxy: var("DHUNE_TRUSTED_PROXY")
                .map(|name| {
                    name.trim().parse().with_context(|| {
                        format!("DHUNE_TRUSTED_PROXY={name:?} is not a header name")
                    })
                })
                .transpose()?,
            header_read_timeout: Duration::from_secs(parse_var(
                "DHUNE_HEADER_READ_TIMEOUT_SECS",
                "20",
            )?),
        })
    }

    /// Settings for tests: defaults, nothing read from the environment.
    pub fn for_tests() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            sweep_interval: Duration::from_secs(30),
            secure_cookies: false,
            commission_bps: 1000,
            dispute_window: time::Duration::hours(72),
            auto_complete_after: time::Duration::hours(48),
            stream_recheck: Duration::from_secs(30),
            login_limit_per_address: 100,
            signup_limit_per_address: 20,
            trusted_proxy: None,
            header_read_timeout: Duration::from_secs(20),
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T>(name: &str, default: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .with_context(|| format!("{name}={raw:?} is not valid (default: {default})"))
}
