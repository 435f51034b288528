//! Payment providers behind one trait.
//!
//! [`Gateway`] is all the rest of Dhune knows about a provider: start a
//! payment ([`Gateway::initiate`]), read what the customer's browser brings
//! back ([`Gateway::verify_return`]), ask the provider what became of a
//! payment ([`Gateway::lookup`]) and give money back ([`Gateway::refund`]).
//! Nothing here touches the database; the one confirm operation in `market`
//! calls these methods before it takes any lock.
//!
//! Adapters: [`Khalti`] (ePayment KPG-2) and [`Esewa`] (ePay v2) here; the
//! sandbox ([`Provider::Sandbox`], Dhune's own stand-in provider served
//! by the app) implements the same trait in its own module. Every call to a
//! provider has a connect timeout and a total timeout, and every failure is a
//! [`ProviderError`], never a panic.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use time::OffsetDateTime;

use crate::config::PaymentsConfig;

mod esewa;
pub(crate) mod http;
mod khalti;
pub(crate) mod sandbox;
pub mod signature;

pub use esewa::{Esewa, format_rupees, parse_rupees, sign};
pub use khalti::Khalti;
pub use sandbox::Sandbox;

/// The providers Dhune can be configured with (`DHUNE_PAYMENT_PROVIDER`):
/// the same names the ledger's clearing accounts and `payments.provider` use.
pub use crate::domain::ledger::Provider;

/// What a provider says about a payment, in Dhune's words. How the confirm
/// operation treats each is written beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Paid in full: record the capture (after comparing the amount).
    Completed,
    /// Started and not finished yet: ask again later.
    Pending,
    /// The payment window closed without a payment: final, nothing paid.
    Expired,
    /// The customer (or the provider) cancelled: final, nothing paid.
    Canceled,
    /// The provider reports a failure: final, nothing paid.
    Failed,
    /// Paid, then refunded in full at the provider.
    Refunded,
    /// Paid, then refunded in part at the provider.
    PartiallyRefunded,
    /// The provider itself is unsure (eSewa `AMBIGUOUS`, or a status the
    /// provider's documentation does not list): hold, ask again later, show
    /// it to an admin if it stays.
    Ambiguous,
    /// The provider knows no such payment (eSewa documents its `NOT_FOUND`
    /// as "session expired"): nothing was paid under this reference.
    NotFound,
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentStatus::Completed => "completed",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Canceled => "cancelled",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::PartiallyRefunded => "partly refunded",
            PaymentStatus::Ambiguous => "unclear at the provider",
            PaymentStatus::NotFound => "unknown to the provider",
        })
    }
}

/// A payment to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateRequest {
    /// Our payment's reference, unique, letters, digits and `-` only
    /// (Khalti's `purchase_order_id`, eSewa's `transaction_uuid`).
    pub reference: String,
    pub amount_paisa: i64,
    /// What is being paid for, shown by the provider (Khalti's
    /// `purchase_order_name`).
    pub description: String,
    /// Where the provider sends the customer's browser back (absolute URL).
    pub return_url: String,
    /// Where the provider sends the browser when the payment fails or is
    /// abandoned (eSewa's `failure_url`; Khalti returns to `return_url`).
    pub failure_url: String,
    /// Where the provider POSTs its server-to-server callbacks (absolute
    /// URL; the sandbox sends them, Khalti and eSewa ignore it).
    pub callback_url: String,
}

/// A started payment: what to store and what the browser must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiated {
    /// The provider's id for the payment (Khalti's `pidx`; eSewa uses our
    /// reference); needed for look-ups and refunds.
    pub provider_ref: String,
    pub next: NextStep,
    /// When the provider stops accepting this payment, if it says.
    pub expires_at: Option<OffsetDateTime>,
}

