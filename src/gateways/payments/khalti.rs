//! Khalti ePayment (KPG-2).
//!
//! Sources: docs.khalti.com "Web Checkout (KPG-2)" (repository
//! khalti/docs.khalti.com, content/khalti-epayment.md) for initiate, the
//! return parameters, the look-up and its statuses; "Refund API"
//! (content/api/refund.md) for refunds.
//!
//! - `POST {base}epayment/initiate/` with `Authorization: Key <secret>` and
//!   JSON `return_url`, `website_url`, `amount` (paisa), `purchase_order_id`,
//!   `purchase_order_name` → `pidx`, `payment_url`, `expires_at`.
//!   Refusals are 400 with `{"<field>": ["…"], "error_key": "validation_error"}`;
//!   a bad key is 401 `{"detail": "Invalid token.", "status_code": 401}`.
//! - The browser returns to `return_url` with `pidx`, `status`,
//!   `purchase_order_id`, `amount`, `total_amount`, `transaction_id`, …
//!   These are NOT signed: only the look-up confirms a payment.
//! - `POST {base}epayment/lookup/` with `{"pidx"}` → `pidx`, `total_amount`
//!   (paisa), `status`, `transaction_id`, `fee`, `refunded`. `Expired` and
//!   `User canceled` come with HTTP 400 and the same body; an unknown pidx
//!   gives `{"detail": "Not found.", "error_key": "validation_error"}`.
//! - `POST https://<host>/api/merchant-transaction/<transaction_id>/refund/`
//!   (beside the v2 root, not under it): no body for a full refund,
//!   `{"amount": <paisa>}` for a partial one → `{"detail": "Transaction
//!   refund successful."}`. The `transaction_id` comes from the look-up.
//!
//! Statuses: `Completed` → Completed; `Pending`, `Initiated` → Pending;
//! `Expired` → Expired; `User canceled` → Canceled; `Failed` → Failed;
//! `Refunded` → Refunded; `Partially Refunded` → PartiallyRefunded;
//! anything else → Ambiguous (Khalti: "for status other than these, hold
//! the transaction and contact Khalti").

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http::{self, Answer, Timeouts};
use super::{
    Gateway, InitiateRequest, Initiated, Lookup, LookupQuery, NextStep, PaymentStatus, Provider,
    ProviderError, RefundOutcome, RefundRequest, ReturnClaim, param, valid_reference,
};
use crate::config::Secret;

pub struct Khalti {
    client: Client,
    /// The API root, such as `https://dev.khalti.com/api/v2/`.
    base: Url,
    secret: Secret,
}

#[derive(Deserialize)]
struct Started {
    pidx: String,
    payment_url: String,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct Found {
    pidx: String,
    total_amount: i64,
    status: String,
    transaction_id: Option<String>,
}

impl Khalti {
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

    async fn post(&self, path: &str, body: &Value) -> Result<Answer, ProviderError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| ProviderError::Invalid(format!("{path:?}: {e}")))?;
        let request = self
            .client
            .post(url)
            .header(AUTHORIZATION, format!("Key {}", self.secret.expose()))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        http::send(request).await
    }
}

