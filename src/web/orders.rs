//! Orders, for customers, vendors and admins: lists, the order page with its
//! timeline, and the status changes the state machine allows the viewer.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, FlashKind, Flashes, Id, Shell, SignedIn};
use super::fmt::{FilterOption, ListQuery, Pager, filter_options};
use super::form::ErrorSummary;
use super::payments::RefundTyped;
use crate::domain::FieldErrors;
use crate::domain::account::Role;
use crate::domain::ledger::Provider;
use crate::domain::status::{OrderStatus, Transition};
use crate::market::accounts::User;
use crate::market::orders::{self, OrderSummary, OrderView};
use crate::market::payments;
use crate::market::{MarketError, Paging};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(list))
        .route("/orders/{id}", get(show))
        .route("/orders/{id}/status", post(update_status))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/dispute", post(dispute))
}

#[derive(Template, WebTemplate)]
#[template(path = "orders/list.html")]
struct OrdersPage {
    shell: Shell,
    list: Vec<OrderSummary>,
    filter_action: &'static str,
    filter_options: Vec<FilterOption>,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<OrdersPage, AppError> {
    let filter = query.status::<OrderStatus>();
    let page = orders::list_orders(&state.pool, &user, filter, Paging::new(query.page())).await?;
    Ok(OrdersPage {
        shell,
        pager: Pager::new(
            "/orders",
            &[("status", filter.map_or("", OrderStatus::as_str))],
            &page,
        ),
        list: page.items,
        filter_action: "/orders",
        filter_options: filter_options(
            &OrderStatus::ALL,
            filter,
            OrderStatus::as_str,
            OrderStatus::label,
        ),
    })
}

#[derive(Template, WebTemplate)]
#[template(
    path = "orders/show.html",
    blocks = [
        "status", "tracker", "actions", "dispute", "payment", "problem", "timeline"
    ]
)]
pub struct OrderPage {
    shell: Shell,
    /// The feed position the page was drawn at; the live stream starts there.
    live_from: String,
    /// Drawn for the live stream: see [`OrderPage::live_parts`].
    live: bool,
    /// The configured payment provider's name ("Pay with …").
    provider: &'static str,
    order: OrderView,
    can_cancel: bool,
    can_dispute: bool,
    can_resolve: bool,
    problem: Option<String>,
    cancel_reason: String,
    cancel_error: Option<String>,
    dispute_reason: String,
    dispute_error: Option<String>,
    /// A refused refund's input, for its payment's refund form.
    refund_typed: Option<RefundTyped>,
    /// A refused dispute resolution's input, for the resolve form.
    resolve_typed: ResolveTyped,
}

/// What an admin typed in the resolve form, and why it was refused.
#[derive(Debug, Clone, Default)]
pub struct ResolveTyped {
    pub outcome: String,
    pub refund_amount: String,
    pub note: String,
    pub errors: FieldErrors,
}

impl ResolveTyped {
    /// The error of `field`: `outcome`, `amount`, or `reason` (the note).
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

/// Which form a refused reason belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReasonForm {
    Cancel,
    Dispute,
}

impl OrderPage {
    async fn load(state: &AppState, shell: Shell, user: &User, id: i64) -> Result<Self, AppError> {
        let order = orders::get_order(&state.pool, user, id, state.config.dispute_window).await?;
        Ok(Self::new(
            shell,
            order,
            state.config.payments.provider,
            state.live.head().to_string(),
            false,
        ))
    }

    pub fn new(
        shell: Shell,
        order: OrderView,
        provider: Provider,
        live_from: String,
        live: bool,
    ) -> Self {
        Self {
            shell,
            live_from,
            live,
            provider: provider.display_name(),
            can_cancel: order.can(Transition::Cancel),
            can_dispute: order.can(Transition::Dispute),
            can_resolve: order.can(Transition::Resolve),
            order,
            problem: None,
            cancel_reason: String::new(),
            cancel_error: None,
            dispute_reason: String::new(),
            dispute_error: None,
            refund_typed: None,
            resolve_typed: ResolveTyped::default(),
        }
    }

    /// What the admin typed in payment `id`'s refund form, if it was refused.
    fn typed_refund(&self, id: i64) -> Option<&RefundTyped> {
        self.refund_typed.as_ref().filter(|t| t.payment_id == id)
    }

    /// The page again with a refused refund's input and errors, status 422.
    pub async fn refund_refused(
        state: &AppState,
        shell: Shell,
        user: &User,
        id: i64,
        typed: RefundTyped,
    ) -> Result<Response, AppError> {
        let mut page = Self::load(state, shell, user, id).await?;
        page.refund_typed = Some(typed);
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    }

    /// The page again with a refused dispute resolution's input and errors,
    /// status 422.
    pub async fn resolve_refused(
        state: &AppState,
        shell: Shell,
        user: &User,
        id: i64,
        typed: ResolveTyped,
    ) -> Result<Response, AppError> {
        let mut page = Self::load(state, shell, user, id).await?;
        page.resolve_typed = typed;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    }

