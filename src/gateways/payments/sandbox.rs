//! The client side of the sandbox provider: Dhune's own stand-in provider,
//! served by this app under `<public URL>/sandbox/` (its server side is
//! `gateways::sandbox_server` and `web::sandbox`) and reached over HTTP like
//! a real one.
//!
//! - `POST {base}api/payments` with `Authorization: Key <secret>` and JSON
//!   `reference`, `amount_paisa`, `description`, `return_url`,
//!   `callback_url` → `pidx`, `payment_url`, `expires_at` (RFC 3339).
//!   `failure_url` is not sent: every outcome comes back to `return_url`.
//! - The browser comes back to `return_url` with `reference`, `pidx`,
//!   `status`, `amount_paisa`, `t` (unix seconds) and `signature`: hex
//!   HMAC-SHA256 over `"<t>.<reference>.<pidx>.<status>.<amount_paisa>"`,
//!   refused more than 300 s from now (the [`signature`] module's rule).
//! - Callbacks: `POST <callback_url>` with the JSON body `reference`, `pidx`,
//!   `status`, `amount_paisa`, `transaction_id` and the
//!   [`signature::HEADER`] over it.
//! - `GET {base}api/payments/<pidx>` → `pidx`, `reference`, `status`,
//!   `amount_paisa`, `refunded_paisa`, `transaction_id`; 404 when unknown.
//! - `POST {base}api/refunds` with `pidx`, `amount_paisa` → `status`,
//!   `refunded_paisa`; refusals are 4xx `{"detail": "…"}`.
//!
//! Statuses, in Khalti's words: `Initiated`, `Pending` → Pending;
//! `Completed`; `Expired`; `User canceled` → Canceled; `Refunded`;
//! `Partially refunded`; anything else → Ambiguous.

use async_trait::async_trait;
use axum::http::HeaderMap;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http::{self, Answer, Timeouts};
use super::{
    Gateway, InitiateRequest, Initiated, Lookup, LookupQuery, NextStep, PaymentStatus, Provider,
    ProviderError, RefundOutcome, RefundRequest, ReturnClaim, param, signature, valid_reference,
};
use crate::config::Secret;

/// A payment's status at the sandbox, as its API writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SandboxStatus {
    Initiated,
    Pending,
    Completed,
    Expired,
    UserCanceled,
    PartiallyRefunded,
    Refunded,
}

impl SandboxStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SandboxStatus::Initiated => "Initiated",
            SandboxStatus::Pending => "Pending",
            SandboxStatus::Completed => "Completed",
            SandboxStatus::Expired => "Expired",
            SandboxStatus::UserCanceled => "User canceled",
            SandboxStatus::PartiallyRefunded => "Partially refunded",
            SandboxStatus::Refunded => "Refunded",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            SandboxStatus::Initiated,
            SandboxStatus::Pending,
            SandboxStatus::Completed,
            SandboxStatus::Expired,
            SandboxStatus::UserCanceled,
            SandboxStatus::PartiallyRefunded,
            SandboxStatus::Refunded,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Whether the customer can still pay, cancel or leave it pending.
    pub(crate) fn is_open(self) -> bool {
        matches!(self, SandboxStatus::Initiated | SandboxStatus::Pending)
    }

    /// Whether money moved (and may be refunded).
    pub(crate) fn is_paid(self) -> bool {
        matches!(
            self,
            SandboxStatus::Completed | SandboxStatus::PartiallyRefunded | SandboxStatus::Refunded
        )
    }
}

/// A sandbox status (or an unknown word) in Dhune's terms.
fn payment_status(text: &str) -> PaymentStatus {
    match SandboxStatus::parse(text) {
        Some(SandboxStatus::Initiated | SandboxStatus::Pending) => PaymentStatus::Pending,
        Some(SandboxStatus::Completed) => PaymentStatus::Completed,
        Some(SandboxStatus::Expired) => PaymentStatus::Expired,
        Some(SandboxStatus::UserCanceled) => PaymentStatus::Canceled,
        Some(SandboxStatus::PartiallyRefunded) => PaymentStatus::PartiallyRefunded,
        Some(SandboxStatus::Refunded) => PaymentStatus::Refunded,
        None => PaymentStatus::Ambiguous,
    }
}

/// The body of a sandbox callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CallbackBody {
    pub reference: String,
    pub pidx: String,
    pub status: String,
    pub amount_paisa: i64,
    pub transaction_id: Option<String>,
}

/// What the browser's return says, before it is signed.
pub(crate) struct ReturnFields<'a> {
    pub reference: &'a str,
    pub pidx: &'a str,
    pub status: &'a str,
    pub amount_paisa: i64,
}