/// What the customer's browser must do to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Go to this URL (`303 See Other`).
    Redirect(String),
    /// Show a page with a form that POSTs these fields, in this order, to
    /// `action`, with a visible submit button (works without JavaScript).
    PostForm {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// What a browser's return (or a callback) claims. `signed` says whether the
/// provider signed it; an unsigned claim is only a hint: confirm by look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnClaim {
    pub reference: String,
    pub provider_ref: Option<String>,
    pub status: PaymentStatus,
    pub amount_paisa: Option<i64>,
    pub signed: bool,
}

/// Which payment to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupQuery {
    pub reference: String,
    /// What [`Initiated::provider_ref`] said.
    pub provider_ref: Option<String>,
    /// Our amount (eSewa's status API asks for it).
    pub amount_paisa: i64,
}

/// What the provider says about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub status: PaymentStatus,
    /// The amount the provider holds for this payment; compare it with ours.
    pub amount_paisa: Option<i64>,
    /// The provider's transaction id once money moved (Khalti's
    /// `transaction_id`, eSewa's `ref_id`).
    pub provider_txn: Option<String>,
}

/// Money to give back. `amount_paisa` equal to `captured_paisa` is a full
/// refund; less is partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub reference: String,
    pub provider_ref: Option<String>,
    pub captured_paisa: i64,
    pub amount_paisa: i64,
}

/// How a refund ended, when the provider answered. An `Err` from
/// [`Gateway::refund`] means we do not know (no answer, an answer that
/// made no sense): keep the refund open and try again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The provider refunded it; `detail` is its message.
    Done { detail: String },
    /// The provider cannot do it by API: an admin must refund by hand and
    /// record the reference.
    ManualActionNeeded { reason: String },
    /// The provider answered no.
    Failed { reason: String },
}

/// Everything that can go wrong talking to a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the payment provider did not answer in time")]
    Timeout,
    #[error("could not reach the payment provider: {0}")]
    Network(String),
    /// The provider answered with a 4xx and said why.
    #[error("the payment provider refused (HTTP {status}): {detail}")]
    Refused { status: u16, detail: String },
    /// A 5xx, a body that is not what the provider documents, a field
    /// missing or malformed.
    #[error("the payment provider's answer made no sense: {0}")]
    BadAnswer(String),
    /// A browser return or callback that is missing, garbled, wrongly
    /// signed or meant for another merchant.
    #[error("the payment return could not be verified: {0}")]
    BadReturn(String),
    /// The request cannot be sent as it is (our side's mistake).
    #[error("cannot ask the payment provider: {0}")]
    Invalid(String),
}

/// A payment provider. Implementations never panic and never hold a
/// database lock.
#[async_trait]
pub trait Gateway: Send + Sync {
    fn kind(&self) -> Provider;

    /// Starts a payment of `amount_paisa` under our reference.
    async fn initiate(&self, request: &InitiateRequest) -> Result<Initiated, ProviderError>;

    /// Reads the query parameters the browser came back with.
    fn verify_return(&self, params: &[(String, String)]) -> Result<ReturnClaim, ProviderError>;

    /// Reads a server-to-server callback. Khalti and eSewa send none that
    /// we use; the sandbox sends signed ones.
    fn verify_callback(
        &self,
        _headers: &HeaderMap,
        _body: &[u8],
    ) -> Result<ReturnClaim, ProviderError> {
        Err(ProviderError::BadReturn(format!(
            "{} sends no callbacks",
            self.kind().display_name()
        )))
    }

    /// Asks the provider what became of a payment.
    async fn lookup(&self, query: &LookupQuery) -> Result<Lookup, ProviderError>;

    /// Gives back all or part of a captured payment.
    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError>;
}

/// The adapter for a real provider, or `None` for the sandbox, which is
/// built beside the app because it needs the app's own address.
pub fn from_config(config: &PaymentsConfig) -> Result<Option<Arc<dyn Gateway>>, ProviderError> {
    let timeouts = http::Timeouts {
        connect: config.connect_timeout,
        total: config.request_timeout,
    };
    Ok(match config.provider {
        Provider::Sandbox => None,
        Provider::Khalti => {
            let secret = config.khalti_secret_key.clone().ok_or_else(|| {
                ProviderError::Invalid("DHUNE_KHALTI_SECRET_KEY is not set".into())
            })?;
            Some(Arc::new(Khalti::new(
                &config.khalti_base_url,
                secret,
                timeouts,
            )?))
        }
        Provider::Esewa => Some(Arc::new(Esewa::new(
            config.esewa_secret_key.clone(),
            &config.esewa_product_code,
            &config.esewa_form_url,
            &config.esewa_status_url,
            timeouts,
        )?)),
    })
}

