//! The server side of the sandbox payment provider: its books (its own
//! tables, `sandbox_payments` and `sandbox_refunds`, never Dhune's), the
//! rules a provider keeps (a payment is paid once, refunds never exceed it,
//! an unpaid payment expires), its signed returns and its signed callbacks.
//! The HTTP routes that show it to browsers and merchants are in
//! `web::sandbox`; Dhune itself talks to it only through
//! [`super::payments::Sandbox`], over HTTP.

use std::time::Duration;

use rand::Rng;
use rand::distributions::Alphanumeric;
use reqwest::Client;
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::payments::http::{self, Timeouts};
use super::payments::sandbox::{CallbackBody, ReturnFields, SandboxStatus};
use super::payments::{ProviderError, signature};
use crate::config::Secret;

/// How long a payment can be paid after it was started.
pub const PAYMENT_WINDOW_MINUTES: i64 = 30;
/// The longest delay a tester may ask of a late callback.
pub const MAX_CALLBACK_DELAY_SECS: u64 = 600;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_URL_BYTES: usize = 2000;

/// The sandbox: its database, its public address and its signing key.
pub struct SandboxServer {
    pool: PgPool,
    /// This app's public URL, without a trailing slash.
    public_url: String,
    secret: Secret,
    /// For callbacks: timeouts, no redirects followed.
    client: Client,
}

/// A payment as the sandbox keeps it; `status` reads `Expired` once the
/// window has passed without a payment.
#[derive(Debug, Clone)]
pub struct SandboxPayment {
    pub pidx: String,
    pub reference: String,
    pub amount_paisa: i64,
    pub refunded_paisa: i64,
    pub status: SandboxStatus,
    pub description: String,
    pub return_url: String,
    pub callback_url: String,
    pub failing_refunds: bool,
    pub transaction_id: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// A merchant's request to start a payment, as its JSON says.
#[derive(Debug, serde::Deserialize)]
pub struct NewPayment {
    pub reference: String,
    pub amount_paisa: i64,
    pub description: String,
    pub return_url: String,
    pub callback_url: String,
}

impl NewPayment {
    /// What the sandbox refuses, in its `detail` words.
    pub fn check(&self) -> Result<(), String> {
        let reference_ok = (1..=64).contains(&self.reference.len())
            && self
                .reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !reference_ok {
            return Err("reference: 1 to 64 letters, digits or '-'".into());
        }
        if self.amount_paisa <= 0 {
            return Err("amount_paisa: must be more than zero".into());
        }
        let description = self.description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(format!(
                "description: 1 to {MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        for (name, url) in [
            ("return_url", &self.return_url),
            ("callback_url", &self.callback_url),
        ] {
            if url.len() > MAX_URL_BYTES || absolute_url(url).is_none() {
                return Err(format!("{name}: must be an absolute http(s) URL"));
            }
        }
        Ok(())
    }
}

/// What the customer chose on the payment page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pay,
    Cancel,
    LeavePending,
}

impl Action {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pay" => Some(Action::Pay),
            "cancel" => Some(Action::Cancel),
            "pending" => Some(Action::LeavePending),
            _ => None,
        }
    }
}

/// How the callback of a finished payment is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackMode {
    /// Once, beside the browser's return.
    Once,
    /// Twice, both at once.
    Twice,
    /// Delivered (and answered) before the browser is sent back.
    Before,
    /// Sent this long after the browser was sent back.
    Late(Duration),
    /// Not at all.
    Never,
}

impl CallbackMode {
    /// The page's `callback` choice and `callback_delay_secs`.
    pub fn parse(choice: &str, delay_secs: Option<&str>) -> Result<Self, String> {
        Ok(match choice {
            "once" => CallbackMode::Once,
            "twice" => CallbackMode::Twice,
            "before" => CallbackMode::Before,
            "none" => CallbackMode::Never,
            "late" => {
                let text = delay_secs.map(str::trim).unwrap_or("");
                let secs = text
                    .parse::<u64>()
                    .ok()
                    .filter(|secs| *secs <= MAX_CALLBACK_DELAY_SECS)
                    .ok_or_else(|| {
                        format!(
                            "The delay of a late callback must be a whole number of seconds \
                             from 0 to {MAX_CALLBACK_DELAY_SECS}."
                        )
                    })?;
                CallbackMode::Late(Duration::from_secs(secs))
            }
            _ => return Err("Please choose how the callback is delivered.".into()),
        })
    }
}

