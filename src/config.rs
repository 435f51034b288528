//! Settings from the environment, with defaults that run on a local machine.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderName;

use crate::gateways::payments::Provider;

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
    /// The payment provider and its keys: see [`PaymentsConfig`].
    pub payments: PaymentsConfig,
    /// `DHUNE_PUBLIC_URL` (default `http://<DHUNE_ADDR>`): the address
    /// customers' browsers and payment providers reach this app at, without a
    /// trailing slash; return and callback URLs are built from it.
    pub public_url: String,
    /// `DHUNE_UNPAID_CANCEL_HOURS` (default 24): an online order still unpaid
    /// this long after it was made is cancelled by the sweep.
    pub unpaid_cancel_after: time::Duration,
    /// `DHUNE_PAYMENT_RECHECK_SECS` (default 120): the sweep asks the provider
    /// again about payments pending longer than this.
    pub payment_recheck_after: time::Duration,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self {
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
            payments: PaymentsConfig::from_vars(var)?,
            public_url: String::new(),
            unpaid_cancel_after: time::Duration::hours(parse_var(
                "DHUNE_UNPAID_CANCEL_HOURS",
                "24",
            )?),
            payment_recheck_after: time::Duration::seconds(parse_var(
                "DHUNE_PAYMENT_RECHECK_SECS",
                "120",
            )?),
        }
        .finish(
            var("DHUNE_PUBLIC_URL"),
            parse_var("DHUNE_SANDBOX_PAYMENTS", "false")?,
        )
    }

    /// The settings that depend on others: the public URL defaults to the
    /// listening address; the sandbox provider (test payments that anyone can
    /// "pay") is refused in production (`DHUNE_SECURE_COOKIES=true`) unless
    /// `DHUNE_SANDBOX_PAYMENTS=true` asks for it on purpose.
    fn finish(
        mut self,
        public_url: Option<String>,
        sandbox_on_purpose: bool,
    ) -> anyhow::Result<Self> {
        self.public_url = public_url
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", self.addr));
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            anyhow::bail!(
                "DHUNE_PUBLIC_URL={:?} must start with http:// or https://",
                self.public_url
            );
        }
        if self.secure_cookies && self.payments.provider == Provider::Sandbox && !sandbox_on_purpose
        {
            anyhow::bail!(
                "DHUNE_SECURE_COOKIES=true looks like production, but the payment provider is the \
                 sandbox, where anyone can pay with a click. Set DHUNE_PAYMENT_PROVIDER=khalti or \
                 esewa with its keys, or DHUNE_SANDBOX_PAYMENTS=true if test payments are meant."
            );
        }
        Ok(self)
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
            payments: PaymentsConfig::for_tests(),
            public_url: "http://127.0.0.1:3000".to_owned(),
            unpaid_cancel_after: time::Duration::hours(24),
            payment_recheck_after: time::Duration::seconds(120),
        }
    }
}

/// Khalti's sandbox API (docs.khalti.com, "Web Checkout (KPG-2)").
pub const KHALTI_SANDBOX_BASE_URL: &str = "https://dev.khalti.com/api/v2/";
/// eSewa's documented UAT secret for the merchant `EPAYTEST`
/// (developer.esewa.com.np, "Test credentials").
pub const ESEWA_TEST_SECRET_KEY: &str = "8gBm/:&EnhH.1/q";
pub const ESEWA_TEST_PRODUCT_CODE: &str = "EPAYTEST";
/// eSewa's UAT endpoints (developer.esewa.com.np, "Epay-V2"); production:
/// `https://epay.esewa.com.np/api/epay/main/v2/form` and
/// `https://epay.esewa.com.np/api/epay/transaction/status/`.
pub const ESEWA_TEST_FORM_URL: &str = "https://rc-epay.esewa.com.np/api/epay/main/v2/form";
pub const ESEWA_TEST_STATUS_URL: &str = "https://rc.esewa.com.np/api/epay/transaction/status/";

/// The sandbox provider's default signing key (test payments only).
pub const SANDBOX_SECRET: &str = "dhune-sandbox-test-payments";