impl ReturnFields<'_> {
    /// `"<reference>.<pidx>.<status>.<amount_paisa>"`: none of the fields
    /// may hold a `.` (see [`Sandbox::verify_return_at`]), so the string
    /// tells them apart.
    fn canonical(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.reference, self.pidx, self.status, self.amount_paisa
        )
    }

    /// The query parameters of the return, signed at `t`.
    pub(crate) fn signed(&self, secret: &Secret, t: i64) -> Vec<(&'static str, String)> {
        let header = signature::sign(secret.expose().as_bytes(), t, self.canonical().as_bytes());
        let digest = header
            .split_once(",v1=")
            .map(|(_, digest)| digest.to_owned())
            .unwrap_or_default();
        vec![
            ("reference", self.reference.to_owned()),
            ("pidx", self.pidx.to_owned()),
            ("status", self.status.to_owned()),
            ("amount_paisa", self.amount_paisa.to_string()),
            ("t", t.to_string()),
            ("signature", digest),
        ]
    }
}

pub struct Sandbox {
    client: Client,
    /// Where the sandbox is served, ending in `/sandbox/`.
    base: Url,
    secret: Secret,
}

#[derive(Deserialize)]
struct Started {
    pidx: String,
    payment_url: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct Found {
    pidx: String,
    reference: String,
    status: String,
    amount_paisa: i64,
    transaction_id: Option<String>,
}

#[derive(Deserialize)]
struct Refunded {
    status: String,
    refunded_paisa: i64,
}

impl Sandbox {
    /// `base_url`: where the sandbox is served (this app's public URL
    /// followed by `/sandbox/`).
    pub(crate) fn new(
        base_url: &str,
        secret: Secret,
        timeouts: Timeouts,
    ) -> Result<Self, ProviderError> {
        let mut base = http_url(base_url)
            .ok_or_else(|| ProviderError::Invalid(format!("{base_url:?} is not an http(s) URL")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            client: http::client(timeouts)?,
            base,
            secret,
        })
    }

    fn url(&self, path: &str) -> Result<Url, ProviderError> {
        self.base
            .join(path)
            .map_err(|e| ProviderError::Invalid(format!("{path:?}: {e}")))
    }

    async fn send(&self, request: RequestBuilder) -> Result<Answer, ProviderError> {
        http::send(request.header(AUTHORIZATION, format!("Key {}", self.secret.expose()))).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Answer, ProviderError> {
        let request = self
            .client
            .post(self.url(path)?)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.send(request).await
    }

    fn verify_return_at(
        &self,
        params: &[(String, String)],
        now: i64,
    ) -> Result<ReturnClaim, ProviderError> {
        let required = |name: &str| {
            param(params, name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| ProviderError::BadReturn(format!("no {name}")))
        };
        let reference = required("reference")?;
        let pidx = required("pidx")?;
        let status = required("status")?;
        let amount = required("amount_paisa")?;
        let t = required("t")?;
        let digest = required("signature")?;
        if [reference, pidx, status]
            .iter()
            .any(|field| field.contains('.'))
        {
            return Err(ProviderError::BadReturn("a field holds a '.'".into()));
        }
        let amount_paisa = parse_paisa(amount).ok_or_else(|| {
            ProviderError::BadReturn(format!("amount {amount:?} is not in paisa"))
        })?;
        if t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProviderError::BadReturn(format!("t {t:?} is not a time")));
        }
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ProviderError::BadReturn("the signature is not hex".into()));
        }
        let fields = ReturnFields {
            reference,
            pidx,
            status,
            amount_paisa,
        };
        signature::verify(
            self.secret.expose().as_bytes(),
            &format!("t={t},v1={digest}"),
            fields.canonical().as_bytes(),
            now,
        )
        .map_err(|e| ProviderError::BadReturn(e.to_string()))?;
        Ok(ReturnClaim {
            reference: reference.to_owned(),
            provider_ref: Some(pidx.to_owned()),
            status: payment_status(status),
            amount_paisa: Some(amount_paisa),
            signed: true,
        })
    }

    fn verify_callback_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<ReturnClaim, ProviderError> {
        let header = headers
            .get(signature::HEADER)
            .ok_or_else(|| ProviderError::BadReturn(format!("no {} header", signature::HEADER)))?
            .to_str()
            .map_err(|_| ProviderError::BadReturn(format!("{} is not text", signature::HEADER)))?;
        signature::verify(self.secret.expose().as_bytes(), header, body, now)
            .map_err(|e| ProviderError::BadReturn(e.to_string()))?;
        let callback: CallbackBody = serde_json::from_slice(body)
            .map_err(|e| ProviderError::BadReturn(format!("the callback's body: {e}")))?;
        if callback.reference.is_empty() || callback.pidx.is_empty() || callback.amount_paisa <= 0 {
            return Err(ProviderError::BadReturn(
                "the callback lacks a reference, pidx or amount".into(),
            ));
        }
        Ok(ReturnClaim {
            reference: callback.reference,
            provider_ref: Some(callback.pidx),
            status: payment_status(&callback.status),
            amount_paisa: Some(callback.amount_paisa),
            signed: true,
        })
    }
}

