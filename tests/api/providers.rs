//! The Khalti and eSewa adapters against stand-in servers started here, on
//! 127.0.0.1, that speak the providers' documented requests and answers
//! (docs.khalti.com "Web Checkout (KPG-2)" and "Refund API";
//! developer.esewa.com.np "Epay-V2"). The real client code runs: HTTP,
//! headers, timeouts, parsing. No database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dhune::config::{PaymentsConfig, Secret};
use dhune::gateways::payments::{
    self, Gateway, InitiateRequest, Lookup, LookupQuery, NextStep, PaymentStatus, Provider,
    ProviderError, RefundOutcome, RefundRequest,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A server that accepts connections and never says a word.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

// ---------------------------------------------------------------- Khalti --

const KHALTI_KEY: &str = "test_secret_key_f59e8b7d18b4499ca40f68195a846e9b";

struct KhaltiPayment {
    status: &'static str,
    total_amount: i64,
    refunded_paisa: i64,
    transaction_id: Option<String>,
}

#[derive(Default)]
struct KhaltiBook {
    payments: HashMap<String, KhaltiPayment>,
    initiated: Vec<Value>,
    refunds: Vec<(String, Value)>,
}

type Book<T> = Arc<Mutex<T>>;

/// Khalti's answer to a request without the right key, if it has not.
fn khalti_refusal(headers: &HeaderMap) -> Option<Response> {
    match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
        Some(Ok(value)) if value == format!("Key {KHALTI_KEY}") => None,
        Some(_) => Some(json_answer(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid token.", "status_code": 401 }),
        )),
        None => Some(json_answer(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Authentication credentials were not provided.", "status_code": 401 }),
        )),
    }
}

fn khalti_invalid(field: &str, message: &str) -> Response {
    json_answer(
        StatusCode::BAD_REQUEST,
        json!({ field: [message], "error_key": "validation_error" }),
    )
}

async fn khalti_initiate(
    State(book): State<Book<KhaltiBook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = khalti_refusal(&headers) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return khalti_invalid("detail", "JSON parse error");
    };
    for field in [
        "return_url",
        "website_url",
        "purchase_order_id",
        "purchase_order_name",
    ] {
        if request[field].as_str().is_none_or(str::is_empty) {
            return khalti_invalid(field, "This field may not be blank.");
        }
    }
    let Some(amount) = request["amount"].as_i64() else {
        return khalti_invalid("amount", "A valid integer is required.");
    };
    if amount < 1000 {
        return khalti_invalid(
            "amount",
            "Amount should be greater than Rs. 10, that is 1000 paisa.",
        );
    }
    let mut book = book.lock().unwrap();
    let pidx = format!("pidx{}", book.initiated.len() + 1);
    book.initiated.push(request);
    book.payments.insert(
        pidx.clone(),
        KhaltiPayment {
            status: "Initiated",
            total_amount: amount,
            refunded_paisa: 0,
            transaction_id: None,
        },
    );
    json_answer(
        StatusCode::OK,
        json!({
            "pidx": pidx,
            "payment_url": format!("https://test-pay.khalti.com/?pidx={pidx}"),
            "expires_at": "2026-11-25T21:30:00.471649+05:45",
            "expires_in": 1800,
        }),
    )
}

