//! eSewa ePay v2.
//!
//! Sources: developer.esewa.com.np "Epay-V2" (form fields, signature, the
//! success response, the status check and its statuses) and "Test
//! credentials" (merchant `EPAYTEST`, secret `8gBm/:&EnhH.1/q`).
//!
//! - The customer's browser POSTs a form to `…/api/epay/main/v2/form`:
//!   `amount`, `tax_amount`, `total_amount`, `transaction_uuid`,
//!   `product_code`, `product_service_charge`, `product_delivery_charge`,
//!   `success_url`, `failure_url`, `signed_field_names`, `signature`, where
//!   `signature` = base64(HMAC-SHA256(secret, "total_amount=…,transaction_uuid=…,product_code=…")).
//! - eSewa redirects to `success_url?data=<base64 JSON>`; the JSON carries
//!   `transaction_code`, `status`, `total_amount`, `transaction_uuid`,
//!   `product_code`, `signed_field_names` and a `signature` over the fields
//!   `signed_field_names` lists, in that order.
//! - `GET …/api/epay/transaction/status/?product_code=&total_amount=&transaction_uuid=`
//!   → `product_code`, `transaction_uuid`, `total_amount`, `status`, `ref_id`;
//!   an error is `{"code": 0, "error_message": "…"}`.
//! - There is no refund API: a refund is manual action for an admin.
//!
//! Statuses: `COMPLETE` → Completed; `PENDING` → Pending; `FULL_REFUND` →
//! Refunded; `PARTIAL_REFUND` → PartiallyRefunded; `AMBIGUOUS` → Ambiguous;
//! `NOT_FOUND` ("session expired") → NotFound; `CANCELED` → Canceled;
//! anything else → Ambiguous.
//!
//! Amounts travel in rupees as text (`110`, `1000.0`, `1,000.0`, or a JSON
//! number such as `100.0`) and are read by [`parse_rupees`] only, whose
//! grammar is written there; every comparison is in paisa.

use std::collections::HashMap;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::{Client, Url};
use serde_json::value::RawValue;
use sha2::Sha256;

use super::http::{self, Answer, Timeouts};
use super::{
    Gateway, InitiateRequest, Initiated, Lookup, LookupQuery, NextStep, PaymentStatus, Provider,
    ProviderError, RefundOutcome, RefundRequest, ReturnClaim, param, valid_reference,
};
use crate::config::Secret;

/// The fields our form signs, in order.
const SIGNED_FIELD_NAMES: &str = "total_amount,transaction_uuid,product_code";
/// Fields a success response must sign before we believe it.
const MUST_BE_SIGNED: [&str; 4] = ["total_amount", "transaction_uuid", "product_code", "status"];
/// A success response is a few hundred bytes; refuse anything far larger.
const MAX_DATA_LEN: usize = 4096;

pub struct Esewa {
    client: Client,
    secret: Secret,
    product_code: String,
    form_url: String,
    status_url: Url,
}

impl Esewa {
    pub(crate) fn new(
        secret: Secret,
        product_code: &str,
        form_url: &str,
        status_url: &str,
        timeouts: Timeouts,
    ) -> Result<Self, ProviderError> {
        let http_url = |text: &str| {
            Url::parse(text)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                .ok_or_else(|| ProviderError::Invalid(format!("{text:?} is not an http(s) URL")))
        };
        http_url(form_url)?;
        let status_url = http_url(status_url)?;
        if product_code.trim().is_empty() {
            return Err(ProviderError::Invalid(
                "the eSewa product code is empty".into(),
            ));
        }
        Ok(Self {
            client: http::client(timeouts)?,
            secret,
            product_code: product_code.trim().to_owned(),
            form_url: form_url.to_owned(),
            status_url,
        })
    }

    fn signature_matches(&self, message: &str, signature: &str) -> bool {
        let Ok(expected) = STANDARD.decode(signature) else {
            return false;
        };
        Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .map(|mut mac| {
                mac.update(message.as_bytes());
                mac.verify_slice(&expected).is_ok()
            })
            .unwrap_or(false)
    }
}

