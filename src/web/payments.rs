//! Paying for orders: the customer's Pay button and method switch, the
//! provider's way back (the browser's return and the server-to-server
//! callback, both into the one confirm operation), and the admin's refund
//! actions.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, Customer, FlashKind, Flashes, Id, Shell, SignedIn};
use super::orders::OrderPage;
use crate::domain::FieldErrors;
use crate::domain::money::Money;
use crate::gateways::payments::{NextStep, Provider};
use crate::market::MarketError;
use crate::market::accounts::User;
use crate::market::payments::{self, ConfirmError, Confirmed, PaymentMethod, Trigger};

/// The pages and forms, behind sessions and CSRF like every page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders/{id}/pay", post(pay))
        .route("/orders/{id}/payment-method", post(switch_method))
        .route("/payments/{id}/return", axum::routing::get(returned))
        .route("/payments/{id}/check", axum::routing::get(check))
        .route("/admin/payments/{id}/refund", post(refund))
        .route("/admin/orders/{id}/refund", post(refund_order))
        .route("/admin/refunds/{id}/retry", post(retry))
        .route("/admin/refunds/{id}/done", post(done))
}

/// The provider's server-to-server callbacks: no session, no CSRF token
/// (the signature is the proof).
pub fn callbacks() -> Router<AppState> {
    Router::new().route("/payments/callback/{provider}", post(callback))
}

/// The page that sends the customer to a provider that takes a POSTed form
/// (eSewa): a visible button, no JavaScript needed.
#[derive(Template, WebTemplate)]
#[template(path = "payments/form.html")]
struct ProviderForm {
    shell: Shell,
    provider: &'static str,
    action: String,
    fields: Vec<(String, String)>,
}