#[async_trait]
impl Gateway for Sandbox {
    fn kind(&self) -> Provider {
        Provider::Sandbox
    }

    async fn initiate(&self, request: &InitiateRequest) -> Result<Initiated, ProviderError> {
        if !valid_reference(&request.reference) {
            return Err(ProviderError::Invalid(format!(
                "reference {:?} is not plain",
                request.reference
            )));
        }
        if request.amount_paisa <= 0 {
            return Err(ProviderError::Invalid("the amount must be positive".into()));
        }
        for url in [&request.return_url, &request.callback_url] {
            if http_url(url).is_none() {
                return Err(ProviderError::Invalid(format!(
                    "{url:?} is not an http(s) URL"
                )));
            }
        }
        let body = json!({
            "reference": request.reference,
            "amount_paisa": request.amount_paisa,
            "description": request.description,
            "return_url": request.return_url,
            "callback_url": request.callback_url,
        });
        let answer = self.post("api/payments", &body).await?;
        if !answer.status.is_success() {
            return Err(refusal(&answer));
        }
        let started: Started = answer.json().ok_or_else(|| answer.unexpected())?;
        if !plain_pidx(&started.pidx) || http_url(&started.payment_url).is_none() {
            return Err(answer.unexpected());
        }
        let expires_at = OffsetDateTime::parse(&started.expires_at, &Rfc3339).map_err(|_| {
            ProviderError::BadAnswer(format!("expires_at {:?}", started.expires_at))
        })?;
        Ok(Initiated {
            provider_ref: started.pidx,
            next: NextStep::Redirect(started.payment_url),
            expires_at: Some(expires_at),
        })
    }

    fn verify_return(&self, params: &[(String, String)]) -> Result<ReturnClaim, ProviderError> {
        self.verify_return_at(params, OffsetDateTime::now_utc().unix_timestamp())
    }

    fn verify_callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<ReturnClaim, ProviderError> {
        self.verify_callback_at(headers, body, OffsetDateTime::now_utc().unix_timestamp())
    }