/// base64(HMAC-SHA256(secret, message)), eSewa's signature.
pub fn sign(secret: &str, message: &str) -> String {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map(|mut mac| {
            mac.update(message.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        })
        // HMAC takes keys of any length, so this is never empty in practice;
        // an empty signature matches nothing.
        .unwrap_or_default()
}

/// Paisa written as eSewa reads rupees: `110`, `110.5`, `110.05`.
pub fn format_rupees(paisa: i64) -> String {
    let sign = if paisa < 0 { "-" } else { "" };
    let abs = paisa.unsigned_abs();
    match abs % 100 {
        0 => format!("{sign}{}", abs / 100),
        cents if cents % 10 == 0 => format!("{sign}{}.{}", abs / 100, cents / 10),
        cents => format!("{sign}{}.{cents:02}", abs / 100),
    }
}

/// Reads an amount in rupees into paisa, strictly. The accepted grammar:
///
/// ```text
/// amount   = integer [ "." 1*2DIGIT ]
/// integer  = "0" | NONZERO *DIGIT                          e.g. 1000
///          | NONZERO 0*2DIGIT 1*( "," 3DIGIT )             e.g. 1,000  12,345,678
///          | NONZERO 0*1DIGIT 1*( "," 2DIGIT ) "," 3DIGIT  e.g. 1,00,000 (lakhs)
/// ```
///
/// with at most 12 digits before the point. Nothing else: no sign, no
/// spaces, no exponent, no leading zeros, no bare or trailing point, no
/// third decimal.
pub fn parse_rupees(text: &str) -> Option<i64> {
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let groups: Vec<&str> = integer.split(',').collect();
    if !groups.iter().all(|group| all_digits(group)) {
        return None;
    }
    let well_grouped = match groups.as_slice() {
        [single] => *single == "0" || !single.starts_with('0'),
        [first, rest @ ..] => {
            let thousands = first.len() <= 3 && rest.iter().all(|g| g.len() == 3);
            let lakhs = first.len() <= 2
                && rest.last().is_some_and(|g| g.len() == 3)
                && rest[..rest.len() - 1].iter().all(|g| g.len() == 2);
            !first.starts_with('0') && (thousands || lakhs)
        }
        [] => false,
    };
    let digits: String = groups.concat();
    if !well_grouped || digits.len() > 12 {
        return None;
    }
    let paisa_digits = match fraction {
        None => "00".to_owned(),
        Some(f) if all_digits(f) && f.len() <= 2 => format!("{f:0<2}"),
        Some(_) => return None,
    };
    let rupees: i64 = digits.parse().ok()?;
    let paisa: i64 = paisa_digits.parse().ok()?;
    rupees.checked_mul(100)?.checked_add(paisa)
}

fn status_from_esewa(status: &str) -> PaymentStatus {
    match status {
        "COMPLETE" => PaymentStatus::Completed,
        "PENDING" => PaymentStatus::Pending,
        "FULL_REFUND" => PaymentStatus::Refunded,
        "PARTIAL_REFUND" => PaymentStatus::PartiallyRefunded,
        "NOT_FOUND" => PaymentStatus::NotFound,
        "CANCELED" => PaymentStatus::Canceled,
        _ => PaymentStatus::Ambiguous,
    }
}

/// A JSON object read field by field, keeping each value's own text: a
/// string's contents, or a number exactly as written (`1000.0` stays
/// `1000.0`), which is what eSewa signed.
struct Fields(HashMap<String, Box<RawValue>>);

impl Fields {
    fn parse(json: &[u8]) -> Option<Self> {
        serde_json::from_slice(json).ok().map(Fields)
    }

    /// `None` when absent, null, or not a string or number.
    fn text(&self, name: &str) -> Option<String> {
        let raw = self.0.get(name)?.get();
        match raw.as_bytes().first()? {
            b'"' => serde_json::from_str(raw).ok(),
            b'-' | b'0'..=b'9' => Some(raw.to_owned()),
            _ => None,
        }
    }
}

#[async_trait]
impl Gateway for Esewa {
    fn kind(&self) -> Provider {
        Provider::Esewa
    }

    /// No call to eSewa: the browser posts the signed form.
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
        let total = format_rupees(request.amount_paisa);
        let message = format!(
            "total_amount={total},transaction_uuid={},product_code={}",
            request.reference, self.product_code
        );
        let signature = sign(self.secret.expose(), &message);
        let fields = [
            ("amount", total.as_str()),
            ("tax_amount", "0"),
            ("total_amount", total.as_str()),
            ("transaction_uuid", request.reference.as_str()),
            ("product_code", self.product_code.as_str()),
            ("product_service_charge", "0"),
            ("product_delivery_charge", "0"),
            ("success_url", request.return_url.as_str()),
            ("failure_url", request.failure_url.as_str()),
            ("signed_field_names", SIGNED_FIELD_NAMES),
            ("signature", signature.as_str()),
        ];
        Ok(Initiated {
            provider_ref: request.reference.clone(),
            next: NextStep::PostForm {
                action: self.form_url.clone(),
                fields: fields
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                    .collect(),
            },
            expires_at: None,
        })
    }

    fn verify_return(&self, params: &[(String, String)]) -> Result<ReturnClaim, ProviderError> {
        let bad = |why: &str| ProviderError::BadReturn(why.to_owned());
        let data = param(params, "data").ok_or_else(|| bad("no data"))?;
        if data.len() > MAX_DATA_LEN {
            return Err(bad("data is too long"));
        }
        // A `+` of base64 sent unescaped in a query string reads as a space;
        // base64 itself never contains spaces.
        let json = STANDARD
            .decode(data.replace(' ', "+"))
            .map_err(|_| bad("data is not base64"))?;
        let fields = Fields::parse(&json).ok_or_else(|| bad("data is not a JSON object"))?;
        let field = |name: &str| {
            fields
                .text(name)
                .ok_or_else(|| ProviderError::BadReturn(format!("no {name}")))
        };
        let signed_names = field("signed_field_names")?;
        let names: Vec<&str> = signed_names.split(',').collect();
        if let Some(missing) = MUST_BE_SIGNED.iter().find(|name| !names.contains(name)) {
            return Err(ProviderError::BadReturn(format!("{missing} is not signed")));
        }
        let message = names
            .iter()
            .map(|name| field(name).map(|value| format!("{name}={value}")))
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        if !self.signature_matches(&message, &field("signature")?) {
            return Err(bad("the signature does not match"));
        }
        if field("product_code")? != self.product_code {
            return Err(bad("the payment is for another merchant"));
        }
        let total = field("total_amount")?;
        let amount = parse_rupees(&total).ok_or_else(|| {
            ProviderError::BadReturn(format!("total_amount {total:?} is not an amount"))
        })?;
        Ok(ReturnClaim {
            reference: field("transaction_uuid")?,
            provider_ref: fields.text("transaction_code"),
            status: status_from_esewa(&field("status")?),
            amount_paisa: Some(amount),
            signed: true,
        })
    }

    async fn lookup(&self, query: &LookupQuery) -> Result<Lookup, ProviderError> {
        if !valid_reference(&query.reference) || query.amount_paisa <= 0 {
            return Err(ProviderError::Invalid(format!(
                "cannot look up {:?} for {} paisa",
                query.reference, query.amount_paisa
            )));
        }
        let mut url = self.status_url.clone();
        url.query_pairs_mut()
            .append_pair("product_code", &self.product_code)
            .append_pair("total_amount", &format_rupees(query.amount_paisa))
            .append_pair("transaction_uuid", &query.reference);
        let answer = http::send(self.client.get(url)).await?;
        let fields = Fields::parse(&answer.body);
        match fields {
            Some(fields) if !answer.status.is_server_error() && fields.text("status").is_some() => {
                self.read_status(&answer, &fields, &query.reference)
            }
            _ if answer.status.is_client_error() => Err(ProviderError::Refused {
                status: answer.status.as_u16(),
                detail: Fields::parse(&answer.body)
                    .and_then(|fields| fields.text("error_message"))
                    .unwrap_or_else(|| answer.snippet()),
            }),
            _ => Err(answer.unexpected()),
        }
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Ok(RefundOutcome::ManualActionNeeded {
            reason: format!(
                "eSewa has no refund API: refund Rs {} of payment {} in the eSewa merchant \
                 portal, then record its reference here",
                format_rupees(request.amount_paisa),
                request.reference
            ),
        })
    }
}