async fn khalti_lookup(
    State(book): State<Book<KhaltiBook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = khalti_refusal(&headers) {
        return refused;
    }
    let pidx = serde_json::from_slice::<Value>(&body).unwrap_or_default()["pidx"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let book = book.lock().unwrap();
    let Some(payment) = book.payments.get(&pidx) else {
        return json_answer(
            StatusCode::NOT_FOUND,
            json!({ "detail": "Not found.", "error_key": "validation_error" }),
        );
    };
    // The docs' "Payment Status Code" table.
    let code = match payment.status {
        "Expired" | "User canceled" => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    json_answer(
        code,
        json!({
            "pidx": pidx,
            "total_amount": payment.total_amount,
            "status": payment.status,
            "transaction_id": payment.transaction_id,
            "fee": 0,
            "refunded": payment.refunded_paisa > 0,
        }),
    )
}

async fn khalti_refund(
    State(book): State<Book<KhaltiBook>>,
    Path(transaction_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = khalti_refusal(&headers) {
        return refused;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut book = book.lock().unwrap();
    book.refunds.push((transaction_id.clone(), request.clone()));
    let Some(payment) = book
        .payments
        .values_mut()
        .find(|p| p.transaction_id.as_deref() == Some(transaction_id.as_str()))
    else {
        return json_answer(StatusCode::NOT_FOUND, json!({ "detail": "Not found." }));
    };
    let remaining = payment.total_amount - payment.refunded_paisa;
    let amount = request["amount"].as_i64().unwrap_or(remaining);
    if amount > remaining {
        // The stand-in's own words: Khalti does not document this refusal.
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "detail": "Refund amount exceeds the refundable amount." }),
        );
    }
    payment.refunded_paisa += amount;
    payment.status = if payment.refunded_paisa == payment.total_amount {
        "Refunded"
    } else {
        "Partially Refunded"
    };
    json_answer(
        StatusCode::OK,
        json!({ "detail": "Transaction refund successful." }),
    )
}

struct KhaltiStandIn {
    book: Book<KhaltiBook>,
    addr: SocketAddr,
}

impl KhaltiStandIn {
    async fn start() -> Self {
        let book = Book::<KhaltiBook>::default();
        let router = Router::new()
            .route("/api/v2/epayment/initiate/", post(khalti_initiate))
            .route("/api/v2/epayment/lookup/", post(khalti_lookup))
            .route(
                "/api/merchant-transaction/{transaction_id}/refund/",
                post(khalti_refund),
            )
            .with_state(book.clone());
        let addr = serve(router).await;
        Self { book, addr }
    }

    fn provider(&self) -> Arc<dyn Gateway> {
        khalti_at(self.addr, KHALTI_KEY, Duration::from_secs(5))
    }

    /// What the customer did on Khalti's pages.
    fn set(&self, pidx: &str, status: &'static str, transaction_id: Option<&str>) {
        let mut book = self.book.lock().unwrap();
        let payment = book.payments.get_mut(pidx).unwrap();
        payment.status = status;
        payment.transaction_id = transaction_id.map(str::to_owned);
    }
}

fn khalti_at(addr: SocketAddr, key: &str, timeout: Duration) -> Arc<dyn Gateway> {
    let config = PaymentsConfig {
        provider: Provider::Khalti,
        khalti_secret_key: Some(Secret(key.to_owned())),
        khalti_base_url: format!("http://{addr}/api/v2/"),
        connect_timeout: timeout,
        request_timeout: timeout,
        ..PaymentsConfig::for_tests()
    };
    payments::from_config(&config).unwrap().unwrap()
}

fn order(reference: &str, amount_paisa: i64) -> InitiateRequest {
    InitiateRequest {
        reference: reference.to_owned(),
        amount_paisa,
        description: "Dhune order 7".to_owned(),
        return_url: "http://127.0.0.1:3000/payments/DH-7-a1/return".to_owned(),
        failure_url: "http://127.0.0.1:3000/payments/DH-7-a1/failed".to_owned(),
        callback_url: "http://127.0.0.1:3000/payments/callback/khalti".to_owned(),
    }
}

fn by_pidx(pidx: &str, amount_paisa: i64) -> LookupQuery {
    LookupQuery {
        reference: "DH-7-a1".to_owned(),
        provider_ref: Some(pidx.to_owned()),
        amount_paisa,
    }
}

#[tokio::test]
async fn khalti_payments_are_started_with_the_documented_request() {
    let khalti = KhaltiStandIn::start().await;
    let started = khalti
        .provider()
        .initiate(&order("DH-7-a1", 125_050))
        .await
        .unwrap();
    assert_eq!(started.provider_ref, "pidx1");
    assert_eq!(
        started.next,
        NextStep::Redirect("https://test-pay.khalti.com/?pidx=pidx1".into())
    );
    let expires_at = started
        .expires_at
        .expect("Khalti says when the link expires");
    assert_eq!(expires_at.offset().whole_minutes(), 5 * 60 + 45);
    assert_eq!(
        expires_at.unix_timestamp(),
        time::macros::datetime!(2026-11-25 15:45:00 UTC).unix_timestamp()
    );
    let sent = khalti.book.lock().unwrap().initiated[0].clone();
    assert_eq!(
        sent,
        json!({
            "return_url": "http://127.0.0.1:3000/payments/DH-7-a1/return",
            "website_url": "http://127.0.0.1:3000/",
            "amount": 125_050,
            "purchase_order_id": "DH-7-a1",
            "purchase_order_name": "Dhune order 7",
        })
    );
}

#[tokio::test]
async fn khalti_lookups_report_every_documented_status() {
    let khalti = KhaltiStandIn::start().await;
    let provider = khalti.provider();
    let started = provider.initiate(&order("DH-7-a1", 50_000)).await.unwrap();
    let pidx = started.provider_ref.as_str();
    let query = by_pidx(pidx, 50_000);
    let lookup = || provider.lookup(&query);

    assert_eq!(
        lookup().await.unwrap(),
        Lookup {
            status: PaymentStatus::Pending,
            amount_paisa: Some(50_000),
            provider_txn: None,
        },
        "Initiated: the customer has not paid yet"
    );
    let cases = [
        ("Pending", PaymentStatus::Pending),
        ("Expired", PaymentStatus::Expired),
        ("User canceled", PaymentStatus::Canceled),
        ("Failed", PaymentStatus::Failed),
        ("Something new", PaymentStatus::Ambiguous),
    ];
    for (said, status) in cases {
        khalti.set(pidx, said, None);
        assert_eq!(lookup().await.unwrap().status, status, "{said}");
    }
    khalti.set(pidx, "Completed", Some("GFq9PFS7b2iYvL8Lir9oXe"));
    assert_eq!(
        lookup().await.unwrap(),
        Lookup {
            status: PaymentStatus::Completed,
            amount_paisa: Some(50_000),
            provider_txn: Some("GFq9PFS7b2iYvL8Lir9oXe".into()),
        }
    );
    let unknown = provider.lookup(&by_pidx("nosuchpidx", 50_000)).await;
    assert_eq!(unknown.unwrap().status, PaymentStatus::NotFound);
    let without_pidx = provider
        .lookup(&LookupQuery {
            provider_ref: None,
            ..by_pidx(pidx, 50_000)
        })
        .await;
    assert!(matches!(without_pidx, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn khalti_refusals_carry_khaltis_reason() {
    let khalti = KhaltiStandIn::start().await;
    let too_small = khalti.provider().initiate(&order("DH-7-a1", 999)).await;
    assert_eq!(
        too_small.unwrap_err(),
        ProviderError::Refused {
            status: 400,
            detail: "amount: Amount should be greater than Rs. 10, that is 1000 paisa.".into(),
        }
    );
    let wrong_key = khalti_at(khalti.addr, "not-the-key", Duration::from_secs(5));
    let expected = ProviderError::Refused {
        status: 401,
        detail: "Invalid token.".into(),
    };
    assert_eq!(
        wrong_key
            .initiate(&order("DH-7-a1", 5_000))
            .await
            .unwrap_err(),
        expected
    );
    assert_eq!(
        wrong_key
            .lookup(&by_pidx("pidx1", 5_000))
            .await
            .unwrap_err(),
        expected
    );
    assert!(khalti.book.lock().unwrap().initiated.is_empty());
}

#[tokio::test]
async fn khalti_answers_that_make_no_sense_are_errors() {
    let router = Router::new()
        .route(
            "/html/api/v2/epayment/initiate/",
            post(|| async { (StatusCode::OK, "<html>Welcome to nginx</html>") }),
        )
        .route(
            "/html/api/v2/epayment/lookup/",
            post(|| async { (StatusCode::BAD_GATEWAY, "<html>Bad gateway</html>") }),
        )
        .route(
            "/odd/api/v2/epayment/initiate/",
            post(|| async {
                json_answer(
                    StatusCode::OK,
                    json!({ "pidx": "p1", "payment_url": "javascript:alert(1)" }),
                )
            }),
        )
        .route(
            "/odd/api/v2/epayment/lookup/",
            post(|| async {
                json_answer(
                    StatusCode::OK,
                    json!({ "pidx": "someone-elses", "total_amount": 1000, "status": "Completed" }),
                )
            }),
        )
        .route(
            "/float/api/v2/epayment/lookup/",
            post(|| async {
                json_answer(
                    StatusCode::OK,
                    json!({ "pidx": "p1", "total_amount": 10.5, "status": "Completed" }),
                )
            }),
        );
    let addr = serve(router).await;
    let at = |prefix: &str| {
        let config = PaymentsConfig {
            provider: Provider::Khalti,
            khalti_secret_key: Some(Secret(KHALTI_KEY.into())),
            khalti_base_url: format!("http://{addr}/{prefix}/api/v2"),
            ..PaymentsConfig::for_tests()
        };
        payments::from_config(&config).unwrap().unwrap()
    };
    let bad_answer = |result: Result<_, ProviderError>| match result {
        Err(ProviderError::BadAnswer(why)) => why,
        Err(other) => panic!("another error: {other:?}"),
        Ok(_) => panic!("accepted"),
    };
    let why = bad_answer(at("html").initiate(&order("DH-1", 5_000)).await.map(|_| ()));
    assert!(why.contains("HTTP 200: <html>Welcome to nginx"), "{why}");
    let why = bad_answer(at("html").lookup(&by_pidx("p1", 5_000)).await.map(|_| ()));
    assert!(why.starts_with("HTTP 502"), "{why}");
    bad_answer(at("odd").initiate(&order("DH-1", 5_000)).await.map(|_| ()));
    bad_answer(at("odd").lookup(&by_pidx("p1", 1_000)).await.map(|_| ()));
    bad_answer(at("float").lookup(&by_pidx("p1", 1_050)).await.map(|_| ()));
}

#[tokio::test]
async fn khalti_gives_up_on_a_provider_that_never_answers() {
    let addr = silent_server().await;
    let khalti = khalti_at(addr, KHALTI_KEY, Duration::from_millis(300));
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        khalti.lookup(&by_pidx("pidx1", 5_000)),
    )
    .await
    .expect("the adapter's own timeout ends the call");
    assert_eq!(outcome, Err(ProviderError::Timeout));
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        khalti.initiate(&order("DH-1", 5_000)),
    )
    .await
    .expect("the adapter's own timeout ends the call");
    assert_eq!(outcome, Err(ProviderError::Timeout));
}

#[tokio::test]
async fn khalti_refunds_in_full_and_in_parts() {
    let khalti = KhaltiStandIn::start().await;
    let provider = khalti.provider();
    let refund = |pidx: &str, amount_paisa| RefundRequest {
        reference: "DH-7-a1".into(),
        provider_ref: Some(pidx.into()),
        captured_paisa: 100_000,
        amount_paisa,
    };

    // In full: no amount sent.
    let first = provider.initiate(&order("DH-7-a1", 100_000)).await.unwrap();
    khalti.set(&first.provider_ref, "Completed", Some("TXNfull1"));
    let done = provider.refund(&refund("pidx1", 100_000)).await.unwrap();
    assert_eq!(
        done,
        RefundOutcome::Done {
            detail: "Transaction refund successful.".into()
        }
    );
    let status = provider.lookup(&by_pidx("pidx1", 100_000)).await.unwrap();
    assert_eq!(status.status, PaymentStatus::Refunded);
    // Asked again (a retry after a lost answer), nothing more is sent.
    let again = provider.refund(&refund("pidx1", 100_000)).await.unwrap();
    assert!(
        matches!(again, RefundOutcome::ManualActionNeeded { .. }),
        "{again:?}"
    );

    // In parts: the amount in paisa, twice, then the rest is refused by Khalti.
    let second = provider.initiate(&order("DH-8-b2", 100_000)).await.unwrap();
    khalti.set(&second.provider_ref, "Completed", Some("TXNpart2"));
    for amount in [33_333, 33_333] {
        let done = provider.refund(&refund("pidx2", amount)).await.unwrap();
        assert!(matches!(done, RefundOutcome::Done { .. }), "{done:?}");
    }
    let status = provider.lookup(&by_pidx("pidx2", 100_000)).await.unwrap();
    assert_eq!(status.status, PaymentStatus::PartiallyRefunded);
    let too_much = provider.refund(&refund("pidx2", 40_000)).await.unwrap();
    assert_eq!(
        too_much,
        RefundOutcome::Failed {
            reason: "Refund amount exceeds the refundable amount.".into()
        }
    );
    let full_after_parts = provider.refund(&refund("pidx2", 100_000)).await.unwrap();
    assert!(
        matches!(full_after_parts, RefundOutcome::ManualActionNeeded { .. }),
        "{full_after_parts:?}"
    );
    let sent = khalti.book.lock().unwrap().refunds.clone();
    assert_eq!(
        sent,
        [
            ("TXNfull1".to_owned(), json!({})),
            ("TXNpart2".to_owned(), json!({ "amount": 33_333 })),
            ("TXNpart2".to_owned(), json!({ "amount": 33_333 })),
            ("TXNpart2".to_owned(), json!({ "amount": 40_000 })),
        ]
    );

    // Nothing was paid: nothing to refund, and Khalti is not asked.
    let third = provider.initiate(&order("DH-9-c3", 100_000)).await.unwrap();
    khalti.set(&third.provider_ref, "Expired", None);
    let unpaid = provider.refund(&refund("pidx3", 100_000)).await.unwrap();
    assert!(
        matches!(unpaid, RefundOutcome::Failed { ref reason } if reason.contains("expired")),
        "{unpaid:?}"
    );
    // More than was captured: not sent at all.
    let absurd = provider.refund(&refund("pidx2", 100_001)).await;
    assert!(matches!(absurd, Err(ProviderError::Invalid(_))));
    assert_eq!(khalti.book.lock().unwrap().refunds.len(), 4);
}

// ----------------------------------------------------------------- eSewa --

const ESEWA_SECRET: &str = "8gBm/:&EnhH.1/q";

fn hmac_base64(message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(ESEWA_SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

struct EsewaPayment {
    status: &'static str,
    /// As the stand-in writes it in answers.
    total_amount: Value,
    ref_id: Option<&'static str>,
}

#[derive(Default)]
struct EsewaBook {
    payments: HashMap<String, EsewaPayment>,
}

/// eSewa's form endpoint, where the customer's browser posts: checks the
/// signature over the fields it lists, "takes the payment", and sends the
/// browser to `success_url?data=<base64 JSON>` signed the same way.
async fn esewa_form(State(book): State<Book<EsewaBook>>, body: Bytes) -> Response {
    let fields: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let message = field("signed_field_names")
        .split(',')
        .map(|name| format!("{name}={}", field(name)))
        .collect::<Vec<_>>()
        .join(",");
    if field("product_code") != "EPAYTEST" || hmac_base64(&message) != field("signature") {
        return (StatusCode::BAD_REQUEST, "Invalid payload signature").into_response();
    }
    // The stand-in writes the amount with one decimal and thousands
    // separated by a comma, one of the forms the adapter must read.
    let total: f64 = field("total_amount").parse().unwrap();
    let shown = format!("{total:.1}");
    let shown = match shown.split_once('.') {
        Some((rupees, tenths)) if rupees.len() > 3 => {
            format!(
                "{},{}.{tenths}",
                &rupees[..rupees.len() - 3],
                &rupees[rupees.len() - 3..]
            )
        }
        _ => shown,
    };
    let uuid = field("transaction_uuid");
    book.lock().unwrap().payments.insert(
        uuid.clone(),
        EsewaPayment {
            status: "COMPLETE",
            total_amount: json!(total),
            ref_id: Some("000AWEO"),
        },
    );
    let names =
        "transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names";
    let signed = format!(
        "transaction_code=000AWEO,status=COMPLETE,total_amount={shown},transaction_uuid={uuid},\
         product_code=EPAYTEST,signed_field_names={names}"
    );
    let data = json!({
        "transaction_code": "000AWEO",
        "status": "COMPLETE",
        "total_amount": shown,
        "transaction_uuid": uuid,
        "product_code": "EPAYTEST",
        "signed_field_names": names,
        "signature": hmac_base64(&signed),
    });
    let data = STANDARD.encode(data.to_string());
    let query = serde_urlencoded::to_string([("data", data)]).unwrap();
    Redirect::to(&format!("{}?{query}", field("success_url"))).into_response()
}

/// eSewa's status check.
async fn esewa_status(
    State(book): State<Book<EsewaBook>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let asked = |name: &str| query.get(name).cloned().unwrap_or_default();
    if asked("product_code") != "EPAYTEST" {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "code": 0, "error_message": "Invalid merchant" }),
        );
    }
    let uuid = asked("transaction_uuid");
    let book = book.lock().unwrap();
    // The stand-in lies about one transaction, to see the adapter notice.
    let answered_uuid = if uuid == "DH-liar" {
        "DH-other"
    } else {
        uuid.as_str()
    };
    let answer = match book.payments.get(&uuid) {
        Some(payment) => json!({
            "product_code": "EPAYTEST",
            "transaction_uuid": answered_uuid,
            "total_amount": payment.total_amount,
            "status": payment.status,
            "ref_id": payment.ref_id,
        }),
        None => json!({
            "product_code": "EPAYTEST",
            "transaction_uuid": uuid,
            "total_amount": asked("total_amount").parse::<f64>().ok(),
            "status": "NOT_FOUND",
            "ref_id": null,
        }),
    };
    json_answer(StatusCode::OK, answer)
}

struct EsewaStandIn {
    book: Book<EsewaBook>,
    addr: SocketAddr,
}

impl EsewaStandIn {
    async fn start() -> Self {
        let book = Book::<EsewaBook>::default();
        let router = Router::new()
            .route("/api/epay/main/v2/form", post(esewa_form))
            .route("/api/epay/transaction/status/", get(esewa_status))
            .route(
                "/broken/api/epay/transaction/status/",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "<html>Service is currently unavailable</html>",
                    )
                }),
            )
            .with_state(book.clone());
        let addr = serve(router).await;
        Self { book, addr }
    }

    fn provider(&self) -> Arc<dyn Gateway> {
        self.provider_with("EPAYTEST", "/api/epay/transaction/status/")
    }

    fn provider_with(&self, product_code: &str, status_path: &str) -> Arc<dyn Gateway> {
        esewa_at(self.addr, product_code, status_path, Duration::from_secs(5))
    }

    fn set(&self, uuid: &str, status: &'static str, total_amount: Value) {
        self.book.lock().unwrap().payments.insert(
            uuid.to_owned(),
            EsewaPayment {
                status,
                total_amount,
                ref_id: None,
            },
        );
    }
}