/// Which payment provider takes online payments, and how to reach it.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// `DHUNE_PAYMENT_PROVIDER`: `sandbox` (default), `khalti` or `esewa`.
    pub provider: Provider,
    /// `DHUNE_KHALTI_SECRET_KEY`: required when the provider is `khalti`.
    pub khalti_secret_key: Option<Secret>,
    /// `DHUNE_KHALTI_BASE_URL`: the API root, ending in `/api/v2/`.
    pub khalti_base_url: String,
    /// `DHUNE_ESEWA_SECRET_KEY`: defaults to eSewa's documented test secret.
    pub esewa_secret_key: Secret,
    /// `DHUNE_ESEWA_PRODUCT_CODE`: the merchant code (test: `EPAYTEST`).
    pub esewa_product_code: String,
    /// `DHUNE_ESEWA_FORM_URL`: where the customer's browser posts the form.
    pub esewa_form_url: String,
    /// `DHUNE_ESEWA_STATUS_URL`: the status check API.
    pub esewa_status_url: String,
    /// `DHUNE_PAYMENT_CONNECT_TIMEOUT_SECS` (default 5): longest wait for a
    /// connection to the provider.
    pub connect_timeout: Duration,
    /// `DHUNE_PAYMENT_TIMEOUT_SECS` (default 10): longest wait for a whole
    /// call to the provider, connection included.
    pub request_timeout: Duration,
    /// `DHUNE_SANDBOX_SECRET`: the key the sandbox provider signs its returns
    /// and callbacks with (instances of one deployment share it). Test
    /// payments only, so a fixed default is fine.
    pub sandbox_secret: Secret,
}

impl PaymentsConfig {
    /// Reads the settings through `get` (the environment in [`Config::from_env`]).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let config = Self {
            provider: parse_from(&get, "DHUNE_PAYMENT_PROVIDER", "sandbox")?,
            khalti_secret_key: get("DHUNE_KHALTI_SECRET_KEY").map(|key| Secret(key.trim().into())),
            khalti_base_url: get("DHUNE_KHALTI_BASE_URL")
                .unwrap_or_else(|| KHALTI_SANDBOX_BASE_URL.to_owned()),
            esewa_secret_key: Secret(
                get("DHUNE_ESEWA_SECRET_KEY").unwrap_or_else(|| ESEWA_TEST_SECRET_KEY.to_owned()),
            ),
            esewa_product_code: get("DHUNE_ESEWA_PRODUCT_CODE")
                .unwrap_or_else(|| ESEWA_TEST_PRODUCT_CODE.to_owned()),
            esewa_form_url: get("DHUNE_ESEWA_FORM_URL")
                .unwrap_or_else(|| ESEWA_TEST_FORM_URL.to_owned()),
            esewa_status_url: get("DHUNE_ESEWA_STATUS_URL")
                .unwrap_or_else(|| ESEWA_TEST_STATUS_URL.to_owned()),
            connect_timeout: Duration::from_secs(parse_from(
                &get,
                "DHUNE_PAYMENT_CONNECT_TIMEOUT_SECS",
                "5",
            )?),
            request_timeout: Duration::from_secs(parse_from(
                &get,
                "DHUNE_PAYMENT_TIMEOUT_SECS",
                "10",
            )?),
            sandbox_secret: Secret(
                get("DHUNE_SANDBOX_SECRET").unwrap_or_else(|| SANDBOX_SECRET.to_owned()),
            ),
        };
        if config.provider == Provider::Khalti && config.khalti_secret_key.is_none() {
            anyhow::bail!("DHUNE_PAYMENT_PROVIDER=khalti needs DHUNE_KHALTI_SECRET_KEY");
        }
        if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
            anyhow::bail!("payment provider timeouts must be at least one second");
        }
        Ok(config)
    }

    /// The defaults: the sandbox provider, eSewa's test merchant.
    pub fn for_tests() -> Self {
        Self {
            provider: Provider::Sandbox,
            khalti_secret_key: None,
            khalti_base_url: KHALTI_SANDBOX_BASE_URL.to_owned(),
            esewa_secret_key: Secret(ESEWA_TEST_SECRET_KEY.to_owned()),
            esewa_product_code: ESEWA_TEST_PRODUCT_CODE.to_owned(),
            esewa_form_url: ESEWA_TEST_FORM_URL.to_owned(),
            esewa_status_url: ESEWA_TEST_STATUS_URL.to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            sandbox_secret: Secret(SANDBOX_SECRET.to_owned()),
        }
    }
}

