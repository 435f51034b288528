//! The sandbox payment provider, served by the real app and driven over HTTP
//! through the same `Gateway` client Dhune uses: its page, its signed
//! returns and callbacks, look-ups, expiry and refunds. Callbacks go to a
//! small listener started here, which records what it receives.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dhune::Config;
use dhune::config::{SANDBOX_SECRET, Secret};
use dhune::gateways::payments::{
    self, Gateway, InitiateRequest, Initiated, LookupQuery, NextStep, PaymentStatus, Provider,
    ProviderError, RefundOutcome, RefundRequest, ReturnClaim, signature,
};
use hmac::{Hmac, Mac};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::helpers::{Page, TestApp};

struct Sandbox {
    app: TestApp,
    base: String,
    gateway: Arc<dyn Gateway>,
}

impl Sandbox {
    async fn start(pool: PgPool) -> Self {
        let app = TestApp::spawn(pool).await;
        let base = format!("http://{}", app.addr);
        let gateway = gateway(&base, SANDBOX_SECRET);
        Self { app, base, gateway }
    }

    fn request(&self, reference: &str, amount_paisa: i64, callback_url: &str) -> InitiateRequest {
        InitiateRequest {
            reference: reference.to_owned(),
            amount_paisa,
            description: "Order #7 — Sparkle Laundry".to_owned(),
            return_url: format!("{}/payments/7/return", self.base),
            failure_url: format!("{}/payments/7/return", self.base),
            callback_url: callback_url.to_owned(),
        }
    }

    /// Starts a payment whose callbacks go nowhere that answers.
    async fn initiate(&self, reference: &str, amount_paisa: i64) -> Initiated {
        let callback = format!("{}/payments/callback/sandbox", self.base);
        self.gateway
            .initiate(&self.request(reference, amount_paisa, &callback))
            .await
            .expect("initiate")
    }

    /// The local path of a started payment's page.
    fn page_path(&self, started: &Initiated) -> String {
        let NextStep::Redirect(url) = &started.next else {
            panic!("the sandbox redirects: {:?}", started.next);
        };
        url.strip_prefix(&self.base)
            .unwrap_or_else(|| panic!("{url} is not on {}", self.base))
            .to_owned()
    }

    /// Presses a button on the payment page with these choices.
    async fn press(&self, started: &Initiated, action: &str, extra: &[(&str, &str)]) -> Page {
        let mut fields = vec![("action", action.to_owned())];
        fields.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.app
            .browser()
            .post_raw(&self.page_path(started), &fields, &[])
            .await
    }

    async fn lookup(&self, reference: &str, started: &Initiated) -> payments::Lookup {
        self.gateway
            .lookup(&query(reference, started))
            .await
            .expect("lookup")
    }

    async fn refund(
        &self,
        reference: &str,
        started: &Initiated,
        captured_paisa: i64,
        amount_paisa: i64,
    ) -> Result<RefundOutcome, ProviderError> {
        self.gateway
            .refund(&RefundRequest {
                reference: reference.to_owned(),
                provider_ref: Some(started.provider_ref.clone()),
                captured_paisa,
                amount_paisa,
            })
            .await
    }

    /// A raw call to the sandbox's API.
    async fn api(&self, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => client.get(url),
            _ => client.post(url).body(body.to_owned()),
        };
        if let Some(key) = key {
            request = request.header("Authorization", format!("Key {key}"));
        }
        let response = request.send().await.expect("sandbox API");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn gateway(base: &str, secret: &str) -> Arc<dyn Gateway> {
    let mut config = Config::for_tests();
    config.public_url = base.to_owned();
    config.payments.sandbox_secret = Secret(secret.to_owned());
    let gateway = payments::build(&config).expect("the sandbox client");
    assert_eq!(gateway.kind(), Provider::Sandbox);
    gateway
}

fn query(reference: &str, started: &Initiated) -> LookupQuery {
    LookupQuery {
        reference: reference.to_owned(),
        provider_ref: Some(started.provider_ref.clone()),
        amount_paisa: 0,
    }
}

/// The query parameters of a redirect's `Location`, after checking that it
/// goes to `return_url`.
fn returned(page: &Page, return_url: &str) -> Vec<(String, String)> {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().expect("Location");
    let url = Url::parse(location).expect("an absolute Location");
    assert_eq!(
        format!("{}://{}{}", url.scheme(), url.authority(), url.path()),
        return_url
    );
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn value<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {params:?}"))
}

fn with(params: &[(String, String)], name: &str, new: &str) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| {
            let v = if k == name { new.to_owned() } else { v.clone() };
            (k.clone(), v)
        })
        .collect()
}

