//! The sandbox payment provider's site, served by this app only when it is
//! the configured provider (`DHUNE_PAYMENT_PROVIDER=sandbox`), outside
//! Dhune's sessions, login and CSRF tokens: it is another site.
//!
//! Its API, for merchants (`Authorization: Key <secret>`, JSON):
//! - `POST /sandbox/api/payments` starts a payment;
//! - `GET /sandbox/api/payments/{pidx}` says what became of it;
//! - `POST /sandbox/api/refunds` gives back all or part of it.
//!
//! Its pages, for customers' browsers:
//! - `GET /sandbox/pay/{pidx}`: the payment page (Pay / Cancel / Leave
//!   pending, how the callback comes, whether refunds fail);
//! - `POST /sandbox/pay/{pidx}`: does it, sends the callback(s), and sends
//!   the browser back to the merchant with a signed result;
//! - `GET /sandbox/pay/{pidx}/return`: back to the merchant again;
//! - `POST /sandbox/pay/{pidx}/refunds-mode`: refunds fail, or work again.
//!
//! The rules and the SQL are in `gateways::sandbox_server`.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower_http::csrf::CsrfLayer;

use super::{AppState, assets, headers};
use crate::domain::money::Money;
use crate::gateways::payments::Provider;
use crate::gateways::payments::sandbox::SandboxStatus;
use crate::gateways::sandbox_server::{
    Action, CallbackMode, MAX_CALLBACK_DELAY_SECS, NewPayment, NotOpen, RefundResult,
    SandboxPayment, SandboxServer,
};

type Sandbox = Arc<SandboxServer>;

/// The sandbox's routes, or none when another provider is configured.
pub fn router<S: Clone + Send + Sync + 'static>(state: &AppState) -> anyhow::Result<Router<S>> {
    if state.config.payments.provider != Provider::Sandbox {
        return Ok(Router::new());
    }
    let payments = &state.config.payments;
    let sandbox = Arc::new(SandboxServer::new(
        state.pool.clone(),
        &state.config.public_url,
        payments.sandbox_secret.clone(),
        crate::gateways::payments::http::Timeouts {
            connect: payments.connect_timeout,
            total: payments.request_timeout,
        },
    )?);
    let api = Router::new()
        .route("/sandbox/api/payments", post(create))
        .route("/sandbox/api/payments/{pidx}", get(show))
        .route("/sandbox/api/refunds", post(refund));
    // Browsers' forms: refused when sent from another site.
    let pages = Router::new()
        .route("/sandbox/pay/{pidx}", get(page).post(act))
        .route("/sandbox/pay/{pidx}/return", get(back))
        .route("/sandbox/pay/{pidx}/refunds-mode", post(refunds_mode))
        .layer(CsrfLayer::new());
    Ok(headers::no_store(api.merge(pages).with_state(sandbox)))
}

// ------------------------------------------------------------------ API --

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn detail(status: StatusCode, detail: impl Into<String>) -> Response {
    answer(status, json!({ "detail": detail.into() }))
}

fn unauthorized() -> Response {
    detail(
        StatusCode::UNAUTHORIZED,
        "Invalid token: send Authorization: Key <secret>.",
    )
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not found.")
}

fn unavailable(error: &sqlx::Error) -> Response {
    tracing::error!(?error, "sandbox: database");
    detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "The sandbox cannot reach its records just now; try again.",
    )
}

fn authorized(sandbox: &SandboxServer, headers: &HeaderMap) -> bool {
    sandbox.authorized(
        headers
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes()),
    )
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

async fn create(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&sandbox, &headers) {
        return unauthorized();
    }
    let new: NewPayment = match serde_json::from_slice(&body) {
        Ok(new) => new,
        Err(error) => return detail(StatusCode::BAD_REQUEST, error.to_string()),
    };
    if let Err(refused) = new.check() {
        return detail(StatusCode::BAD_REQUEST, refused);
    }
    match sandbox.create(&new).await {
        Ok((pidx, expires_at)) => answer(
            StatusCode::OK,
            json!({
                "payment_url": sandbox.payment_url(&pidx),
                "pidx": pidx,
                "expires_at": rfc3339(expires_at),
            }),
        ),
        Err(error) => unavailable(&error),
    }
}

async fn show(
    State(sandbox): State<Sandbox>,
    Path(pidx): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&sandbox, &headers) {
        return unauthorized();
    }
    match sandbox.find(&pidx).await {
        Ok(Some(p)) => answer(
            StatusCode::OK,
            json!({
                "pidx": p.pidx,
                "reference": p.reference,
                "status": p.status.as_str(),
                "amount_paisa": p.amount_paisa,
                "refunded_paisa": p.refunded_paisa,
                "transaction_id": p.transaction_id,
                "expires_at": rfc3339(p.expires_at),
            }),
        ),
        Ok(None) => not_found(),
        Err(error) => unavailable(&error),
    }
}