fn esewa_at(
    addr: SocketAddr,
    product_code: &str,
    status_path: &str,
    timeout: Duration,
) -> Arc<dyn Gateway> {
    let config = PaymentsConfig {
        provider: Provider::Esewa,
        esewa_product_code: product_code.to_owned(),
        esewa_form_url: format!("http://{addr}/api/epay/main/v2/form"),
        esewa_status_url: format!("http://{addr}{status_path}"),
        connect_timeout: timeout,
        request_timeout: timeout,
        ..PaymentsConfig::for_tests()
    };
    payments::from_config(&config).unwrap().unwrap()
}

fn by_uuid(uuid: &str, amount_paisa: i64) -> LookupQuery {
    LookupQuery {
        reference: uuid.to_owned(),
        provider_ref: Some(uuid.to_owned()),
        amount_paisa,
    }
}

#[tokio::test]
async fn an_esewa_payment_goes_form_then_signed_return_then_status() {
    let esewa = EsewaStandIn::start().await;
    let provider = esewa.provider();
    let started = provider.initiate(&order("DH-7-a1", 125_050)).await.unwrap();
    let NextStep::PostForm { action, fields } = started.next else {
        panic!("eSewa is paid through a form");
    };

    // The customer's browser posts the form as it is.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let posted = browser
        .post(&action)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        StatusCode::SEE_OTHER,
        "the stand-in took the form"
    );
    let location = posted.headers()[header::LOCATION].to_str().unwrap();
    let back = reqwest::Url::parse(location).unwrap();
    assert_eq!(back.path(), "/payments/DH-7-a1/return");

    // Back on our return URL with eSewa's signed data.
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let claim = provider.verify_return(&params).unwrap();
    assert_eq!(claim.reference, "DH-7-a1");
    assert_eq!(claim.status, PaymentStatus::Completed);
    assert_eq!(claim.amount_paisa, Some(125_050), "1,250.5 read as paisa");
    assert!(claim.signed);

    // Confirmed by the status API.
    let status = provider.lookup(&by_uuid("DH-7-a1", 125_050)).await.unwrap();
    assert_eq!(
        status,
        Lookup {
            status: PaymentStatus::Completed,
            amount_paisa: Some(125_050),
            provider_txn: Some("000AWEO".into()),
        }
    );
}

