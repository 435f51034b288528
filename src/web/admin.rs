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
use tower_sessions::Session;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, FlashKind, Id, Shell, flash};
use super::fmt::{FilterOption, ListQuery, Pager, filter_options};
use crate::domain::account::UserStatus;
use crate::domain::status::DisputeOutcome;
use crate::market::accounts::{self, Account};
use crate::market::admin::{self, AuditRow, DisputeRow, Today};
use crate::market::{MarketError, Paging, orders};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/disputes", get(disputes))
        .route("/admin/audit", get(audit))
        .route("/admin/users", get(users))
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
    let queue = admin::disputes(&state.pool, &admin, true, Paging::new(None)).await?;
    Ok(DashboardPage {
        shell,
        today,
        disputes: queue.items,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/disputes.html")]
struct DisputesPage {
    shell: Shell,
    disputes: Vec<DisputeRow>,
    only_open: bool,
    pager: Pager,
}

async fn disputes(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<DisputesPage, AppError> {
    let only_open = query.status != "ALL";
    let page = admin::disputes(&state.pool, &admin, only_open, Paging::new(query.page())).await?;
    Ok(DisputesPage {
        shell,
        pager: Pager::new(
            "/admin/disputes",
            &[("status", if only_open { "" } else { "ALL" })],
            page.page,
            page.has_next,
        ),
        disputes: page.items,
        only_open,
    })
}

/// The actions the audit log records, for its filter.
const AUDIT_ACTIONS: [&str; 5] = [
    "order.force_cancel",
    "order.status",
    "dispute.resolve",
    "user.suspend",
    "user.reinstate",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuditQuery {
    action: String,
    page: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    shell: Shell,
    list: Vec<AuditRow>,
    actions: Vec<FilterOption>,
    pager: Pager,
}

async fn audit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<AuditQuery>,
) -> Result<AuditPage, AppError> {
    let action = AUDIT_ACTIONS.iter().copied().find(|a| *a == query.action);
    let page = admin::audit_log(
        &state.pool,
        &admin,
        action.unwrap_or_default(),
        Paging::new(query.page.parse().ok()),
    )
    .await?;
    Ok(AuditPage {
        shell,
        pager: Pager::new(
            "/admin/audit",
            &[("action", action.unwrap_or_default())],
            page.page,
            page.has_next,
        ),
        list: page.items,
        actions: filter_options(&AUDIT_ACTIONS, action, |a| a, |a| a),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UsersQuery {
    #[serde(flatten)]
    list: ListQuery,
    q: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    shell: Shell,
    list: Vec<Account>,
    filter_options: Vec<FilterOption>,
    q: String,
    pager: Pager,
    problem: Option<String>,
}

async fn users_page(
    state: &AppState,
    admin: &crate::market::accounts::User,
    shell: Shell,
    query: UsersQuery,
    problem: Option<String>,
) -> Result<UsersPage, AppError> {
    let filter = query.list.status.parse::<UserStatus>().ok();
    let q: String = query.q.trim().chars().take(100).collect();
    let page = accounts::list_accounts(
        &state.pool,
        admin,
        filter,
        &q,
        Paging::new(query.list.page()),
    )
    .await?;
    Ok(UsersPage {
        shell,
        pager: Pager::new(
            "/admin/users",
            &[("status", filter.map_or("", UserStatus::as_str)), ("q", &q)],
            page.page,
            page.has_next,
        ),
        list: page.items,
        filter_options: filter_options(
            &[UserStatus::Active, UserStatus::Suspended],
            filter,
            UserStatus::as_str,
            UserStatus::as_str,
        ),
        q,
        problem,
    })
}

async fn users(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<UsersQuery>,
) -> Result<UsersPage, AppError> {
    users_page(&state, &admin, shell, query, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReasonForm {
    reason: String,
}

async fn suspend(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    session: Session,
    Id(id): Id,
    Form(form): Form<ReasonForm>,
) -> Result<Response, AppError> {
    let done = accounts::suspend_user(&state.pool, &admin, id, &form.reason).await;
    account_action(
        &state,
        &admin,
        shell,
        &session,
        done,
        "The account is suspended; its sessions have ended.",
    )
    .await
}

async fn reinstate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    session: Session,
    Id(id): Id,
    Form(form): Form<ReasonForm>,
) -> Result<Response, AppError> {
    let done = accounts::reinstate_user(&state.pool, &admin, id, &form.reason).await;
    account_action(
        &state,
        &admin,
        shell,
        &session,
        done,
        "The account is active again.",
    )
    .await
}

/// After a suspension or reinstatement: back to the list, or the list again
/// with the refusal (422) when the reason was missing.
async fn account_action(
    state: &AppState,
    admin: &crate::market::accounts::User,
    shell: Shell,
    session: &Session,
    done: Result<(), MarketError>,
    message: &str,
) -> Result<Response, AppError> {
    match done {
        Ok(()) => {
            flash(session, FlashKind::Success, message).await?;
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let problem = errors.get("reason").map(|m| format!("Reason: {m}"));
            let page = users_page(state, admin, shell, UsersQuery::default(), problem).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResolveForm {
    outcome: String,
    note: String,
}

async fn resolve(
    State(state): State<AppState>,
    Admin(admin): Admin,
    session: Session,
    Id(dispute_id): Id,
    Form(form): Form<ResolveForm>,
) -> Result<Response, AppError> {
    let outcome = form.outcome.parse::<DisputeOutcome>().map_err(|message| {
        MarketError::Invalid(crate::domain::FieldErrors::single("outcome", message))
    })?;
    let order_id = orders::resolve_dispute(
        &state.pool,
        &admin,
        dispute_id,
        outcome,
        &form.note,
        state.config.dispute_window,
    )
    .await?;
    flash(&session, FlashKind::Success, "The dispute is resolved.").await?;
    Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
}