#[async_trait]
impl Gateway for Khalti {
    fn kind(&self) -> Provider {
        Provider::Khalti
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
        let return_url = http_url(&request.return_url).ok_or_else(|| {
            ProviderError::Invalid(format!("{:?} is not an http(s) URL", request.return_url))
        })?;
        let website_url = format!("{}/", return_url.origin().ascii_serialization());
        let body = json!({
            "return_url": return_url.as_str(),
            "website_url": website_url,
            "amount": request.amount_paisa,
            "purchase_order_id": request.reference,
            "purchase_order_name": request.description,
        });
        let answer = self.post("epayment/initiate/", &body).await?;
        if !answer.status.is_success() {
            return Err(refusal(&answer));
        }
        let started: Started = answer.json().ok_or_else(|| answer.unexpected())?;
        if started.pidx.trim().is_empty() || http_url(&started.payment_url).is_none() {
            return Err(answer.unexpected());
        }
        let expires_at = match started.expires_at.as_deref() {
            None => None,
            Some(text) => Some(
                OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|_| ProviderError::BadAnswer(format!("expires_at {text:?}")))?,
            ),
        };
        Ok(Initiated {
            provider_ref: started.pidx,
            next: NextStep::Redirect(started.payment_url),
            expires_at,
        })
    }

    fn verify_return(&self, params: &[(String, String)]) -> Result<ReturnClaim, ProviderError> {
        let required = |name: &str| {
            param(params, name)
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| ProviderError::BadReturn(format!("no {name}")))
        };
        let pidx = required("pidx")?;
        let reference = required("purchase_order_id")?;
        let amount_paisa = match param(params, "total_amount").or(param(params, "amount")) {
            None | Some("") => None,
            Some(text) => Some(parse_paisa(text).ok_or_else(|| {
                ProviderError::BadReturn(format!("amount {text:?} is not in paisa"))
            })?),
        };
        Ok(ReturnClaim {
            reference: reference.to_owned(),
            provider_ref: Some(pidx.to_owned()),
            status: param(params, "status").map_or(PaymentStatus::Ambiguous, status_from_khalti),
            amount_paisa,
            signed: false,
        })
    }

    async fn lookup(&self, query: &LookupQuery) -> Result<Lookup, ProviderError> {
        let pidx = query
            .provider_ref
            .as_deref()
            .filter(|pidx| !pidx.trim().is_empty())
            .ok_or_else(|| ProviderError::Invalid("a Khalti look-up needs the pidx".into()))?;
        let answer = self
            .post("epayment/lookup/", &json!({ "pidx": pidx }))
            .await?;
        // Expired and User canceled come as 400 with the ordinary body.
        let documented = answer.status.is_success() || answer.status == StatusCode::BAD_REQUEST;
        if let Some(found) = answer.json::<Found>().filter(|_| documented) {
            if found.pidx != pidx || found.total_amount < 0 {
                return Err(answer.unexpected());
            }
            return Ok(Lookup {
                status: status_from_khalti(&found.status),
                amount_paisa: Some(found.total_amount),
                provider_txn: found.transaction_id.filter(|id| !id.is_empty()),
            });
        }
        let not_found = answer.status == StatusCode::NOT_FOUND
            || (answer.status.is_client_error()
                && detail_of(&answer).as_deref() == Some("Not found."));
        if not_found {
            return Ok(Lookup {
                status: PaymentStatus::NotFound,
                amount_paisa: None,
                provider_txn: None,
            });
        }
        Err(refusal(&answer))
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        if request.amount_paisa <= 0 || request.amount_paisa > request.captured_paisa {
            return Err(ProviderError::Invalid(format!(
                "cannot refund {} of {} paisa",
                request.amount_paisa, request.captured_paisa
            )));
        }
        let full = request.amount_paisa == request.captured_paisa;
        let found = self
            .lookup(&LookupQuery {
                reference: request.reference.clone(),
                provider_ref: request.provider_ref.clone(),
                amount_paisa: request.captured_paisa,
            })
            .await?;
        match found.status {
            PaymentStatus::Completed => {}
            PaymentStatus::PartiallyRefunded if !full => {}
            PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => {
                return Ok(RefundOutcome::ManualActionNeeded {
                    reason: format!(
                        "Khalti shows this payment as {} already; check the merchant \
                         dashboard before recording this refund",
                        found.status
                    ),
                });
            }
            other => {
                return Ok(RefundOutcome::Failed {
                    reason: format!("Khalti shows this payment as {other}: nothing to refund"),
                });
            }
        }
        if found.amount_paisa != Some(request.captured_paisa) {
            return Ok(RefundOutcome::ManualActionNeeded {
                reason: format!(
                    "Khalti holds {:?} paisa for this payment, we captured {}",
                    found.amount_paisa, request.captured_paisa
                ),
            });
        }
        let transaction_id = found
            .provider_txn
            .filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                ProviderError::BadAnswer("no usable transaction_id for a paid payment".into())
            })?;
        let body = if full {
            json!({})
        } else {
            json!({ "amount": request.amount_paisa })
        };
        let path = format!("../merchant-transaction/{transaction_id}/refund/");
        let answer = self.post(&path, &body).await?;
        if answer.status.is_success() {
            Ok(RefundOutcome::Done {
                detail: detail_of(&answer).unwrap_or_else(|| "refunded".into()),
            })
        } else if answer.status.is_client_error() {
            Ok(RefundOutcome::Failed {
                reason: explain(&answer),
            })
        } else {
            Err(answer.unexpected())
        }
    }
}

fn status_from_khalti(status: &str) -> PaymentStatus {
    match status {
        "Completed" => PaymentStatus::Completed,
        "Pending" | "Initiated" => PaymentStatus::Pending,
        "Expired" => PaymentStatus::Expired,
        "User canceled" => PaymentStatus::Canceled,
        "Failed" => PaymentStatus::Failed,
        "Refunded" => PaymentStatus::Refunded,
        // The docs spell it both ways.
        partly if partly.eq_ignore_ascii_case("Partially Refunded") => {
            PaymentStatus::PartiallyRefunded
        }
        _ => PaymentStatus::Ambiguous,
    }
}

/// A 4xx is the provider saying no; anything else is an answer we cannot read.
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

fn detail_of(answer: &Answer) -> Option<String> {
    let body: Value = answer.json()?;
    body.get("detail")?.as_str().map(str::to_owned)
}