#[tokio::test]
async fn a_tampered_esewa_form_or_return_is_refused() {
    let esewa = EsewaStandIn::start().await;
    let provider = esewa.provider();
    let started = provider.initiate(&order("DH-7-a1", 125_050)).await.unwrap();
    let NextStep::PostForm { action, mut fields } = started.next else {
        panic!("eSewa is paid through a form");
    };
    for (name, value) in &mut fields {
        if name == "total_amount" {
            *value = "1.0".into();
        }
    }
    let posted = reqwest::Client::new()
        .post(&action)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::BAD_REQUEST);

    // A return whose amount was changed after eSewa signed it.
    let names =
        "transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names";
    let signed = format!(
        "transaction_code=000AWEO,status=COMPLETE,total_amount=1.0,transaction_uuid=DH-7-a1,\
         product_code=EPAYTEST,signed_field_names={names}"
    );
    let data = json!({
        "transaction_code": "000AWEO",
        "status": "COMPLETE",
        "total_amount": "1,250.5",
        "transaction_uuid": "DH-7-a1",
        "product_code": "EPAYTEST",
        "signed_field_names": names,
        "signature": hmac_base64(&signed),
    });
    let params = vec![("data".to_owned(), STANDARD.encode(data.to_string()))];
    assert_eq!(
        provider.verify_return(&params),
        Err(ProviderError::BadReturn(
            "the signature does not match".into()
        ))
    );
}