impl Esewa {
    /// A status answer that must be about our payment, with an amount that
    /// parses, and an amount whenever it says the payment is complete.
    fn read_status(
        &self,
        answer: &Answer,
        fields: &Fields,
        reference: &str,
    ) -> Result<Lookup, ProviderError> {
        let about_another =
            |name: &str, ours: &str| fields.text(name).is_some_and(|theirs| theirs != ours);
        if about_another("transaction_uuid", reference)
            || about_another("product_code", &self.product_code)
        {
            return Err(answer.unexpected());
        }
        let status = status_from_esewa(&fields.text("status").unwrap_or_default());
        let amount_paisa = match fields.text("total_amount") {
            None => None,
            Some(total) => Some(parse_rupees(&total).ok_or_else(|| answer.unexpected())?),
        };
        if status == PaymentStatus::Completed && amount_paisa.is_none() {
            return Err(answer.unexpected());
        }
        Ok(Lookup {
            status,
            amount_paisa,
            provider_txn: fields.text("ref_id").filter(|id| !id.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ESEWA_TEST_FORM_URL, ESEWA_TEST_SECRET_KEY, ESEWA_TEST_STATUS_URL};
    use std::time::Duration;

    fn esewa() -> Esewa {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(1),
        };
        Esewa::new(
            Secret(ESEWA_TEST_SECRET_KEY.into()),
            "EPAYTEST",
            ESEWA_TEST_FORM_URL,
            ESEWA_TEST_STATUS_URL,
            timeouts,
        )
        .unwrap()
    }

    fn data_param(json: &str) -> Vec<(String, String)> {
        vec![("data".to_owned(), STANDARD.encode(json))]
    }

    #[test]
    fn the_documented_signature_is_reproduced() {
        assert_eq!(
            sign(
                "8gBm/:&EnhH.1/q",
                "total_amount=110,transaction_uuid=241028,product_code=EPAYTEST"
            ),
            "i94zsd3oXF6ZsSr/kGqT4sSzYQzjj1W/waxjWyRwaME="
        );
    }

    #[tokio::test]
    async fn the_documented_form_is_reproduced() {
        let started = esewa()
            .initiate(&InitiateRequest {
                reference: "241028".into(),
                amount_paisa: 11_000,
                description: "Order 7".into(),
                return_url: "https://developer.esewa.com.np/success".into(),
                failure_url: "https://developer.esewa.com.np/failure".into(),
                callback_url: "https://developer.esewa.com.np/callback".into(),
            })
            .await
            .unwrap();
        assert_eq!(started.provider_ref, "241028");
        assert_eq!(started.expires_at, None);
        let NextStep::PostForm { action, fields } = started.next else {
            panic!("eSewa is paid through a form");
        };
        assert_eq!(action, "https://rc-epay.esewa.com.np/api/epay/main/v2/form");
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("amount", "110"),
                ("tax_amount", "0"),
                ("total_amount", "110"),
                ("transaction_uuid", "241028"),
                ("product_code", "EPAYTEST"),
                ("product_service_charge", "0"),
                ("product_delivery_charge", "0"),
                ("success_url", "https://developer.esewa.com.np/success"),
                ("failure_url", "https://developer.esewa.com.np/failure"),
                (
                    "signed_field_names",
                    "total_amount,transaction_uuid,product_code"
                ),
                ("signature", "i94zsd3oXF6ZsSr/kGqT4sSzYQzjj1W/waxjWyRwaME="),
            ]
        );
    }

