//! The admin panel: accounts (suspend, reinstate), dispute resolution and
//! force-cancel, each through a `market::` operation that writes the audit log.

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
use super::extract::{Admin, FlashKind, Flashes, Id, Shell};
use super::fmt::{FilterOption, Pager, filter_options};
use super::form::ErrorSummary;
use super::orders::{OrderPage, ReasonFormData, ResolveTyped};
use crate::domain::account::UserStatus;
use crate::domain::audit::AuditAction;
use crate::domain::filter::{filter_day, search_text};
use crate::domain::status::{DisputeOutcome, OfferStatus, OrderStatus, RequestStatus};
use crate::market::accounts::{self, Account, User};
use crate::market::admin::{self, AuditRow, DisputeRow, Today};
use crate::market::{MarketError, Paged, Paging, orders};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/disputes", get(disputes))
        .route("/admin/requests", get(all_requests))
        .route("/admin/offers", get(all_offers))
        .route("/admin/orders", get(all_orders))
        .route("/admin/audit", get(audit))
        .route("/admin/users", get(users))
        .route("/admin/users/{id}", get(user_detail))
        .route("/admin/users/{id}/suspend", post(suspend))
        .route("/admin/users/{id}/reinstate", post(reinstate))
        .route(
            "/admin/orders/{id}/cancel",
            post(super::orders::cancel_as_admin),
        )
        .route("/admin/disputes/{id}/resolve", post(resolve))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    shell: Shell,
    today: Today,
    disputes: Vec<DisputeRow>,
}

async fn dashboard(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
) -> Result<DashboardPage, AppError> {
    let today = admin::today(&state.pool, &admin).await?;
    let open = admin::Filter {
        status: Some("OPEN"),
        ..admin::Filter::default()
    };
    let queue = admin::disputes(&state.pool, &admin, &open, Paging::new(None)).await?;
    Ok(DashboardPage {
        shell,
        today,
        disputes: queue.items,
    })
}

async fn audit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RecordQuery>,
) -> Result<AuditPage, AppError> {
    let listing = Listing::new(
        &query,
        &AuditAction::ALL,
        AuditAction::as_str,
        AuditAction::label,
    )
    .filtering("action", "Action");
    let page = admin::audit_log(&state.pool, &admin, &listing.filter, None, listing.paging).await?;
    Ok(AuditPage::new(shell, "/admin/audit", listing, page))
}

async fn users(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RecordQuery>,
) -> Result<UsersPage, AppError> {
    users_page(&state, &admin, shell, &query).await
}

async fn users_page(
    state: &AppState,
    admin: &User,
    shell: Shell,
    query: &RecordQuery,
) -> Result<UsersPage, AppError> {
    let statuses = [UserStatus::Active, UserStatus::Suspended];
    let listing = Listing::new(query, &statuses, UserStatus::as_str, UserStatus::as_str);
    let page = accounts::list_accounts(&state.pool, admin, &listing.filter, listing.paging).await?;
    Ok(UsersPage::new(shell, "/admin/users", listing, page))
}

async fn suspend(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<ReasonFormData>,
) -> Result<Response, AppError> {
    let done = accounts::suspend_user(&state.pool, &admin, id, &form.reason).await;
    account_action(
        &state,
        &admin,
        shell,
        &flashes,
        (id, done),
        "The account is suspended; its sessions have ended.",
    )
    .await
}

async fn reinstate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<ReasonFormData>,
) -> Result<Response, AppError> {
    let done = accounts::reinstate_user(&state.pool, &admin, id, &form.reason).await;
    account_action(
        &state,
        &admin,
        shell,
        &flashes,
        (id, done),
        "The account is active again.",
    )
    .await
}