/// Khalti's reasons: `detail`, or each field's messages
/// (`amount: Amount should be greater than Rs. 10, that is 1000 paisa.`).
fn explain(answer: &Answer) -> String {
    if let Some(detail) = detail_of(answer) {
        return detail;
    }
    let fields = answer
        .json::<serde_json::Map<String, Value>>()
        .map(|body| {
            body.iter()
                .filter_map(|(field, messages)| {
                    let messages: Vec<&str> = messages
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    (!messages.is_empty()).then(|| format!("{field}: {}", messages.join(" ")))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        answer.snippet()
    } else {
        fields.join("; ")
    }
}

/// Paisa as Khalti writes them in the return URL: plain digits.
fn parse_paisa(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn http_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn khalti() -> Khalti {
        let timeouts = Timeouts {
            connect: std::time::Duration::from_secs(1),
            total: std::time::Duration::from_secs(1),
        };
        Khalti::new(
            "https://dev.khalti.com/api/v2",
            Secret("k".into()),
            timeouts,
        )
        .unwrap()
    }

    #[test]
    fn every_documented_status_is_mapped() {
        let cases = [
            ("Completed", PaymentStatus::Completed),
            ("Pending", PaymentStatus::Pending),
            ("Initiated", PaymentStatus::Pending),
            ("Expired", PaymentStatus::Expired),
            ("User canceled", PaymentStatus::Canceled),
            ("Failed", PaymentStatus::Failed),
            ("Refunded", PaymentStatus::Refunded),
            ("Partially Refunded", PaymentStatus::PartiallyRefunded),
            ("Partially refunded", PaymentStatus::PartiallyRefunded),
            ("Something new", PaymentStatus::Ambiguous),
        ];
        for (text, status) in cases {
            assert_eq!(status_from_khalti(text), status, "{text}");
        }
    }

    #[test]
    fn the_base_url_gains_its_slash_and_refunds_sit_beside_it() {
        let khalti = khalti();
        assert_eq!(khalti.base.as_str(), "https://dev.khalti.com/api/v2/");
        assert_eq!(
            khalti
                .base
                .join("../merchant-transaction/abc/refund/")
                .unwrap()
                .as_str(),
            "https://dev.khalti.com/api/merchant-transaction/abc/refund/"
        );
    }

    #[test]
    fn the_documented_success_return_is_read_but_not_trusted() {
        // The sample callback of the KPG-2 docs.
        let params = pairs(&[
            ("pidx", "bZQLD9wRVWo4CdESSfuSsB"),
            ("txnId", "4H7AhoXDJWg5WjrcPT9ixW"),
            ("amount", "1000"),
            ("total_amount", "1000"),
            ("status", "Completed"),
            ("mobile", "98XXXXX904"),
            ("tidx", "4H7AhoXDJWg5WjrcPT9ixW"),
            ("purchase_order_id", "test12"),
            ("purchase_order_name", "test"),
            ("transaction_id", "4H7AhoXDJWg5WjrcPT9ixW"),
        ]);
        let claim = khalti().verify_return(&params).unwrap();
        assert_eq!(
            claim,
            ReturnClaim {
                reference: "test12".into(),
                provider_ref: Some("bZQLD9wRVWo4CdESSfuSsB".into()),
                status: PaymentStatus::Completed,
                amount_paisa: Some(1000),
                signed: false,
            }
        );
    }

    #[test]
    fn a_cancelled_return_and_broken_ones() {
        let cancelled = pairs(&[
            ("pidx", "bZQLD9wRVWo4CdESSfuSsB"),
            ("transaction_id", ""),
            ("amount", "1000"),
            ("total_amount", "1000"),
            ("status", "User canceled"),
            ("purchase_order_id", "test12"),
        ]);
        let claim = khalti().verify_return(&cancelled).unwrap();
        assert_eq!(claim.status, PaymentStatus::Canceled);

        let no_pidx = pairs(&[("purchase_order_id", "test12")]);
        assert_eq!(
            khalti().verify_return(&no_pidx),
            Err(ProviderError::BadReturn("no pidx".into()))
        );
        let no_reference = pairs(&[("pidx", "x"), ("purchase_order_id", " ")]);
        assert!(khalti().verify_return(&no_reference).is_err());
        let no_status = pairs(&[("pidx", "x"), ("purchase_order_id", "r")]);
        let claim = khalti().verify_return(&no_status).unwrap();
        assert_eq!(
            (claim.status, claim.amount_paisa),
            (PaymentStatus::Ambiguous, None)
        );
        for amount in ["10.00", "-5", "1e3", " 1000", "99999999999999999"] {
            let odd = pairs(&[
                ("pidx", "x"),
                ("purchase_order_id", "r"),
                ("amount", amount),
            ]);
            assert!(khalti().verify_return(&odd).is_err(), "{amount}");
        }
    }
}