    #[tokio::test]
    async fn odd_payments_are_not_started() {
        let request = |reference: &str, amount_paisa| InitiateRequest {
            reference: reference.into(),
            amount_paisa,
            description: "x".into(),
            return_url: "https://example.com/ok".into(),
            failure_url: "https://example.com/no".into(),
            callback_url: "https://example.com/callback".into(),
        };
        for (reference, amount) in [("a_b", 100), ("ok", 0), ("ok", -5)] {
            let refused = esewa().initiate(&request(reference, amount)).await;
            assert!(
                matches!(refused, Err(ProviderError::Invalid(_))),
                "{reference} {amount}"
            );
        }
    }

    #[test]
    fn the_documented_success_response_verifies() {
        // developer.esewa.com.np, Epay-V2, "Response after successful payment".
        let json = r#"{"transaction_code":"000AWEO","status":"COMPLETE","total_amount":"1000.0","transaction_uuid":"250610-162413","product_code":"EPAYTEST","signed_field_names":"transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names","signature":"62GcfZTmVkzhtUeh+QJ1AqiJrjoWWGof3U+eTPTZ7fA="}"#;
        let claim = esewa().verify_return(&data_param(json)).unwrap();
        assert_eq!(
            claim,
            ReturnClaim {
                reference: "250610-162413".into(),
                provider_ref: Some("000AWEO".into()),
                status: PaymentStatus::Completed,
                amount_paisa: Some(100_000),
                signed: true,
            }
        );
        // The same, its base64 pasted into a query string without escaping.
        let mangled = STANDARD.encode(json).replace('+', " ");
        let again = esewa()
            .verify_return(&[("data".to_owned(), mangled)])
            .unwrap();
        assert_eq!(again, claim);
    }