    /// The summary atop the resolve form: each refused field's error.
    fn resolve_summary(&self) -> ErrorSummary {
        let typed = &self.resolve_typed;
        ErrorSummary::default()
            .and("resolve-release", typed.error("outcome"))
            .and("resolve-amount", typed.error("amount"))
            .and("resolve-note", typed.error("reason"))
    }

    /// What a live update of the order swaps in place (out of band): the
    /// status, the tracker, the actions, the dispute, the payment section, the forms folded under
    /// "Problem with this order?" and the timeline, never the whole order. A form that is still there after the update is kept as the
    /// viewer left it (`hx-preserve`: typed text, choices and focus).
    pub fn live_parts(&self) -> askama::Result<String> {
        Ok([
            self.as_status().render()?,
            self.as_tracker().render()?,
            self.as_actions().render()?,
            self.as_dispute().render()?,
            self.as_payment().render()?,
            self.as_problem().render()?,
            self.as_timeline().render()?,
        ]
        .concat())
    }

    /// The summary atop the cancel form: its reason's error, if refused.
    fn cancel_summary(&self) -> ErrorSummary {
        ErrorSummary::default().and("cancel-reason", self.cancel_error.as_deref())
    }

    /// The summary atop the dispute form: its reason's error, if refused.
    fn dispute_summary(&self) -> ErrorSummary {
        ErrorSummary::default().and("dispute-reason", self.dispute_error.as_deref())
    }

    /// The page again with the reason typed and its error, status 422.
    async fn refused(
        state: &AppState,
        shell: Shell,
        user: &User,
        id: i64,
        which: ReasonForm,
        typed: String,
        errors: &FieldErrors,
    ) -> Result<Response, AppError> {
        let mut page = Self::load(state, shell, user, id).await?;
        let error = errors.get("reason").map(str::to_owned);
        match which {
            ReasonForm::Cancel => (page.cancel_reason, page.cancel_error) = (typed, error),
            ReasonForm::Dispute => (page.dispute_reason, page.dispute_error) = (typed, error),
        }
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    }
}

async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    Id(id): Id,
) -> Result<OrderPage, AppError> {
    OrderPage::load(&state, shell, &user, id).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatusForm {
    status: String,
}

async fn update_status(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<StatusForm>,
) -> Result<Response, AppError> {
    let Ok(to) = form.status.parse::<OrderStatus>() else {
        let mut page = OrderPage::load(&state, shell, &user, id).await?;
        page.problem = Some("Choose picked up, in progress, delivering or completed.".into());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    orders::update_order_status(&state.pool, &user, id, to, state.config.dispute_window).await?;
    let message = if user.role == Role::Customer {
        "Thank you: you confirmed you received your laundry.".to_owned()
    } else {
        format!("The order is now {}.", to.label().to_lowercase())
    };
    flashes.push(FlashKind::Success, message);
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}

/// A form whose one field is a reason (cancel, dispute, and the admin's
/// actions).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReasonFormData {
    pub reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<ReasonFormData>,
) -> Result<Response, AppError> {
    with_reason(
        &state,
        &user,
        shell,
        &flashes,
        id,
        ReasonForm::Cancel,
        form.reason,
    )
    .await
}

async fn dispute(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<ReasonFormData>,
) -> Result<Response, AppError> {
    with_reason(
        &state,
        &user,
        shell,
        &flashes,
        id,
        ReasonForm::Dispute,
        form.reason,
    )
    .await
}

/// An admin's force-cancel: the same operation (audited for admins).
pub async fn cancel_as_admin(
    State(state): State<AppState>,
    Admin(user): Admin,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<ReasonFormData>,
) -> Result<Response, AppError> {
    with_reason(
        &state,
        &user,
        shell,
        &flashes,
        id,
        ReasonForm::Cancel,
        form.reason,
    )
    .await
}

/// Cancels or disputes; a refused reason comes back on the order page.
async fn with_reason(
    state: &AppState,
    user: &User,
    shell: Shell,
    flashes: &Flashes,
    id: i64,
    which: ReasonForm,
    reason: String,
) -> Result<Response, AppError> {
    let window = state.config.dispute_window;
    let (done, message) = match which {
        ReasonForm::Cancel => (
            orders::cancel_order(&state.pool, user, id, &reason, window).await,
            "The order is cancelled.",
        ),
        ReasonForm::Dispute => (
            orders::open_dispute(&state.pool, user, id, &reason, window).await,
            "Your dispute is open. An admin will look at it.",
        ),
    };
    match done {
        Ok(()) => {
            if which == ReasonForm::Cancel {
                payments::send_refunds(&state.pool, &*state.payments, id).await?;
            }
            flashes.push(FlashKind::Info, message);
            Ok(Redirect::to(&format!("/orders/{id}")).into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            OrderPage::refused(state, shell, user, id, which, reason, &errors).await
        }
        Err(err) => Err(err.into()),
    }
}