    async fn lookup(&self, query: &LookupQuery) -> Result<Lookup, ProviderError> {
        let pidx = pidx_of(query.provider_ref.as_deref())?;
        let request = self.client.get(self.url(&format!("api/payments/{pidx}"))?);
        let answer = self.send(request).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(Lookup {
                status: PaymentStatus::NotFound,
                amount_paisa: None,
                provider_txn: None,
            });
        }
        if !answer.status.is_success() {
            return Err(refusal(&answer));
        }
        let found: Found = answer.json().ok_or_else(|| answer.unexpected())?;
        if found.pidx != pidx || found.amount_paisa <= 0 {
            return Err(answer.unexpected());
        }
        if found.reference != query.reference {
            return Err(ProviderError::BadAnswer(format!(
                "the sandbox holds {pidx} for reference {:?}, not {:?}",
                found.reference, query.reference
            )));
        }
        Ok(Lookup {
            status: payment_status(&found.status),
            amount_paisa: Some(found.amount_paisa),
            provider_txn: found.transaction_id.filter(|id| !id.is_empty()),
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        if request.amount_paisa <= 0 || request.amount_paisa > request.captured_paisa {
            return Err(ProviderError::Invalid(format!(
                "cannot refund {} of {} paisa",
                request.amount_paisa, request.captured_paisa
            )));
        }
        let pidx = pidx_of(request.provider_ref.as_deref())?;
        let body = json!({ "pidx": pidx, "amount_paisa": request.amount_paisa });
        let answer = self.post("api/refunds", &body).await?;
        if answer.status.is_success() {
            let refunded: Refunded = answer.json().ok_or_else(|| answer.unexpected())?;
            return Ok(RefundOutcome::Done {
                detail: format!(
                    "the sandbox refunded {} paisa ({} paisa in all, {})",
                    request.amount_paisa, refunded.refunded_paisa, refunded.status
                ),
            });
        }
        // A wrong key is our mistake, not the provider's answer on this refund.
        let ours = matches!(
            answer.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        );
        if answer.status.is_client_error() && !ours {
            Ok(RefundOutcome::Failed {
                reason: explain(&answer),
            })
        } else {
            Err(refusal(&answer))
        }
    }
}

/// The pidx of a payment, checked before it goes into a URL path.
fn pidx_of(provider_ref: Option<&str>) -> Result<&str, ProviderError> {
    provider_ref
        .filter(|pidx| plain_pidx(pidx))
        .ok_or_else(|| ProviderError::Invalid("a sandbox call needs the payment's pidx".into()))
}

fn plain_pidx(pidx: &str) -> bool {
    (1..=64).contains(&pidx.len()) && pidx.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A 4xx is the sandbox saying no; anything else is an answer we cannot read.
fn refusal(answer: &Answer) -> ProviderError {
    if answer.status.is_client_error() {
        ProviderError::Refused {
            status: answer.status.as_u16(),
            detail: explain(answer),
        }
    } else {
        answer.unexpected()
    }
}

/// The sandbox's `{"detail": "…"}`, or the start of the body.
fn explain(answer: &Answer) -> String {
    answer
        .json::<Value>()
        .and_then(|body| body.get("detail")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| answer.snippet())
}

/// Paisa written as plain digits, as the sandbox writes them (no leading
/// zero, so the signed text is the text received).
fn parse_paisa(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse()
        .ok()
        .filter(|paisa: &i64| *paisa > 0 && paisa.to_string() == text)
}

fn http_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const NOW: i64 = 1_795_000_000;

    fn sandbox(secret: &str) -> Sandbox {
        let timeouts = Timeouts {
            connect: std::time::Duration::from_secs(1),
            total: std::time::Duration::from_secs(1),
        };
        Sandbox::new(
            "http://127.0.0.1:3000/sandbox",
            Secret(secret.into()),
            timeouts,
        )
        .unwrap()
    }

    fn fields() -> ReturnFields<'static> {
        ReturnFields {
            reference: "DH-42-7f3a",
            pidx: "bZQLD9wRVWo4CdESSfuSsB",
            status: "Completed",
            amount_paisa: 125_050,
        }
    }

    fn owned(params: &[(&str, String)]) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn statuses_are_read_in_dhunes_terms() {
        let cases = [
            ("Initiated", PaymentStatus::Pending),
            ("Pending", PaymentStatus::Pending),
            ("Completed", PaymentStatus::Completed),
            ("Expired", PaymentStatus::Expired),
            ("User canceled", PaymentStatus::Canceled),
            ("Partially refunded", PaymentStatus::PartiallyRefunded),
            ("Refunded", PaymentStatus::Refunded),
            ("completed", PaymentStatus::Ambiguous),
            ("", PaymentStatus::Ambiguous),
        ];
        for (text, status) in cases {
            assert_eq!(payment_status(text), status, "{text:?}");
        }
        for text in ["Initiated", "Pending", "User canceled", "Refunded"] {
            assert_eq!(
                SandboxStatus::parse(text).map(SandboxStatus::as_str),
                Some(text)
            );
        }
        assert!(SandboxStatus::Pending.is_open() && !SandboxStatus::Expired.is_open());
        assert!(SandboxStatus::Refunded.is_paid() && !SandboxStatus::UserCanceled.is_paid());
    }

    #[test]
    fn the_base_gains_its_slash() {
        let sandbox = sandbox("s");
        assert_eq!(sandbox.base.as_str(), "http://127.0.0.1:3000/sandbox/");
        assert_eq!(
            sandbox.url("api/payments/abc").unwrap().as_str(),
            "http://127.0.0.1:3000/sandbox/api/payments/abc"
        );
        assert!(matches!(
            Sandbox::new("ftp://x/", Secret("s".into()), sandbox_timeouts()),
            Err(ProviderError::Invalid(_))
        ));
    }