    /// A success response signed with the test secret over `names`.
    fn signed_response(values: &[(&str, &str)], names: &str) -> String {
        let lookup = |name: &str| {
            values
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(names, |(_, v)| *v)
        };
        let message = names
            .split(',')
            .map(|name| format!("{name}={}", lookup(name)))
            .collect::<Vec<_>>()
            .join(",");
        let mut object = serde_json::Map::new();
        for (k, v) in values {
            object.insert((*k).into(), (*v).into());
        }
        object.insert("signed_field_names".into(), names.into());
        object.insert(
            "signature".into(),
            sign(ESEWA_TEST_SECRET_KEY, &message).into(),
        );
        serde_json::Value::Object(object).to_string()
    }

    const ALL: &str =
        "transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names";

    #[test]
    fn a_signature_covers_the_fields_it_lists_in_their_order() {
        let values = [
            ("transaction_uuid", "DH-9"),
            ("total_amount", "1,000.0"),
            ("status", "PENDING"),
            ("product_code", "EPAYTEST"),
            ("transaction_code", "000B1"),
        ];
        let json = signed_response(&values, ALL);
        let claim = esewa().verify_return(&data_param(&json)).unwrap();
        assert_eq!(claim.amount_paisa, Some(100_000));
        assert_eq!(claim.status, PaymentStatus::Pending);

        let reordered = "status,transaction_code,total_amount,product_code,transaction_uuid";
        let json = signed_response(&values, reordered);
        assert!(esewa().verify_return(&data_param(&json)).is_ok());

        // The amount changed after signing.
        let tampered = signed_response(&values, ALL).replace("1,000.0", "9,000.0");
        assert_eq!(
            esewa().verify_return(&data_param(&tampered)),
            Err(ProviderError::BadReturn(
                "the signature does not match".into()
            ))
        );
        // The order of signed_field_names changed after signing.
        let swapped = signed_response(&values, ALL).replace(
            "transaction_code,status,total_amount",
            "status,transaction_code,total_amount",
        );
        assert!(esewa().verify_return(&data_param(&swapped)).is_err());
    }

    #[test]
    fn a_number_amount_is_signed_as_written() {
        let message = "transaction_code=X1,status=COMPLETE,total_amount=100.0,transaction_uuid=DH-1,product_code=EPAYTEST,signed_field_names=transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names";
        let json = format!(
            r#"{{"transaction_code":"X1","status":"COMPLETE","total_amount":100.0,"transaction_uuid":"DH-1","product_code":"EPAYTEST","signed_field_names":"{ALL}","signature":"{}"}}"#,
            sign(ESEWA_TEST_SECRET_KEY, message)
        );
        let claim = esewa().verify_return(&data_param(&json)).unwrap();
        assert_eq!(claim.amount_paisa, Some(10_000));
    }

    #[test]
    fn broken_returns_are_refused() {
        let values = [
            ("transaction_uuid", "DH-9"),
            ("total_amount", "100.0"),
            ("status", "COMPLETE"),
            ("product_code", "EPAYTEST"),
            ("transaction_code", "000B1"),
        ];
        let refused = |params: Vec<(String, String)>| match esewa().verify_return(&params) {
            Err(ProviderError::BadReturn(why)) => why,
            other => panic!("accepted: {other:?}"),
        };
        assert_eq!(refused(vec![]), "no data");
        assert_eq!(
            refused(vec![("data".into(), "%%%".into())]),
            "data is not base64"
        );
        assert_eq!(refused(data_param("[1, 2]")), "data is not a JSON object");
        assert_eq!(
            refused(vec![("data".into(), "A".repeat(MAX_DATA_LEN + 4))]),
            "data is too long"
        );
        // Status left out of what is signed.
        let unsigned_status = signed_response(
            &values,
            "transaction_code,total_amount,transaction_uuid,product_code",
        );
        assert_eq!(
            refused(data_param(&unsigned_status)),
            "status is not signed"
        );
        // Signed with another key.
        let forged = {
            let value: serde_json::Value =
                serde_json::from_str(&signed_response(&values, ALL)).unwrap();
            let mut object = value.as_object().unwrap().clone();
            object.insert("signature".into(), sign("another key", "whatever").into());
            serde_json::Value::Object(object).to_string()
        };
        assert_eq!(refused(data_param(&forged)), "the signature does not match");
        // A signed field that is not there.
        let listed_but_absent = signed_response(&values, &format!("{ALL},merchant_extra"));
        assert_eq!(refused(data_param(&listed_but_absent)), "no merchant_extra");
        // Validly signed, but for another merchant.
        let mut theirs = values;
        theirs[3] = ("product_code", "OTHERSHOP");
        assert_eq!(
            refused(data_param(&signed_response(&theirs, ALL))),
            "the payment is for another merchant"
        );
        // Validly signed, but the amount is not one.
        let mut odd = values;
        odd[1] = ("total_amount", "1e2");
        assert_eq!(
            refused(data_param(&signed_response(&odd, ALL))),
            "total_amount \"1e2\" is not an amount"
        );
    }