/// The return's signature, computed here as the sandbox documents it.
fn sign_return(t: i64, params: &[(String, String)]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SANDBOX_SECRET.as_bytes()).unwrap();
    mac.update(
        format!(
            "{t}.{}.{}.{}.{}",
            value(params, "reference"),
            value(params, "pidx"),
            value(params, "status"),
            value(params, "amount_paisa")
        )
        .as_bytes(),
    );
    hex::encode(mac.finalize().into_bytes())
}

fn bad_return(result: Result<ReturnClaim, ProviderError>) -> bool {
    matches!(result, Err(ProviderError::BadReturn(_)))
}

// ------------------------------------------------------------ callbacks --

struct Delivery {
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

/// A merchant's callback endpoint that records every delivery.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Delivery>>>);

impl Recorder {
    async fn start() -> (Self, String) {
        let recorder = Recorder::default();
        let router = Router::new()
            .route(
                "/callback",
                post(
                    |State(recorder): State<Recorder>, headers: HeaderMap, body: Bytes| async move {
                        recorder.0.lock().unwrap().push(Delivery {
                            headers,
                            body: body.to_vec(),
                            at: Instant::now(),
                        });
                        StatusCode::OK
                    },
                ),
            )
            .with_state(recorder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (recorder, format!("http://{addr}/callback"))
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Waits until `n` deliveries arrived (at most `within`), then returns
    /// (headers, body, arrival) of each.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<(HeaderMap, Vec<u8>, Instant)> {
        let deadline = Instant::now() + within;
        while self.count() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deliveries = self.0.lock().unwrap();
        assert_eq!(deliveries.len(), n, "deliveries after {within:?}");
        deliveries
            .iter()
            .map(|d| (d.headers.clone(), d.body.clone(), d.at))
            .collect()
    }
}

// ---------------------------------------------------------------- tests --

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_pay_returns_signed_and_the_lookup_confirms(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let before = OffsetDateTime::now_utc();
    let started = sandbox.initiate("DH-7-a1", 125_050).await;
    let path = sandbox.page_path(&started);
    assert_eq!(path, format!("/sandbox/pay/{}", started.provider_ref));
    let expires_at = started.expires_at.expect("expires_at");
    let window = expires_at - before;
    assert!(
        window > time::Duration::minutes(29) && window <= time::Duration::minutes(31),
        "{window}"
    );

    let browser = sandbox.app.browser();
    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Dhune Sandbox — test payments, no real money",
        "Order #7 — Sparkle Laundry",
        "Rs 1,250.50",
        "DH-7-a1",
        r#"name="action" value="pay">Pay Rs 1,250.50</button>"#,
        r#"name="action" value="cancel">Cancel payment</button>"#,
        r#"name="action" value="pending">Leave pending</button>"#,
        r#"<label for="callback">"#,
        r#"<option value="once" selected>"#,
        r#"<option value="before""#,
        r#"<option value="late""#,
        r#"<label for="callback_delay_secs">"#,
        r#"value="5""#,
        r#"name="failing_refunds""#,
        "Make refunds of this payment fail",
    ] {
        assert!(page.body.contains(text), "{text:?} in {}", page.body);
    }
    assert_eq!(
        page.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    let paid = sandbox
        .press(&started, "pay", &[("callback", "none")])
        .await;
    let return_url = format!("{}/payments/7/return", sandbox.base);
    let params = returned(&paid, &return_url);
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "reference",
            "pidx",
            "status",
            "amount_paisa",
            "t",
            "signature"
        ]
    );
    let claim = sandbox
        .gateway
        .verify_return(&params)
        .expect("a good return");
    assert_eq!(
        claim,
        ReturnClaim {
            reference: "DH-7-a1".into(),
            provider_ref: Some(started.provider_ref.clone()),
            status: PaymentStatus::Completed,
            amount_paisa: Some(125_050),
            signed: true,
        }
    );