#[derive(Deserialize)]
struct RefundAsked {
    pidx: String,
    amount_paisa: i64,
}

async fn refund(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&sandbox, &headers) {
        return unauthorized();
    }
    let asked: RefundAsked = match serde_json::from_slice(&body) {
        Ok(asked) => asked,
        Err(error) => return detail(StatusCode::BAD_REQUEST, error.to_string()),
    };
    if asked.amount_paisa <= 0 {
        return detail(
            StatusCode::BAD_REQUEST,
            "amount_paisa: must be more than zero",
        );
    }
    match sandbox.refund(&asked.pidx, asked.amount_paisa).await {
        Ok(RefundResult::Done {
            status,
            refunded_paisa,
            refund_id,
        }) => answer(
            StatusCode::OK,
            json!({
                "pidx": asked.pidx,
                "status": status.as_str(),
                "refunded_paisa": refunded_paisa,
                "refund_id": refund_id,
            }),
        ),
        Ok(RefundResult::NotFound) => not_found(),
        Ok(RefundResult::SetToFail) => detail(
            StatusCode::BAD_REQUEST,
            "refund refused (sandbox set to fail refunds)",
        ),
        Ok(RefundResult::NotRefundable(status)) => detail(
            StatusCode::BAD_REQUEST,
            format!(
                "the payment is {}: only a Completed or Partially refunded payment can be refunded",
                status.as_str()
            ),
        ),
        Ok(RefundResult::TooMuch { remaining_paisa }) => detail(
            StatusCode::BAD_REQUEST,
            format!("only {remaining_paisa} paisa of this payment remain to refund"),
        ),
        Err(error) => unavailable(&error),
    }
}

// ---------------------------------------------------------------- Pages --

/// The payment as the page shows it.
struct View {
    pidx: String,
    reference: String,
    description: String,
    amount: Money,
    refunded: Money,
    status: &'static str,
    open: bool,
    expired: bool,
    paid: bool,
    failing_refunds: bool,
    expires_at: OffsetDateTime,
}

impl View {
    fn of(p: &SandboxPayment) -> Self {
        Self {
            pidx: p.pidx.clone(),
            reference: p.reference.clone(),
            description: p.description.clone(),
            amount: Money::from_paisa(p.amount_paisa),
            refunded: Money::from_paisa(p.refunded_paisa),
            status: p.status.as_str(),
            open: p.status.is_open(),
            expired: p.status == SandboxStatus::Expired,
            paid: p.status.is_paid(),
            failing_refunds: p.failing_refunds,
            expires_at: p.expires_at,
        }
    }
}

/// What the tester chose on the form, shown again when it is refused.
struct Choice {
    callback: String,
    delay: String,
    failing_refunds: bool,
}

impl Choice {
    /// The delay for the number input: what was typed when it is a
    /// number, else nothing (a number input holds numbers only).
    fn delay_value(&self) -> &str {
        let digits = !self.delay.is_empty() && self.delay.bytes().all(|b| b.is_ascii_digit());
        if digits && self.delay.len() <= 9 {
            &self.delay
        } else {
            ""
        }
    }
}