#[tokio::test]
async fn esewa_status_checks_report_every_documented_status() {
    let esewa = EsewaStandIn::start().await;
    let provider = esewa.provider();
    let cases = [
        ("PENDING", PaymentStatus::Pending),
        ("AMBIGUOUS", PaymentStatus::Ambiguous),
        ("CANCELED", PaymentStatus::Canceled),
        ("FULL_REFUND", PaymentStatus::Refunded),
        ("PARTIAL_REFUND", PaymentStatus::PartiallyRefunded),
        ("COMPLETE", PaymentStatus::Completed),
    ];
    for (said, status) in cases {
        esewa.set("DH-9", said, json!("1,000.0"));
        let found = provider.lookup(&by_uuid("DH-9", 100_000)).await.unwrap();
        assert_eq!(
            (found.status, found.amount_paisa),
            (status, Some(100_000)),
            "{said}"
        );
    }
    esewa.set("DH-10", "COMPLETE", json!(100.0));
    let found = provider.lookup(&by_uuid("DH-10", 10_000)).await.unwrap();
    assert_eq!(found.amount_paisa, Some(10_000), "a JSON number 100.0");

    let unknown = provider.lookup(&by_uuid("DH-never", 10_000)).await.unwrap();
    assert_eq!(
        unknown,
        Lookup {
            status: PaymentStatus::NotFound,
            amount_paisa: Some(10_000),
            provider_txn: None,
        }
    );
}