    #[test]
    fn every_documented_status_is_mapped() {
        let cases = [
            ("COMPLETE", PaymentStatus::Completed),
            ("PENDING", PaymentStatus::Pending),
            ("FULL_REFUND", PaymentStatus::Refunded),
            ("PARTIAL_REFUND", PaymentStatus::PartiallyRefunded),
            ("AMBIGUOUS", PaymentStatus::Ambiguous),
            ("NOT_FOUND", PaymentStatus::NotFound),
            ("CANCELED", PaymentStatus::Canceled),
            ("complete", PaymentStatus::Ambiguous),
        ];
        for (text, status) in cases {
            assert_eq!(status_from_esewa(text), status, "{text}");
        }
    }

    #[test]
    fn amounts_in_rupees_are_read_strictly() {
        let good = [
            ("0", 0),
            ("0.5", 50),
            ("1", 100),
            ("110", 11_000),
            ("100.0", 10_000),
            ("1000.0", 100_000),
            ("1,000.0", 100_000),
            ("1000.50", 100_050),
            ("1000.05", 100_005),
            ("12,345,678.9", 1_234_567_890),
            ("1,00,000.00", 10_000_000),
            ("12,34,567", 123_456_700),
            ("999999999999.99", 99_999_999_999_999),
        ];
        for (text, paisa) in good {
            assert_eq!(parse_rupees(text), Some(paisa), "{text}");
        }
        let bad = [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "1e3",
            "1E3",
            "1.",
            ".5",
            "1.234",
            "1..0",
            "1.0.0",
            "01",
            "00",
            "0,100",
            "1,00",
            "1,0000",
            "1000,000",
            ",100",
            "100,",
            "1,,000",
            "1,000,00",
            "123,45,678",
            "1 000",
            "1_000",
            "१००",
            "NaN",
            "inf",
            "0x10",
            "1000000000000",
            "1,000,000,000,000",
        ];
        for text in bad {
            assert_eq!(parse_rupees(text), None, "{text:?}");
        }
    }

    #[test]
    fn paisa_are_written_as_rupees_that_read_back() {
        for (paisa, text) in [
            (11_000, "110"),
            (11_050, "110.5"),
            (11_005, "110.05"),
            (1, "0.01"),
            (-250, "-2.5"),
        ] {
            assert_eq!(format_rupees(paisa), text);
            if paisa > 0 {
                assert_eq!(parse_rupees(text), Some(paisa));
            }
        }
    }

    #[tokio::test]
    async fn refunds_are_manual() {
        let outcome = esewa()
            .refund(&RefundRequest {
                reference: "DH-9".into(),
                provider_ref: None,
                captured_paisa: 100_000,
                amount_paisa: 25_050,
            })
            .await
            .unwrap();
        let RefundOutcome::ManualActionNeeded { reason } = outcome else {
            panic!("eSewa has no refund API: {outcome:?}");
        };
        assert!(reason.contains("Rs 250.5 of payment DH-9"), "{reason}");
    }

    #[test]
    fn odd_settings_are_refused() {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(1),
        };
        let build = |code: &str, form: &str, status: &str| {
            Esewa::new(Secret("k".into()), code, form, status, timeouts).err()
        };
        assert!(build(" ", ESEWA_TEST_FORM_URL, ESEWA_TEST_STATUS_URL).is_some());
        assert!(build("EPAYTEST", "ftp://x/", ESEWA_TEST_STATUS_URL).is_some());
        assert!(build("EPAYTEST", ESEWA_TEST_FORM_URL, "/relative").is_some());
    }
}