async fn pay(
    State(state): State<AppState>,
    Customer(user): Customer,
    shell: Shell,
    Id(id): Id,
) -> Result<Response, AppError> {
    let next = payments::start(
        &state.pool,
        &*state.payments,
        &user,
        id,
        &state.config.public_url,
    )
    .await?;
    Ok(match next {
        NextStep::Redirect(url) => Redirect::to(&url).into_response(),
        NextStep::PostForm { action, fields } => ProviderForm {
            shell,
            provider: state.payments.kind().display_name(),
            action,
            fields,
        }
        .into_response(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MethodForm {
    payment_method: String,
}

async fn switch_method(
    State(state): State<AppState>,
    Customer(user): Customer,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<MethodForm>,
) -> Result<Response, AppError> {
    let method = PaymentMethod::from_field(&form.payment_method)
        .map_err(|message| MarketError::Invalid(FieldErrors::single("payment_method", message)))?;
    payments::set_method(&state.pool, &user, id, method).await?;
    let message = match method {
        PaymentMethod::Online => "You will pay online.",
        PaymentMethod::Cod => "You will pay in cash on delivery.",
    };
    flashes.push(FlashKind::Success, message);
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}

/// The customer's browser back from the provider.
async fn returned(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    flashes: Flashes,
    Id(id): Id,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let order_id = payments::order_of(&state.pool, &user, id).await?;
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let claim = match state.payments.verify_return(&params) {
        Ok(claim) => claim,
        Err(err) => {
            tracing::warn!(payment = id, error = %err, "a payment return was refused");
            return Err(AppError::BadRequest(
                "This payment return could not be verified, so nothing was recorded. Your order \
                 page shows the payment as Dhune knows it."
                    .into(),
            ));
        }
    };
    let trigger = Trigger::Return {
        payment_id: id,
        claim,
    };
    settle(&state, &flashes, trigger, order_id).await
}

/// The customer back from the provider's failure page (no claim to
/// verify): ask the provider.
async fn check(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    flashes: Flashes,
    Id(id): Id,
) -> Result<Response, AppError> {
    let order_id = payments::order_of(&state.pool, &user, id).await?;
    settle(&state, &flashes, Trigger::Check(id), order_id).await
}

async fn settle(
    state: &AppState,
    flashes: &Flashes,
    trigger: Trigger,
    order_id: i64,
) -> Result<Response, AppError> {
    let (kind, message) = match payments::confirm(&state.pool, &*state.payments, trigger).await {
        Ok(Confirmed::Paid) => (
            FlashKind::Success,
            "Thank you: your payment is received.".into(),
        ),
        Ok(Confirmed::Pending) => (
            FlashKind::Info,
            "Your payment is not finished yet; this page updates once the provider confirms it."
                .into(),
        ),
        Ok(Confirmed::NotPaid(word)) => (
            FlashKind::Info,
            format!("The payment was {word}; nothing was charged. You can try again."),
        ),
        Err(ConfirmError::Refused(_)) => {
            return Err(AppError::BadRequest(
                "This payment return does not match the payment, so nothing was recorded.".into(),
            ));
        }
        Err(ConfirmError::Provider(err)) => (
            FlashKind::Info,
            format!(
                "Could not confirm the payment with {} just now ({err}); Dhune checks again \
                 shortly and this page updates.",
                state.payments.kind().display_name()
            ),
        ),
        Err(ConfirmError::Market(err)) => return Err(err.into()),
    };
    flashes.push(kind, message);
    Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
}

/// A provider's signed callback: 200 when recorded (or already was), 400
/// when refused (logged, nothing changed), 503 when the provider could not
/// be asked (it sends again).
async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refused = |why: String| {
        tracing::warn!(%provider, reason = %why, "a payment callback was refused");
        (StatusCode::BAD_REQUEST, why).into_response()
    };
    if provider.parse::<Provider>().ok() != Some(state.payments.kind()) {
        return refused(format!("no callbacks are taken for {provider:?}"));
    }
    let claim = match state.payments.verify_callback(&headers, &body) {
        Ok(claim) => claim,
        Err(err) => return refused(err.to_string()),
    };
    match payments::confirm(&state.pool, &*state.payments, Trigger::Callback(claim)).await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(ConfirmError::Refused(why)) => (StatusCode::BAD_REQUEST, why).into_response(),
        Err(ConfirmError::Provider(err)) => {
            (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response()
        }
        Err(ConfirmError::Market(err)) => AppError::from(err).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RefundForm {
    pub amount: String,
    pub reason: String,
    /// The form's key (`form::request_key`): sent twice, one refund.
    pub key: String,
}

/// A refund the admin asked for and was refused: what they typed and why,
/// shown again on the refund form of that payment.
#[derive(Debug, Clone, Default)]
pub struct RefundTyped {
    pub payment_id: i64,
    pub amount: String,
    pub reason: String,
    /// The refused form's key, kept: nothing was made with it.
    pub key: String,
    pub amount_error: Option<String>,
    pub reason_error: Option<String>,
}

/// The route contract's refund of an order: the refund of its captured
/// payment.
async fn refund_order(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Id(order_id): Id,
    Form(form): Form<RefundForm>,
) -> Result<Response, AppError> {
    let id = payments::captured_payment(&state.pool, &admin, order_id).await?;
    refund_payment(state, admin, shell, flashes, id, form).await
}

async fn refund(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<RefundForm>,
) -> Result<Response, AppError> {
    refund_payment(state, admin, shell, flashes, id, form).await
}

async fn refund_payment(
    state: AppState,
    admin: User,
    shell: Shell,
    flashes: Flashes,
    id: i64,
    form: RefundForm,
) -> Result<Response, AppError> {
    let refunded = payments::refund(
        &state.pool,
        &*state.payments,
        &admin,
        id,
        &form.amount,
        &form.reason,
        Some(form.key.as_str()),
    )
    .await;
    match refunded {
        Ok(order_id) => {
            flashes.push(FlashKind::Success, refund_message(&form.amount));
            Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let order_id = payments::order_of(&state.pool, &admin, id).await?;
            let typed = RefundTyped {
                payment_id: id,
                amount_error: errors.get("amount").map(str::to_owned),
                reason_error: errors.get("reason").map(str::to_owned),
                amount: form.amount,
                reason: form.reason,
                key: form.key,
            };
            OrderPage::refund_refused(&state, shell, &admin, order_id, typed).await
        }
        Err(err) => Err(err.into()),
    }
}

fn refund_message(amount: &str) -> String {
    match Money::parse_rupees(amount) {
        Ok(amount) => format!("A refund of {amount} is recorded; its status shows below."),
        Err(_) => "The refund is recorded; its status shows below.".into(),
    }
}

async fn retry(
    State(state): State<AppState>,
    Admin(admin): Admin,
    flashes: Flashes,
    Id(id): Id,
) -> Result<Response, AppError> {
    let order_id = payments::retry_refund(&state.pool, &*state.payments, &admin, id).await?;
    flashes.push(
        FlashKind::Info,
        "The refund was sent again; its status shows below.",
    );
    Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DoneForm {
    reference: String,
}

async fn done(
    State(state): State<AppState>,
    Admin(admin): Admin,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<DoneForm>,
) -> Result<Response, AppError> {
    let order_id = payments::mark_refund_done(&state.pool, &admin, id, &form.reference).await?;
    flashes.push(FlashKind::Success, "The refund is recorded as made.");
    Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
}