/// After a suspension or reinstatement: back to the list, or the list again
/// with the refusal (422) when the reason was missing.
async fn account_action(
    state: &AppState,
    admin: &User,
    shell: Shell,
    flashes: &Flashes,
    (id, done): (i64, Result<(), MarketError>),
    message: &str,
) -> Result<Response, AppError> {
    match done {
        Ok(()) => {
            // The notice tells every instance; this one forgets at once.
            state.identity.forget_user(id);
            flashes.push(FlashKind::Success, message);
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let mut page = users_page(state, admin, shell, &RecordQuery::default()).await?;
            let message = errors.get("reason").map(|m| format!("Reason: {m}"));
            page.summary = ErrorSummary::default().and(&format!("reason-{id}"), message.as_deref());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResolveForm {
    outcome: String,
    /// Rupees back to the customer, for `partial` (the route contract's
    /// name; `amount` is what the form sent before).
    #[serde(alias = "amount")]
    refund_amount: String,
    note: String,
}

async fn resolve(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Id(dispute_id): Id,
    Form(form): Form<ResolveForm>,
) -> Result<Response, AppError> {
    let resolved = match form.outcome.parse::<DisputeOutcome>() {
        Ok(outcome) => {
            orders::resolve_dispute(
                &state.pool,
                &admin,
                dispute_id,
                outcome,
                &form.refund_amount,
                &form.note,
                state.config.dispute_window,
            )
            .await
        }
        Err(message) => Err(MarketError::Invalid(crate::domain::FieldErrors::single(
            "outcome", message,
        ))),
    };
    match resolved {
        Ok(order_id) => {
            crate::market::payments::send_refunds(&state.pool, &*state.payments, order_id).await?;
            flashes.push(FlashKind::Success, "The dispute is resolved.");
            Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let order_id = orders::dispute_order(&state.pool, &admin, dispute_id).await?;
            let typed = ResolveTyped {
                outcome: form.outcome,
                refund_amount: form.refund_amount,
                note: form.note,
                errors,
            };
            OrderPage::resolve_refused(&state, shell, &admin, order_id, typed).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `?status=&from=&to=&q=&page=&after=&before=` of the admin's record lists (the audit
/// log's `action` takes the place of `status`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RecordQuery {
    #[serde(alias = "action")]
    status: String,
    from: String,
    to: String,
    q: String,
    page: String,
    /// The row the page begins after or before (keyset lists).
    after: String,
    before: String,
}

/// What every record list shows above its table.
struct Listing {
    filter: admin::Filter,
    /// The query name and the label of the list's first filter.
    field: (&'static str, &'static str),
    filter_options: Vec<FilterOption>,
    from: String,
    to: String,
    q: String,
    paging: Paging,
}

impl Listing {
    /// Reads the query leniently: an unknown status or a malformed or
    /// far-off date is ignored, as if not given.
    fn new<T: Copy + PartialEq + std::str::FromStr>(
        query: &RecordQuery,
        all: &[T],
        value: fn(T) -> &'static str,
        label: fn(T) -> &'static str,
    ) -> Self {
        let status = query.status.parse::<T>().ok();
        let from = filter_day(&query.from);
        let to = filter_day(&query.to);
        let q = search_text(&query.q, 100);
        Self {
            filter: admin::Filter {
                status: status.map(value),
                from,
                to,
                search: q.clone(),
            },
            filter_options: filter_options(all, status, value, label),
            field: ("status", "Status"),
            from: from.map(|d| d.to_string()).unwrap_or_default(),
            to: to.map(|d| d.to_string()).unwrap_or_default(),
            q,
            paging: Paging::seek(
                query.page.parse().ok(),
                query.after.parse().ok(),
                query.before.parse().ok(),
            ),
        }
    }

    /// Names the first filter other than "Status".
    fn filtering(self, name: &'static str, label: &'static str) -> Self {
        Self {
            field: (name, label),
            ..self
        }
    }

    fn pager<T>(&self, path: &str, paged: &Paged<T>) -> Pager {
        let filters = [
            (self.field.0, self.filter.status.unwrap_or_default()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("q", self.q.as_str()),
        ];
        Pager::new(path, &filters, paged)
    }
}

macro_rules! record_list {
    ($page:ident, $template:literal, $row:ty) => {
        #[derive(Template, WebTemplate)]
        #[template(path = $template)]
        struct $page {
            shell: Shell,
            list: Vec<$row>,
            filter_action: &'static str,
            filter_field: (&'static str, &'static str),
            filter_options: Vec<FilterOption>,
            from: String,
            to: String,
            q: String,
            pager: Pager,
            /// Why an action on the list was refused, linking to its field.
            summary: ErrorSummary,
        }

        impl $page {
            fn new(shell: Shell, path: &'static str, listing: Listing, page: Paged<$row>) -> Self {
                Self {
                    shell,
                    pager: listing.pager(path, &page),
                    list: page.items,
                    filter_action: path,
                    filter_field: listing.field,
                    filter_options: listing.filter_options,
                    from: listing.from,
                    to: listing.to,
                    q: listing.q,
                    summary: ErrorSummary::default(),
                }
            }
        }
    };
}

record_list!(RequestsPage, "admin/requests.html", admin::RequestRow);
record_list!(OffersPage, "admin/offers.html", admin::OfferRow);
record_list!(OrdersPage, "admin/orders.html", admin::OrderRow);
record_list!(DisputesPage, "admin/disputes.html", admin::DisputeRow);
record_list!(UsersPage, "admin/users.html", Account);
record_list!(AuditPage, "admin/audit.html", AuditRow);

/// A dispute is OPEN until an admin resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DisputeState {
    Open,
    Resolved,
}

impl DisputeState {
    fn as_str(self) -> &'static str {
        match self {
            DisputeState::Open => "OPEN",
            DisputeState::Resolved => "RESOLVED",
        }
    }
}

impl std::str::FromStr for DisputeState {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "OPEN" => Ok(DisputeState::Open),
            "RESOLVED" => Ok(DisputeState::Resolved),
            _ => Err(()),
        }
    }
}

async fn disputes(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RecordQuery>,
) -> Result<DisputesPage, AppError> {
    let states = [DisputeState::Open, DisputeState::Resolved];
    let listing = Listing::new(&query, &states, DisputeState::as_str, DisputeState::as_str);
    let page = admin::disputes(&state.pool, &admin, &listing.filter, listing.paging).await?;
    Ok(DisputesPage::new(shell, "/admin/disputes", listing, page))
}

async fn all_requests(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RecordQuery>,
) -> Result<RequestsPage, AppError> {
    let listing = Listing::new(
        &query,
        &RequestStatus::ALL,
        RequestStatus::as_str,
        RequestStatus::label,
    );
    let page = admin::requests(&state.pool, &admin, &listing.filter, listing.paging).await?;
    Ok(RequestsPage::new(shell, "/admin/requests", listing, page))
}

async fn all_offers(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RecordQuery>,
) -> Result<OffersPage, AppError> {
    let listing = Listing::new(
        &query,
        &OfferStatus::ALL,
        OfferStatus::as_str,
        OfferStatus::label,
    );
    let page = admin::offers(&state.pool, &admin, &listing.filter, listing.paging).await?;
    Ok(OffersPage::new(shell, "/admin/offers", listing, page))
}

async fn all_orders(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<RecordQuery>,
) -> Result<OrdersPage, AppError> {
    let listing = Listing::new(
        &query,
        &OrderStatus::ALL,
        OrderStatus::as_str,
        OrderStatus::label,
    );
    let page = admin::orders(&state.pool, &admin, &listing.filter, listing.paging).await?;
    Ok(OrdersPage::new(shell, "/admin/orders", listing, page))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/user.html")]
struct UserPage {
    shell: Shell,
    account: Account,
    history: Vec<AuditRow>,
}

/// One account: who they are, links to their records, and what admins did to it.
async fn user_detail(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Id(id): Id,
) -> Result<UserPage, AppError> {
    let account = accounts::get_account(&state.pool, &admin, id).await?;
    let history = admin::audit_log(
        &state.pool,
        &admin,
        &admin::Filter::default(),
        Some(id),
        Paging::new(None),
    )
    .await?;
    Ok(UserPage {
        shell,
        account,
        history: history.items,
    })
}