/// How a refund request ended at the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    Done {
        status: SandboxStatus,
        refunded_paisa: i64,
        refund_id: i64,
    },
    NotFound,
    /// The tester set this payment's refunds to fail.
    SetToFail,
    /// Nothing was paid (or it is all refunded already).
    NotRefundable(SandboxStatus),
    /// More than what remains.
    TooMuch {
        remaining_paisa: i64,
    },
}

/// Why a payment could not be finished.
#[derive(Debug, Clone)]
pub enum NotOpen {
    NotFound,
    /// Paid, cancelled or expired already: here it is as it is.
    Finished(Box<SandboxPayment>),
}

impl SandboxServer {
    pub fn new(
        pool: PgPool,
        public_url: &str,
        secret: Secret,
        timeouts: Timeouts,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            pool,
            public_url: public_url.trim_end_matches('/').to_owned(),
            secret,
            client: http::client(timeouts)?,
        })
    }

    /// Whether `authorization` is `Key <secret>` (compared in constant time).
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        use subtle::ConstantTimeEq;
        let expected = format!("Key {}", self.secret.expose());
        authorization.is_some_and(|given| bool::from(given.ct_eq(expected.as_bytes())))
    }

    /// Where the customer pays `pidx`.
    pub fn payment_url(&self, pidx: &str) -> String {
        format!("{}/sandbox/pay/{pidx}", self.public_url)
    }

    /// Starts a payment (already [`NewPayment::check`]ed).
    pub async fn create(&self, new: &NewPayment) -> Result<(String, OffsetDateTime), sqlx::Error> {
        let pidx = random_id(22);
        let expires_at = sqlx::query_scalar!(
            "INSERT INTO sandbox_payments
                 (pidx, reference, amount_paisa, description, return_url, callback_url, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7))
             RETURNING expires_at",
            pidx,
            new.reference,
            new.amount_paisa,
            new.description.trim(),
            new.return_url,
            new.callback_url,
            PAYMENT_WINDOW_MINUTES as i32,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((pidx, expires_at))
    }

    pub async fn find(&self, pidx: &str) -> Result<Option<SandboxPayment>, sqlx::Error> {
        let row = sqlx::query!(
            r#"SELECT pidx, reference, amount_paisa, refunded_paisa,
                      CASE WHEN status IN ('Initiated', 'Pending') AND expires_at <= now()
                           THEN 'Expired' ELSE status END AS "status!",
                      description, return_url, callback_url, failing_refunds,
                      transaction_id, expires_at
               FROM sandbox_payments WHERE pidx = $1"#,
            pidx
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SandboxPayment {
                status: status_of(&row.status)?,
                pidx: row.pidx,
                reference: row.reference,
                amount_paisa: row.amount_paisa,
                refunded_paisa: row.refunded_paisa,
                description: row.description,
                return_url: row.return_url,
                callback_url: row.callback_url,
                failing_refunds: row.failing_refunds,
                transaction_id: row.transaction_id,
                expires_at: row.expires_at,
            })
        })
        .transpose()
    }

    /// Does what the customer chose, if the payment is still open; `failing_refunds`
    /// is the page's checkbox.
    pub async fn finish(
        &self,
        pidx: &str,
        action: Action,
        failing_refunds: bool,
    ) -> Result<Result<SandboxPayment, NotOpen>, sqlx::Error> {
        let (status, transaction_id) = match action {
            Action::Pay => (SandboxStatus::Completed, Some(random_id(20))),
            Action::Cancel => (SandboxStatus::UserCanceled, None),
            Action::LeavePending => (SandboxStatus::Pending, None),
        };
        let changed = sqlx::query_scalar!(
            "UPDATE sandbox_payments
             SET status = $2, transaction_id = $3, failing_refunds = $4, updated_at = now()
             WHERE pidx = $1 AND status IN ('Initiated', 'Pending') AND expires_at > now()
             RETURNING pidx",
            pidx,
            status.as_str(),
            transaction_id,
            failing_refunds,
        )
        .fetch_optional(&self.pool)
        .await?;
        let payment = self.find(pidx).await?;
        Ok(match (changed, payment) {
            (Some(_), Some(payment)) => Ok(payment),
            (None, Some(payment)) => Err(NotOpen::Finished(Box::new(payment))),
            (_, None) => Err(NotOpen::NotFound),
        })
    }

    /// Turns "refunds of this payment fail" on or off; `false` when there
    /// is no such payment.
    pub async fn set_failing_refunds(&self, pidx: &str, on: bool) -> Result<bool, sqlx::Error> {
        let changed = sqlx::query!(
            "UPDATE sandbox_payments SET failing_refunds = $2, updated_at = now() WHERE pidx = $1",
            pidx,
            on
        )
        .execute(&self.pool)
        .await?;
        Ok(changed.rows_affected() == 1)
    }

    /// Refunds `amount_paisa` (more than zero) of a paid payment, never
    /// more than what remains.
    pub async fn refund(&self, pidx: &str, amount_paisa: i64) -> Result<RefundResult, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query!(
            "SELECT id, status, amount_paisa, refunded_paisa, failing_refunds
             FROM sandbox_payments WHERE pidx = $1 FOR UPDATE",
            pidx
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(RefundResult::NotFound);
        };
        let status = status_of(&row.status)?;
        let remaining_paisa = row.amount_paisa - row.refunded_paisa;
        if !matches!(
            status,
            SandboxStatus::Completed | SandboxStatus::PartiallyRefunded
        ) {
            return Ok(RefundResult::NotRefundable(status));
        }
        if row.failing_refunds {
            return Ok(RefundResult::SetToFail);
        }
        if amount_paisa > remaining_paisa {
            return Ok(RefundResult::TooMuch { remaining_paisa });
        }
        let refunded_paisa = row.refunded_paisa + amount_paisa;
        let status = if refunded_paisa == row.amount_paisa {
            SandboxStatus::Refunded
        } else {
            SandboxStatus::PartiallyRefunded
        };
        sqlx::query!(
            "UPDATE sandbox_payments SET refunded_paisa = $2, status = $3, updated_at = now()
             WHERE id = $1",
            row.id,
            refunded_paisa,
            status.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        let refund_id = sqlx::query_scalar!(
            "INSERT INTO sandbox_refunds (payment_id, amount_paisa) VALUES ($1, $2) RETURNING id",
            row.id,
            amount_paisa
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefundResult::Done {
            status,
            refunded_paisa,
            refund_id,
        })
    }

    /// Where the browser goes back to: the merchant's return URL with the
    /// payment's current state, signed now.
    pub fn return_location(&self, payment: &SandboxPayment) -> Option<String> {
        let mut url = absolute_url(&payment.return_url)?;
        let fields = ReturnFields {
            reference: &payment.reference,
            pidx: &payment.pidx,
            status: payment.status.as_str(),
            amount_paisa: payment.amount_paisa,
        };
        let t = OffsetDateTime::now_utc().unix_timestamp();
        url.query_pairs_mut()
            .extend_pairs(fields.signed(&self.secret, t));
        Some(url.into())
    }

    /// Delivers the payment's callback once: a signed POST of its state to
    /// the merchant's callback URL. Failures are logged, and said.
    pub async fn deliver(&self, payment: &SandboxPayment) -> bool {
        let body = CallbackBody {
            reference: payment.reference.clone(),
            pidx: payment.pidx.clone(),
            status: payment.status.as_str().to_owned(),
            amount_paisa: payment.amount_paisa,
            transaction_id: payment.transaction_id.clone(),
        };
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, pidx = %payment.pidx, "sandbox: callback body");
                return false;
            }
        };
        let t = OffsetDateTime::now_utc().unix_timestamp();
        let request = self
            .client
            .post(&payment.callback_url)
            .header(CONTENT_TYPE, "application/json")
            .header(
                signature::HEADER,
                signature::sign(self.secret.expose().as_bytes(), t, &body),
            )
            .body(body);
        match http::send(request).await {
            Ok(answer) if answer.status.is_success() => {
                tracing::info!(pidx = %payment.pidx, status = %answer.status, "sandbox: callback delivered");
                true
            }
            Ok(answer) => {
                tracing::warn!(
                    pidx = %payment.pidx,
                    status = %answer.status,
                    answer = %answer.snippet(),
                    "sandbox: callback refused by the merchant"
                );
                false
            }
            Err(error) => {
                tracing::warn!(pidx = %payment.pidx, %error, "sandbox: callback not delivered");
                false
            }
        }
    }
}