    // Every field is covered by the signature.
    for (name, tampered) in [
        ("reference", "DH-8-a1"),
        ("pidx", "AAAAAAAAAAAAAAAAAAAAAA"),
        ("status", "Pending"),
        ("amount_paisa", "125049"),
        ("amount_paisa", "1"),
        (
            "t",
            &(value(&params, "t").parse::<i64>().unwrap() - 1).to_string(),
        ),
        ("signature", &"ab".repeat(32)),
    ] {
        assert!(
            bad_return(
                sandbox
                    .gateway
                    .verify_return(&with(&params, name, tampered))
            ),
            "{name}={tampered} accepted"
        );
    }
    let unsigned: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "signature")
        .cloned()
        .collect();
    assert!(bad_return(sandbox.gateway.verify_return(&unsigned)));
    // Signed correctly but too old: refused; the same signing now passes.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let at = |t: i64| {
        with(
            &with(&params, "t", &t.to_string()),
            "signature",
            &sign_return(t, &params),
        )
    };
    assert!(sandbox.gateway.verify_return(&at(now)).is_ok());
    assert!(bad_return(sandbox.gateway.verify_return(&at(now - 301))));
    assert!(bad_return(sandbox.gateway.verify_return(&at(now + 301))));
    // Another merchant's key does not verify it.
    let other = gateway(&sandbox.base, "another-secret");
    assert!(bad_return(other.verify_return(&params)));

    let found = sandbox.lookup("DH-7-a1", &started).await;
    assert_eq!(found.status, PaymentStatus::Completed);
    assert_eq!(found.amount_paisa, Some(125_050));
    let txn = found.provider_txn.expect("a transaction id once paid");
    assert!(txn.len() >= 10, "{txn}");
    // The look-up checks that the pidx is this reference's.
    assert!(matches!(
        sandbox.gateway.lookup(&query("DH-9-zz", &started)).await,
        Err(ProviderError::BadAnswer(_))
    ));

    // Paid once: the page says so, a second press changes nothing.
    let page = browser.get(&path).await;
    assert!(page.body.contains("already finished"), "{}", page.body);
    assert!(!page.body.contains(r#"value="pay""#), "{}", page.body);
    let back_link = format!("{path}/return");
    assert!(page.body.contains(&back_link), "{}", page.body);
    let again = sandbox.press(&started, "cancel", &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("nothing was changed"), "{}", again.body);
    assert_eq!(
        sandbox.lookup("DH-7-a1", &started).await.status,
        PaymentStatus::Completed
    );
    // The link back returns a fresh signed result.
    let back = browser.get(&back_link).await;
    let params = returned(&back, &return_url);
    assert_eq!(
        sandbox.gateway.verify_return(&params).map(|c| c.status),
        Ok(PaymentStatus::Completed)
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_cancel_pending_and_expiry(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let return_url = format!("{}/payments/7/return", sandbox.base);

    let cancelled = sandbox.initiate("DH-7-c1", 50_000).await;
    let params = returned(
        &sandbox
            .press(&cancelled, "cancel", &[("callback", "none")])
            .await,
        &return_url,
    );
    assert_eq!(value(&params, "status"), "User canceled");
    let claim = sandbox.gateway.verify_return(&params).expect("signed");
    assert_eq!(claim.status, PaymentStatus::Canceled);
    let found = sandbox.lookup("DH-7-c1", &cancelled).await;
    assert_eq!(
        (found.status, found.amount_paisa, found.provider_txn),
        (PaymentStatus::Canceled, Some(50_000), None)
    );

    let pending = sandbox.initiate("DH-7-p1", 50_000).await;
    assert_eq!(
        sandbox.lookup("DH-7-p1", &pending).await.status,
        PaymentStatus::Pending,
        "Initiated reads as pending"
    );
    let params = returned(&sandbox.press(&pending, "pending", &[]).await, &return_url);
    assert_eq!(
        sandbox.gateway.verify_return(&params).map(|c| c.status),
        Ok(PaymentStatus::Pending)
    );
    assert_eq!(
        sandbox.lookup("DH-7-p1", &pending).await.status,
        PaymentStatus::Pending
    );
    // A pending payment can still be paid.
    let params = returned(
        &sandbox
            .press(&pending, "pay", &[("callback", "none")])
            .await,
        &return_url,
    );
    assert_eq!(value(&params, "status"), "Completed");

    // Expiry: the window passed without a payment.
    let expiring = sandbox.initiate("DH-7-e1", 50_000).await;
    sqlx::query(
        "UPDATE sandbox_payments SET expires_at = now() - interval '1 second' WHERE pidx = $1",
    )
    .bind(&expiring.provider_ref)
    .execute(&sandbox.app.pool)
    .await
    .unwrap();
    assert_eq!(
        sandbox.lookup("DH-7-e1", &expiring).await.status,
        PaymentStatus::Expired
    );
    let page = sandbox
        .app
        .browser()
        .get(&sandbox.page_path(&expiring))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("expired"), "{}", page.body);
    assert!(!page.body.contains(r#"value="pay""#), "{}", page.body);
    let late = sandbox.press(&expiring, "pay", &[]).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert_eq!(
        sandbox.lookup("DH-7-e1", &expiring).await.status,
        PaymentStatus::Expired
    );
    // A paid payment does not expire.
    sqlx::query("UPDATE sandbox_payments SET expires_at = now() - interval '1 second'")
        .execute(&sandbox.app.pool)
        .await
        .unwrap();
    assert_eq!(
        sandbox.lookup("DH-7-p1", &pending).await.status,
        PaymentStatus::Completed
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_refunds_full_partial_and_too_much(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;

    // Nothing paid yet: nothing to refund.
    let started = sandbox.initiate("DH-7-r1", 10_001).await;
    assert!(matches!(
        sandbox.refund("DH-7-r1", &started, 10_001, 10_001).await,
        Ok(RefundOutcome::Failed { .. })
    ));
    sandbox
        .press(&started, "pay", &[("callback", "none")])
        .await;

    let done = |outcome: Result<RefundOutcome, ProviderError>| {
        matches!(outcome, Ok(RefundOutcome::Done { .. }))
    };
    assert!(done(
        sandbox.refund("DH-7-r1", &started, 10_001, 3_333).await
    ));
    assert_eq!(
        sandbox.lookup("DH-7-r1", &started).await.status,
        PaymentStatus::PartiallyRefunded
    );
    assert!(done(
        sandbox.refund("DH-7-r1", &started, 10_001, 3_333).await
    ));
    // 3,335 paisa remain: 3,336 is too much.
    match sandbox.refund("DH-7-r1", &started, 10_001, 3_336).await {
        Ok(RefundOutcome::Failed { reason }) => {
            assert!(reason.contains("3335"), "{reason}");
        }
        other => panic!("an over-refund: {other:?}"),
    }
    assert_eq!(
        sandbox.lookup("DH-7-r1", &started).await.status,
        PaymentStatus::PartiallyRefunded
    );
    assert!(done(
        sandbox.refund("DH-7-r1", &started, 10_001, 3_335).await
    ));
    let found = sandbox.lookup("DH-7-r1", &started).await;
    assert_eq!(
        (found.status, found.amount_paisa),
        (PaymentStatus::Refunded, Some(10_001))
    );
    let (status, body) = sandbox
        .api(
            "GET",
            &format!("/sandbox/api/payments/{}", started.provider_ref),
            Some(SANDBOX_SECRET),
            "",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["refunded_paisa"], json!(10_001));
    assert!(matches!(
        sandbox.refund("DH-7-r1", &started, 10_001, 1).await,
        Ok(RefundOutcome::Failed { .. })
    ));
    let refunds: Vec<i64> = sqlx::query_scalar(
        "SELECT r.amount_paisa FROM sandbox_refunds r \
         JOIN sandbox_payments p ON p.id = r.payment_id WHERE p.pidx = $1 ORDER BY r.id",
    )
    .bind(&started.provider_ref)
    .fetch_all(&sandbox.app.pool)
    .await
    .unwrap();
    assert_eq!(refunds, [3_333, 3_333, 3_335]);

    // A full refund in one go.
    let whole = sandbox.initiate("DH-7-r2", 20_000).await;
    sandbox.press(&whole, "pay", &[("callback", "none")]).await;
    assert!(done(
        sandbox.refund("DH-7-r2", &whole, 20_000, 20_000).await
    ));
    assert_eq!(
        sandbox.lookup("DH-7-r2", &whole).await.status,
        PaymentStatus::Refunded
    );
    // The client refuses what it knows to be wrong before asking.
    assert!(matches!(
        sandbox.refund("DH-7-r2", &whole, 20_000, 20_001).await,
        Err(ProviderError::Invalid(_))
    ));
    assert!(matches!(
        sandbox.refund("DH-7-r2", &whole, 20_000, 0).await,
        Err(ProviderError::Invalid(_))
    ));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_refunds_set_to_fail_then_work_again(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let started = sandbox.initiate("DH-7-f1", 40_000).await;
    let paid = sandbox
        .press(
            &started,
            "pay",
            &[("callback", "none"), ("failing_refunds", "on")],
        )
        .await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    match sandbox.refund("DH-7-f1", &started, 40_000, 40_000).await {
        Ok(RefundOutcome::Failed { reason }) => assert_eq!(
            reason, "refund refused (sandbox set to fail refunds)",
            "{reason}"
        ),
        other => panic!("refunds set to fail: {other:?}"),
    }
    assert_eq!(
        sandbox.lookup("DH-7-f1", &started).await.status,
        PaymentStatus::Completed
    );

    let browser = sandbox.app.browser();
    let path = sandbox.page_path(&started);
    let page = browser.get(&path).await;
    assert!(
        page.body.contains("Let refunds of this payment work"),
        "{}",
        page.body
    );
    let bad = browser
        .post_raw(
            &format!("{path}/refunds-mode"),
            &[("failing_refunds", "maybe".into())],
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let off = browser
        .post_raw(
            &format!("{path}/refunds-mode"),
            &[("failing_refunds", "off".into())],
            &[],
        )
        .await;
    off.assert_redirect(&path);
    assert!(matches!(
        sandbox.refund("DH-7-f1", &started, 40_000, 40_000).await,
        Ok(RefundOutcome::Done { .. })
    ));
    let missing = browser
        .post_raw(
            "/sandbox/pay/NoSuchPayment/refunds-mode",
            &[("failing_refunds", "off".into())],
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_refuses_wrong_keys_bad_input_and_unknown_payments(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let started = sandbox.initiate("DH-7-k1", 30_000).await;

    let intruder = gateway(&sandbox.base, "not-the-secret");
    let callback = format!("{}/payments/callback/sandbox", sandbox.base);
    let unauthorized =
        |result: ProviderError| matches!(result, ProviderError::Refused { status: 401, .. });
    assert!(unauthorized(
        intruder
            .initiate(&sandbox.request("DH-7-k2", 100, &callback))
            .await
            .unwrap_err()
    ));
    assert!(unauthorized(
        intruder
            .lookup(&query("DH-7-k1", &started))
            .await
            .unwrap_err()
    ));
    sandbox
        .press(&started, "pay", &[("callback", "none")])
        .await;
    assert!(unauthorized(
        intruder
            .refund(&RefundRequest {
                reference: "DH-7-k1".into(),
                provider_ref: Some(started.provider_ref.clone()),
                captured_paisa: 30_000,
                amount_paisa: 30_000,
            })
            .await
            .unwrap_err()
    ));
    assert_eq!(
        sandbox.lookup("DH-7-k1", &started).await.status,
        PaymentStatus::Completed,
        "nothing refunded"
    );
    for (method, path) in [
        ("POST", "/sandbox/api/payments"),
        ("GET", "/sandbox/api/payments/abc"),
        ("POST", "/sandbox/api/refunds"),
    ] {
        let (status, body) = sandbox.api(method, path, None, "{}").await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }

    // The sandbox's own checks, answered 400 with a detail.
    let mut description = sandbox.request("DH-7-k3", 100, &callback);
    description.description = " ".into();
    match sandbox.gateway.initiate(&description).await {
        Err(ProviderError::Refused {
            status: 400,
            detail,
        }) => {
            assert!(detail.contains("description"), "{detail}");
        }
        other => panic!("an empty description: {other:?}"),
    }
    let good = json!({
        "reference": "DH-7-k4",
        "amount_paisa": 100,
        "description": "Order #7",
        "return_url": "http://127.0.0.1:1/r",
        "callback_url": "http://127.0.0.1:1/c",
    });
    let (status, body) = sandbox
        .api(
            "POST",
            "/sandbox/api/payments",
            Some(SANDBOX_SECRET),
            &good.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["pidx"].is_string() && body["expires_at"].is_string());
    for (field, bad) in [
        ("amount_paisa", json!(0)),
        ("amount_paisa", json!(-5)),
        ("amount_paisa", json!("100")),
        ("return_url", json!("/payments/7/return")),
        ("callback_url", json!("javascript:alert(1)")),
        ("reference", json!("DH 7")),
    ] {
        let mut body = good.clone();
        body[field] = bad.clone();
        let (status, answer) = sandbox
            .api(
                "POST",
                "/sandbox/api/payments",
                Some(SANDBOX_SECRET),
                &body.to_string(),
            )
            .await;
        assert_eq!(status, 400, "{field}={bad}: {answer}");
        assert!(answer["detail"].is_string(), "{answer}");
    }
    let (status, _) = sandbox
        .api(
            "POST",
            "/sandbox/api/payments",
            Some(SANDBOX_SECRET),
            "not json",
        )
        .await;
    assert_eq!(status, 400);
    let (status, answer) = sandbox
        .api(
            "POST",
            "/sandbox/api/refunds",
            Some(SANDBOX_SECRET),
            &json!({"pidx": started.provider_ref, "amount_paisa": -1}).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{answer}");

    // Unknown payments.
    let (status, body) = sandbox
        .api(
            "GET",
            "/sandbox/api/payments/NoSuchPayment",
            Some(SANDBOX_SECRET),
            "",
        )
        .await;
    assert_eq!((status, &body["detail"]), (404, &json!("Not found.")));
    let unknown = Initiated {
        provider_ref: "NoSuchPayment".into(),
        next: NextStep::Redirect(format!("{}/sandbox/pay/NoSuchPayment", sandbox.base)),
        expires_at: None,
    };
    assert_eq!(
        sandbox.lookup("DH-7-k1", &unknown).await.status,
        PaymentStatus::NotFound
    );
    assert!(matches!(
        sandbox.refund("DH-7-k1", &unknown, 100, 100).await,
        Ok(RefundOutcome::Failed { .. })
    ));
    let page = sandbox
        .app
        .browser()
        .get("/sandbox/pay/NoSuchPayment")
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("No such payment"), "{}", page.body);
    let pressed = sandbox.press(&unknown, "pay", &[]).await;
    assert_eq!(pressed.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_page_refuses_odd_choices_on_the_same_form(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let started = sandbox.initiate("DH-7-o1", 30_000).await;
    for (fields, message) in [
        (vec![], "Please choose Pay"),
        (vec![("callback", "thrice")], "how the callback"),
        (
            vec![("callback", "late"), ("callback_delay_secs", "soon")],
            "whole number of seconds",
        ),
        (
            vec![("callback", "late"), ("callback_delay_secs", "601")],
            "whole number of seconds",
        ),
    ] {
        let action = if fields.is_empty() { "bogus" } else { "pay" };
        let page = sandbox.press(&started, action, &fields).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {}",
            page.body
        );
        assert!(page.body.contains(message), "{message}: {}", page.body);
        assert!(page.body.contains(r#"value="pay""#), "the form again");
    }
    assert_eq!(
        sandbox.lookup("DH-7-o1", &started).await.status,
        PaymentStatus::Pending,
        "nothing changed"
    );
    // The late delay typed is kept on the form shown again.
    let page = sandbox
        .press(
            &started,
            "pay",
            &[("callback", "late"), ("callback_delay_secs", "601")],
        )
        .await;
    assert!(page.body.contains(r#"value="601""#), "{}", page.body);
    // What is not a number is not put back into the number input.
    let page = sandbox
        .press(
            &started,
            "pay",
            &[("callback", "late"), ("callback_delay_secs", "soon")],
        )
        .await;
    assert!(page.body.contains(r#"step="1" value="">"#), "{}", page.body);
    assert!(
        page.body.contains(r#"<option value="late" selected>"#),
        "{}",
        page.body
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_callbacks_once_twice_and_never(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let (recorder, callback_url) = Recorder::start().await;

    let once = sandbox
        .gateway
        .initiate(&sandbox.request("DH-7-b1", 77_777, &callback_url))
        .await
        .unwrap();
    sandbox.press(&once, "pay", &[]).await; // "once" is the default
    let deliveries = recorder.wait_for(1, Duration::from_secs(5)).await;
    let (headers, body, _) = &deliveries[0];
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let claim = sandbox
        .gateway
        .verify_callback(headers, body)
        .expect("a signed callback");
    assert_eq!(
        claim,
        ReturnClaim {
            reference: "DH-7-b1".into(),
            provider_ref: Some(once.provider_ref.clone()),
            status: PaymentStatus::Completed,
            amount_paisa: Some(77_777),
            signed: true,
        }
    );
    let json: Value = serde_json::from_slice(body).unwrap();
    assert!(json["transaction_id"].is_string(), "{json}");

    // Tampered, unsigned or another key's callbacks are refused.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("77777", "7777");
    assert_ne!(tampered.as_bytes(), body.as_slice());
    assert!(bad_return(
        sandbox
            .gateway
            .verify_callback(headers, tampered.as_bytes())
    ));
    assert!(bad_return(
        sandbox.gateway.verify_callback(&HeaderMap::new(), body)
    ));
    let mut resigned = headers.clone();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    resigned.insert(
        signature::HEADER,
        signature::sign(b"another-secret", now, body)
            .parse()
            .unwrap(),
    );
    assert!(bad_return(sandbox.gateway.verify_callback(&resigned, body)));
    let mut stale = headers.clone();
    stale.insert(
        signature::HEADER,
        signature::sign(SANDBOX_SECRET.as_bytes(), now - 301, body)
            .parse()
            .unwrap(),
    );
    assert!(bad_return(sandbox.gateway.verify_callback(&stale, body)));

    // Twice: two deliveries of the same signed news.
    let twice = sandbox
        .gateway
        .initiate(&sandbox.request("DH-7-b2", 500, &callback_url))
        .await
        .unwrap();
    sandbox
        .press(&twice, "cancel", &[("callback", "twice")])
        .await;
    let deliveries = recorder.wait_for(3, Duration::from_secs(5)).await;
    for (headers, body, _) in &deliveries[1..] {
        let claim = sandbox.gateway.verify_callback(headers, body).unwrap();
        assert_eq!(
            (claim.reference.as_str(), claim.status),
            ("DH-7-b2", PaymentStatus::Canceled)
        );
    }

    // Pending and "none" send nothing.
    let quiet = sandbox
        .gateway
        .initiate(&sandbox.request("DH-7-b3", 500, &callback_url))
        .await
        .unwrap();
    sandbox
        .press(&quiet, "pending", &[("callback", "twice")])
        .await;
    sandbox.press(&quiet, "pay", &[("callback", "none")]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(recorder.count(), 3);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_callbacks_before_the_return_and_late(pool: PgPool) {
    let sandbox = Sandbox::start(pool).await;
    let (recorder, callback_url) = Recorder::start().await;

    let before = sandbox
        .gateway
        .initiate(&sandbox.request("DH-7-t1", 1_000, &callback_url))
        .await
        .unwrap();
    let page = sandbox
        .press(&before, "pay", &[("callback", "before")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(recorder.count(), 1, "delivered before the browser's 303");
    let deliveries = recorder.wait_for(1, Duration::from_secs(1)).await;
    let (headers, body, _) = &deliveries[0];
    assert_eq!(
        sandbox
            .gateway
            .verify_callback(headers, body)
            .map(|c| c.status),
        Ok(PaymentStatus::Completed)
    );

    let late = sandbox
        .gateway
        .initiate(&sandbox.request("DH-7-t2", 1_000, &callback_url))
        .await
        .unwrap();
    let pressed_at = Instant::now();
    let page = sandbox
        .press(
            &late,
            "pay",
            &[("callback", "late"), ("callback_delay_secs", "2")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(recorder.count(), 1, "not yet when the browser returns");
    let deliveries = recorder.wait_for(2, Duration::from_secs(8)).await;
    let (headers, body, arrived) = &deliveries[1];
    assert!(
        arrived.duration_since(pressed_at) >= Duration::from_secs(2),
        "{:?}",
        arrived.duration_since(pressed_at)
    );
    let claim = sandbox.gateway.verify_callback(headers, body).unwrap();
    assert_eq!(
        (claim.reference.as_str(), claim.status),
        ("DH-7-t2", PaymentStatus::Completed)
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sandbox_is_served_only_when_it_is_the_provider(pool: PgPool) {
    let mut config = Config::for_tests();
    config.payments.provider = Provider::Esewa;
    let app = TestApp::spawn_with(pool, config).await;
    let browser = app.browser();
    for path in ["/sandbox/pay/abc", "/sandbox/api/payments/abc"] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let response = reqwest::Client::new()
        .post(format!("http://{}/sandbox/api/payments", app.addr))
        .header("Authorization", format!("Key {SANDBOX_SECRET}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_ne!(response.status().as_u16(), 400, "no sandbox API");
    assert!(response.status().is_client_error());
}