/// The configured provider's adapter: a real one, or the sandbox served by
/// this app at `<public URL>/sandbox/`.
pub fn build(config: &crate::Config) -> Result<Arc<dyn Gateway>, ProviderError> {
    if let Some(gateway) = from_config(&config.payments)? {
        return Ok(gateway);
    }
    let timeouts = http::Timeouts {
        connect: config.payments.connect_timeout,
        total: config.payments.request_timeout,
    };
    Ok(Arc::new(Sandbox::new(
        &format!("{}/sandbox/", config.public_url),
        config.payments.sandbox_secret.clone(),
        timeouts,
    )?))
}

/// Whether `reference` may travel as Khalti's `purchase_order_id` and
/// eSewa's `transaction_uuid`: 1 to 64 ASCII letters, digits and `-`.
fn valid_reference(reference: &str) -> bool {
    (1..=64).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The first value of `name` in a query.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn providers_are_named_and_parsed() {
        for kind in [Provider::Sandbox, Provider::Khalti, Provider::Esewa] {
            assert_eq!(kind.as_str().parse::<Provider>().ok(), Some(kind));
        }
        assert_eq!(" KHALTI ".parse::<Provider>().ok(), Some(Provider::Khalti));
        assert_eq!(Provider::Esewa.display_name(), "eSewa");
        assert_eq!(Provider::Khalti.display_name(), "Khalti");
        assert_eq!(Provider::Sandbox.display_name(), "Sandbox (test payments)");
        let error = "paypal".parse::<Provider>().unwrap_err();
        assert!(error.to_string().contains("\"paypal\""), "{error}");
    }

    #[test]
    fn the_config_builds_the_configured_adapter() {
        let mut config = PaymentsConfig::for_tests();
        assert!(from_config(&config).unwrap().is_none(), "sandbox");

        config.provider = Provider::Esewa;
        let esewa = from_config(&config).unwrap().unwrap();
        assert_eq!(esewa.kind(), Provider::Esewa);

        config.provider = Provider::Khalti;
        assert!(matches!(
            from_config(&config).err(),
            Some(ProviderError::Invalid(_))
        ));
        config.khalti_secret_key = Some(Secret("test-key".into()));
        let khalti = from_config(&config).unwrap().unwrap();
        assert_eq!(khalti.kind(), Provider::Khalti);

        config.khalti_base_url = "not a url".into();
        assert!(matches!(
            from_config(&config).err(),
            Some(ProviderError::Invalid(_))
        ));
    }

    #[test]
    fn real_providers_refuse_callbacks() {
        let mut config = PaymentsConfig::for_tests();
        config.provider = Provider::Esewa;
        let esewa = from_config(&config).unwrap().unwrap();
        let refused = esewa.verify_callback(&HeaderMap::new(), b"{}");
        assert_eq!(
            refused,
            Err(ProviderError::BadReturn("eSewa sends no callbacks".into()))
        );
    }

    #[test]
    fn references_are_plain() {
        assert!(valid_reference("DH-42-7f3a"));
        for bad in ["", "a b", "a_b", "ref/1", "ä", &"x".repeat(65)] {
            assert!(!valid_reference(bad), "{bad:?}");
        }
    }

    #[test]
    fn statuses_read_as_words() {
        assert_eq!(PaymentStatus::Completed.to_string(), "completed");
        assert_eq!(
            PaymentStatus::PartiallyRefunded.to_string(),
            "partly refunded"
        );
        assert_eq!(
            PaymentStatus::NotFound.to_string(),
            "unknown to the provider"
        );
    }
}