/// A status as stored; the table's CHECK keeps it one of ours.
fn status_of(text: &str) -> Result<SandboxStatus, sqlx::Error> {
    SandboxStatus::parse(text)
        .ok_or_else(|| sqlx::Error::Decode(format!("sandbox status {text:?}").into()))
}

fn absolute_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

/// Random letters and digits, like Khalti's ids.
fn random_id(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_payment() -> NewPayment {
        NewPayment {
            reference: "DH-42-7f3a".into(),
            amount_paisa: 125_050,
            description: "Order #42".into(),
            return_url: "http://127.0.0.1:3000/payments/42/return".into(),
            callback_url: "http://127.0.0.1:3000/payments/callback/sandbox".into(),
        }
    }

    #[test]
    fn new_payments_are_checked() {
        assert_eq!(new_payment().check(), Ok(()));
        type Spoil = fn(&mut NewPayment);
        let cases: [(&str, Spoil); 7] = [
            ("reference", |p| p.reference = "a b".into()),
            ("reference", |p| p.reference = String::new()),
            ("amount_paisa", |p| p.amount_paisa = 0),
            ("description", |p| p.description = "  ".into()),
            ("description", |p| p.description = "x".repeat(501)),
            ("return_url", |p| {
                p.return_url = "/payments/42/return".into()
            }),
            ("callback_url", |p| p.callback_url = "mailto:x@y.z".into()),
        ];
        for (field, spoil) in cases {
            let mut payment = new_payment();
            spoil(&mut payment);
            let refused = payment.check().unwrap_err();
            assert!(refused.starts_with(field), "{field}: {refused}");
        }
    }

    #[test]
    fn actions_and_callback_modes_are_parsed() {
        assert_eq!(Action::parse("pay"), Some(Action::Pay));
        assert_eq!(Action::parse("cancel"), Some(Action::Cancel));
        assert_eq!(Action::parse("pending"), Some(Action::LeavePending));
        assert_eq!(Action::parse("Pay"), None);
        assert_eq!(CallbackMode::parse("once", None), Ok(CallbackMode::Once));
        assert_eq!(CallbackMode::parse("twice", None), Ok(CallbackMode::Twice));
        assert_eq!(
            CallbackMode::parse("before", None),
            Ok(CallbackMode::Before)
        );
        assert_eq!(
            CallbackMode::parse("none", Some("x")),
            Ok(CallbackMode::Never)
        );
        assert_eq!(
            CallbackMode::parse("late", Some(" 7 ")),
            Ok(CallbackMode::Late(Duration::from_secs(7)))
        );
        for delay in [None, Some(""), Some("-1"), Some("1.5"), Some("601")] {
            assert!(CallbackMode::parse("late", delay).is_err(), "{delay:?}");
        }
        assert!(CallbackMode::parse("thrice", None).is_err());
    }

    #[test]
    fn ids_are_random_letters_and_digits() {
        let (a, b) = (random_id(22), random_id(22));
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