/// A key that is never written to logs: its `Debug` shows `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
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
    parse_from(var, name, default)
}

fn parse_from<T>(
    get: impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let raw = get(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .with_context(|| format!("{name}={raw:?} is not valid (default: {default})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payments(vars: &[(&str, &str)]) -> anyhow::Result<PaymentsConfig> {
        PaymentsConfig::from_vars(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn the_sandbox_is_refused_in_production_unless_asked_for() {
        let production = || Config {
            secure_cookies: true,
            ..Config::for_tests()
        };
        let refused = production().finish(None, false).unwrap_err().to_string();
        assert!(refused.contains("DHUNE_SANDBOX_PAYMENTS=true"), "{refused}");
        assert!(production().finish(None, true).is_ok());
        let mut khalti = production();
        khalti.payments.provider = Provider::Khalti;
        assert!(khalti.finish(None, false).is_ok());
        assert!(
            Config::for_tests().finish(None, false).is_ok(),
            "no HTTPS, a test site"
        );
    }

    #[test]
    fn the_public_url_defaults_to_the_address_and_loses_its_slash() {
        let config = Config::for_tests().finish(None, false).unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:0");
        let config = Config::for_tests()
            .finish(Some(" https://dhune.example/ ".into()), false)
            .unwrap();
        assert_eq!(config.public_url, "https://dhune.example");
        assert!(
            Config::for_tests()
                .finish(Some("dhune.example".into()), false)
                .is_err()
        );
    }

    #[test]
    fn payments_default_to_the_sandbox_and_the_documented_test_endpoints() {
        let config = payments(&[]).unwrap();
        assert_eq!(config.provider, Provider::Sandbox);
        assert_eq!(config.khalti_base_url, "https://dev.khalti.com/api/v2/");
        assert_eq!(config.esewa_secret_key.expose(), "8gBm/:&EnhH.1/q");
        assert_eq!(config.esewa_product_code, "EPAYTEST");
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        let for_tests = PaymentsConfig::for_tests();
        assert_eq!(format!("{for_tests:?}"), format!("{config:?}"));
    }

    #[test]
    fn payments_read_their_variables() {
        let config = payments(&[
            ("DHUNE_PAYMENT_PROVIDER", "khalti"),
            ("DHUNE_KHALTI_SECRET_KEY", " live_secret_key_abc "),
            ("DHUNE_KHALTI_BASE_URL", "https://khalti.com/api/v2/"),
            ("DHUNE_PAYMENT_CONNECT_TIMEOUT_SECS", "2"),
            ("DHUNE_PAYMENT_TIMEOUT_SECS", "20"),
        ])
        .unwrap();
        assert_eq!(config.provider, Provider::Khalti);
        assert_eq!(
            config.khalti_secret_key.as_ref().map(Secret::expose),
            Some("live_secret_key_abc")
        );
        assert_eq!(config.khalti_base_url, "https://khalti.com/api/v2/");
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.request_timeout, Duration::from_secs(20));
        let shown = format!("{config:?}");
        assert!(!shown.contains("live_secret_key_abc"), "{shown}");
        assert!(!shown.contains("8gBm"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn odd_payment_settings_stop_the_start() {
        let refused = |vars: &[(&str, &str)]| payments(vars).unwrap_err().to_string();
        assert!(
            refused(&[("DHUNE_PAYMENT_PROVIDER", "paypal")]).contains("DHUNE_PAYMENT_PROVIDER")
        );
        assert!(
            refused(&[("DHUNE_PAYMENT_PROVIDER", "khalti")]).contains("DHUNE_KHALTI_SECRET_KEY")
        );
        assert!(refused(&[("DHUNE_PAYMENT_TIMEOUT_SECS", "0")]).contains("timeouts"));
        assert!(
            refused(&[("DHUNE_PAYMENT_CONNECT_TIMEOUT_SECS", "soon")])
                .contains("DHUNE_PAYMENT_CONNECT_TIMEOUT_SECS")
        );
    }
}