    fn sandbox_timeouts() -> Timeouts {
        Timeouts {
            connect: std::time::Duration::from_secs(1),
            total: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn the_return_signature_is_hmac_over_time_and_fields() {
        use hmac::{Hmac, Mac};
        let params = fields().signed(&Secret("s".into()), NOW);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s").unwrap();
        mac.update(format!("{NOW}.DH-42-7f3a.bZQLD9wRVWo4CdESSfuSsB.Completed.125050").as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            params,
            vec![
                ("reference", "DH-42-7f3a".to_owned()),
                ("pidx", "bZQLD9wRVWo4CdESSfuSsB".to_owned()),
                ("status", "Completed".to_owned()),
                ("amount_paisa", "125050".to_owned()),
                ("t", NOW.to_string()),
                ("signature", expected),
            ]
        );
    }

    #[test]
    fn a_signed_return_is_accepted_within_the_tolerance() {
        let params = owned(&fields().signed(&Secret("s".into()), NOW));
        for now in [NOW, NOW + 300, NOW - 300] {
            assert_eq!(
                sandbox("s").verify_return_at(&params, now),
                Ok(ReturnClaim {
                    reference: "DH-42-7f3a".into(),
                    provider_ref: Some("bZQLD9wRVWo4CdESSfuSsB".into()),
                    status: PaymentStatus::Completed,
                    amount_paisa: Some(125_050),
                    signed: true,
                })
            );
        }
    }

    #[test]
    fn tampered_stale_and_missing_returns_are_refused() {
        let signed = fields().signed(&Secret("s".into()), NOW);
        let refused = |params: &[(&str, String)], now: i64| {
            matches!(
                sandbox("s").verify_return_at(&owned(params), now),
                Err(ProviderError::BadReturn(_))
            )
        };
        assert!(refused(&signed, NOW + 301), "stale");
        assert!(
            matches!(
                sandbox("other").verify_return_at(&owned(&signed), NOW),
                Err(ProviderError::BadReturn(_))
            ),
            "another secret"
        );
        let tampered = [
            ("reference", "DH-42-7f3b"),
            ("pidx", "bZQLD9wRVWo4CdESSfuSsC"),
            ("status", "User canceled"),
            ("amount_paisa", "125051"),
            ("amount_paisa", "0125050"),
            ("t", &(NOW + 1).to_string()),
            ("signature", &"0".repeat(64)),
            ("signature", "zz"),
            ("reference", "DH.42"),
            ("amount_paisa", "-1"),
        ];
        for (name, value) in tampered {
            let params: Vec<(&str, String)> = signed
                .iter()
                .map(|(k, v)| {
                    let v = if *k == name {
                        value.to_owned()
                    } else {
                        v.clone()
                    };
                    (*k, v)
                })
                .collect();
            assert!(refused(&params, NOW), "{name}={value}");
        }
        for missing in [
            "reference",
            "pidx",
            "status",
            "amount_paisa",
            "t",
            "signature",
        ] {
            let params: Vec<(&str, String)> = signed
                .iter()
                .filter(|(k, _)| *k != missing)
                .cloned()
                .collect();
            assert!(refused(&params, NOW), "without {missing}");
        }
    }

    #[test]
    fn callbacks_are_verified_and_read() {
        let body = serde_json::to_vec(&CallbackBody {
            reference: "DH-42-7f3a".into(),
            pidx: "bZQLD9wRVWo4CdESSfuSsB".into(),
            status: "User canceled".into(),
            amount_paisa: 125_050,
            transaction_id: None,
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        let header = signature::sign(b"s", NOW, &body);
        headers.insert(signature::HEADER, HeaderValue::from_str(&header).unwrap());
        let claim = sandbox("s")
            .verify_callback_at(&headers, &body, NOW)
            .unwrap();
        assert_eq!(
            claim,
            ReturnClaim {
                reference: "DH-42-7f3a".into(),
                provider_ref: Some("bZQLD9wRVWo4CdESSfuSsB".into()),
                status: PaymentStatus::Canceled,
                amount_paisa: Some(125_050),
                signed: true,
            }
        );
        let bad = |headers: &HeaderMap, body: &[u8], now: i64| {
            matches!(
                sandbox("s").verify_callback_at(headers, body, now),
                Err(ProviderError::BadReturn(_))
            )
        };
        assert!(bad(&headers, &body, NOW + 301), "stale");
        let tampered = String::from_utf8(body.clone())
            .unwrap()
            .replace("125050", "125051");
        assert!(bad(&headers, tampered.as_bytes(), NOW), "tampered");
        assert!(bad(&HeaderMap::new(), &body, NOW), "unsigned");
        let garbage = b"not json";
        let mut signed_garbage = HeaderMap::new();
        signed_garbage.insert(
            signature::HEADER,
            HeaderValue::from_str(&signature::sign(b"s", NOW, garbage)).unwrap(),
        );
        assert!(bad(&signed_garbage, garbage, NOW), "signed garbage");
    }

    #[test]
    fn pidx_must_be_plain_before_it_goes_into_a_path() {
        assert_eq!(pidx_of(Some("abc123")), Ok("abc123"));
        for bad in [None, Some(""), Some("../refunds"), Some("a b"), Some("a?b")] {
            assert!(
                matches!(pidx_of(bad), Err(ProviderError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