impl Default for Choice {
    fn default() -> Self {
        Self {
            callback: "once".into(),
            delay: "5".into(),
            failing_refunds: false,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sandbox/pay.html")]
struct PayPage {
    css: String,
    payment: Option<View>,
    error: Option<String>,
    notice: Option<String>,
    choice: Choice,
    callback_options: [(&'static str, &'static str); 5],
    max_delay: u64,
}

const CALLBACK_OPTIONS: [(&str, &str); 5] = [
    ("once", "Once, beside the return (as usual)"),
    ("twice", "Twice, both at once"),
    ("before", "Before the browser is sent back"),
    ("late", "Late, after the delay below"),
    ("none", "Never"),
];

fn render(status: StatusCode, payment: Option<&SandboxPayment>, choice: Choice) -> Response {
    render_with(status, payment, choice, None, None)
}

fn render_with(
    status: StatusCode,
    payment: Option<&SandboxPayment>,
    choice: Choice,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let page = PayPage {
        css: assets::url("app.css"),
        payment: payment.map(View::of),
        error,
        notice,
        choice,
        callback_options: CALLBACK_OPTIONS,
        max_delay: MAX_CALLBACK_DELAY_SECS,
    };
    (status, page).into_response()
}

fn page_unavailable(error: &sqlx::Error) -> Response {
    tracing::error!(?error, "sandbox: database");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The sandbox cannot reach its records just now; please try again.",
    )
        .into_response()
}

async fn page(State(sandbox): State<Sandbox>, Path(pidx): Path<String>) -> Response {
    match sandbox.find(&pidx).await {
        Ok(Some(p)) => render(StatusCode::OK, Some(&p), Choice::default()),
        Ok(None) => render(StatusCode::NOT_FOUND, None, Choice::default()),
        Err(error) => page_unavailable(&error),
    }
}

#[derive(Deserialize)]
struct PayForm {
    action: Option<String>,
    callback: Option<String>,
    callback_delay_secs: Option<String>,
    failing_refunds: Option<String>,
}

async fn act(
    State(sandbox): State<Sandbox>,
    Path(pidx): Path<String>,
    form: Result<Form<PayForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).ok();
    let choice = Choice {
        callback: form
            .as_ref()
            .and_then(|f| f.callback.clone())
            .unwrap_or_else(|| "once".into()),
        delay: form
            .as_ref()
            .and_then(|f| f.callback_delay_secs.clone())
            .unwrap_or_else(|| "5".into()),
        failing_refunds: form
            .as_ref()
            .and_then(|f| f.failing_refunds.as_deref())
            .is_some_and(|on| on == "on"),
    };
    let action = form
        .as_ref()
        .and_then(|f| f.action.as_deref())
        .and_then(Action::parse)
        .ok_or_else(|| String::from("Please choose Pay, Cancel payment or Leave pending."));
    let mode = CallbackMode::parse(&choice.callback, Some(&choice.delay));
    let (action, mode) = match (action, mode) {
        (Ok(action), Ok(mode)) => (action, mode),
        (Err(refused), _) | (_, Err(refused)) => {
            return match sandbox.find(&pidx).await {
                Ok(p) => render_with(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    p.as_ref(),
                    choice,
                    Some(refused),
                    None,
                ),
                Err(error) => page_unavailable(&error),
            };
        }
    };
    let payment = match sandbox.finish(&pidx, action, choice.failing_refunds).await {
        Ok(Ok(payment)) => payment,
        Ok(Err(NotOpen::NotFound)) => {
            return render(StatusCode::NOT_FOUND, None, Choice::default());
        }
        Ok(Err(NotOpen::Finished(p))) => {
            let notice = format!(
                "This payment is {} already: nothing was changed.",
                p.status.as_str()
            );
            return render_with(StatusCode::CONFLICT, Some(&p), choice, None, Some(notice));
        }
        Err(error) => return page_unavailable(&error),
    };
    if action != Action::LeavePending {
        send_callbacks(&sandbox, &payment, mode).await;
    }
    go_back(&sandbox, &payment)
}

/// The callbacks as the tester chose them; only `Before` is waited for.
async fn send_callbacks(sandbox: &Sandbox, payment: &SandboxPayment, mode: CallbackMode) {
    let spawn = |delay: Option<std::time::Duration>| {
        let (sandbox, payment) = (Arc::clone(sandbox), payment.clone());
        tokio::spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            sandbox.deliver(&payment).await;
        });
    };
    match mode {
        CallbackMode::Once => spawn(None),
        CallbackMode::Twice => {
            spawn(None);
            spawn(None);
        }
        CallbackMode::Before => {
            sandbox.deliver(payment).await;
        }
        CallbackMode::Late(delay) => spawn(Some(delay)),
        CallbackMode::Never => {}
    }
}

/// `303` to the merchant's return URL with the signed result.
fn go_back(sandbox: &SandboxServer, payment: &SandboxPayment) -> Response {
    match sandbox.return_location(payment) {
        Some(location) => Redirect::to(&location).into_response(),
        None => {
            tracing::error!(pidx = %payment.pidx, "sandbox: the return URL does not parse");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The merchant's return address is broken.",
            )
                .into_response()
        }
    }
}

async fn back(State(sandbox): State<Sandbox>, Path(pidx): Path<String>) -> Response {
    match sandbox.find(&pidx).await {
        Ok(Some(p)) if p.status.is_open() => {
            Redirect::to(&format!("/sandbox/pay/{}", p.pidx)).into_response()
        }
        Ok(Some(p)) => go_back(&sandbox, &p),
        Ok(None) => render(StatusCode::NOT_FOUND, None, Choice::default()),
        Err(error) => page_unavailable(&error),
    }
}

#[derive(Deserialize)]
struct RefundsModeForm {
    failing_refunds: Option<String>,
}

async fn refunds_mode(
    State(sandbox): State<Sandbox>,
    Path(pidx): Path<String>,
    form: Result<Form<RefundsModeForm>, FormRejection>,
) -> Response {
    let on = match form.ok().and_then(|Form(f)| f.failing_refunds).as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return match sandbox.find(&pidx).await {
                Ok(p) => render_with(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    p.as_ref(),
                    Choice::default(),
                    Some("Please choose whether refunds fail or work.".into()),
                    None,
                ),
                Err(error) => page_unavailable(&error),
            };
        }
    };
    match sandbox.set_failing_refunds(&pidx, on).await {
        Ok(true) => Redirect::to(&format!("/sandbox/pay/{pidx}")).into_response(),
        Ok(false) => render(StatusCode::NOT_FOUND, None, Choice::default()),
        Err(error) => page_unavailable(&error),
    }
}