#[tokio::test]
async fn esewa_errors_and_answers_that_make_no_sense() {
    let esewa = EsewaStandIn::start().await;
    let another_merchant = esewa.provider_with("OTHERSHOP", "/api/epay/transaction/status/");
    assert_eq!(
        another_merchant
            .lookup(&by_uuid("DH-9", 10_000))
            .await
            .unwrap_err(),
        ProviderError::Refused {
            status: 400,
            detail: "Invalid merchant".into()
        }
    );

    let bad_answer = |result: Result<Lookup, ProviderError>| match result {
        Err(ProviderError::BadAnswer(why)) => why,
        other => panic!("not a bad answer: {other:?}"),
    };
    let broken = esewa.provider_with("EPAYTEST", "/broken/api/epay/transaction/status/");
    let why = bad_answer(broken.lookup(&by_uuid("DH-9", 10_000)).await);
    assert!(why.starts_with("HTTP 503"), "{why}");

    let provider = esewa.provider();
    // An answer about another transaction.
    esewa.set("DH-liar", "COMPLETE", json!("100.0"));
    bad_answer(provider.lookup(&by_uuid("DH-liar", 10_000)).await);
    // Amounts written in a way the adapter does not read.
    for odd in [json!("1.000,0"), json!("100.001"), json!(true), json!("")] {
        esewa.set("DH-odd", "COMPLETE", odd.clone());
        let result = provider.lookup(&by_uuid("DH-odd", 10_000)).await;
        assert!(
            matches!(result, Err(ProviderError::BadAnswer(_))),
            "{odd}: {result:?}"
        );
    }
    // Complete without any amount.
    esewa.set("DH-none", "COMPLETE", Value::Null);
    bad_answer(provider.lookup(&by_uuid("DH-none", 10_000)).await);
}

#[tokio::test]
async fn esewa_gives_up_on_a_provider_that_never_answers() {
    let addr = silent_server().await;
    let esewa = esewa_at(
        addr,
        "EPAYTEST",
        "/api/epay/transaction/status/",
        Duration::from_millis(300),
    );
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        esewa.lookup(&by_uuid("DH-9", 10_000)),
    )
    .await
    .expect("the adapter's own timeout ends the call");
    assert_eq!(outcome, Err(ProviderError::Timeout));
}
