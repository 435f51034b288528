//! Payout statements: a laundry's list and statements (with a CSV of each),
//! the admin's list with its filters and totals, and the form that marks a
//! statement paid (`market::payouts::mark_paid`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::AppState;
use super::auth::safe_next;
use super::error::AppError;
use super::extract::{Admin, FlashKind, Flashes, Id, Shell, SignedIn, Vendor};
use super::fmt::{FilterOption, ListQuery, Pager, filter_options, when};
use super::form::ErrorSummary;
use crate::domain::account::Role;
use crate::domain::filter::{filter_day, search_text};
use crate::market::accounts::User;
use crate::market::payout_views::{
    self, Running, StatementDetail, StatementFilter, StatementRow, StatementStatus, StatementTotals,
};
use crate::market::{MarketError, Paging, payouts};

const ADMIN_LIST: &str = "/admin/payouts";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/payouts", get(list))
        // `/payouts/{id}` and `/payouts/{id}.csv`: the router's parameters
        // take no suffix, so the handler reads which one was asked for.
        .route("/payouts/{id}", get(show))
        .route(ADMIN_LIST, get(admin_list))
        .route("/admin/payouts/{id}/paid", post(mark_paid))
        .route("/admin/payouts/adjustments", post(adjust))
}

/// The "Mark paid" form of one statement: what was typed, and its error.
#[derive(Debug, Clone, Default)]
pub struct PayForm {
    pub statement_id: i64,
    pub reference: String,
    pub error: Option<String>,
    /// The admin list (with its filters) to return to, when the form is on it.
    pub back: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "payouts/list.html")]
struct ListPage {
    shell: Shell,
    list: Vec<StatementRow>,
    running: Running,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    Vendor(vendor): Vendor,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<ListPage, AppError> {
    let paging = Paging::new(query.page());
    let (page, running) = payout_views::vendor_statements(&state.pool, &vendor, paging).await?;
    Ok(ListPage {
        shell,
        pager: Pager::new("/payouts", &[], &page),
        list: page.items,
        running,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "payouts/show.html")]
struct StatementPage {
    shell: Shell,
    detail: StatementDetail,
    /// An admin sees the laundry's email and, while it is payable, the form.
    is_admin: bool,
    pay: PayForm,
    summary: ErrorSummary,
}

impl StatementPage {
    async fn new(
        state: &AppState,
        viewer: &User,
        shell: Shell,
        id: i64,
        pay: PayForm,
    ) -> Result<Self, AppError> {
        let detail = payout_views::statement(&state.pool, viewer, id).await?;
        let summary = ErrorSummary::default().and(&format!("reference-{id}"), pay.error.as_deref());
        Ok(Self {
            shell,
            detail,
            is_admin: viewer.role == Role::Admin,
            pay,
            summary,
        })
    }

    fn pay_form(&self, _id: i64) -> PayForm {
        self.pay.clone()
    }
}

/// The statement page, or its CSV when the path ends in `.csv`.
async fn show(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    shell: Shell,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let (number, csv) = match raw.strip_suffix(".csv") {
        Some(number) => (number, true),
        None => (raw.as_str(), false),
    };
    let id = match number.parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ => return Err(MarketError::NotFound.into()),
    };
    if csv {
        let detail = payout_views::statement(&state.pool, &viewer, id).await?;
        return statement_csv(&detail);
    }
    let pay = PayForm {
        statement_id: id,
        ..PayForm::default()
    };
    let page = StatementPage::new(&state, &viewer, shell, id, pay).await?;
    Ok(page.into_response())
}

/// The statement as CSV: a row per line, then a row per total, the amounts
/// in rupees with two decimals (the page's figures, without "Rs" and the
/// grouping commas, so a spreadsheet reads them as numbers). The text that
/// people typed (the laundry's name, an adjustment's reason) is neutralised.
fn statement_csv(detail: &StatementDetail) -> Result<Response, AppError> {
    let s = &detail.statement;
    let laundry = neutralised(&s.business_name);
    let period = format!("{} to {}", s.period_start, s.period_end);
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "Row",
        "Statement",
        "Laundry",
        "Week",
        "Date",
        "What",
        "Order",
        "Amount (Rs)",
    ];
    let statement = s.id.to_string();
    let write = |out: &mut csv::Writer<Vec<u8>>, row: [&str; 8]| {
        out.write_record(row)
            .map_err(|err| AppError::Internal(anyhow::Error::new(err).context("writing the CSV")))
    };
    write(&mut out, header)?;
    for line in &detail.lines {
        let date = line.at.as_ref().map(when).unwrap_or_default();
        let order = line.order_id.map(|id| id.to_string()).unwrap_or_default();
        let record = [
            "line",
            &statement,
            &laundry,
            &period,
            &date,
            &neutralised(&line.label()),
            &order,
            &line.amount.decimal(),
        ];
        write(&mut out, record)?;
    }
    for total in s.totals() {
        let record = [
            "total",
            &statement,
            &laundry,
            &period,
            "",
            total.label,
            "",
            &total.amount.decimal(),
        ];
        write(&mut out, record)?;
    }
    let body = out
        .into_inner()
        .map_err(|err| anyhow::anyhow!("finishing the CSV: {err}"))?;
    csv_download(
        &format!("dhune-statement-{}-{}.csv", s.id, s.period_start),
        body,
    )
}

/// A CSV file to download as `filename` (made of digits, letters, dashes).
pub(super) fn csv_download(filename: &str, body: Vec<u8>) -> Result<Response, AppError> {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|err| anyhow::anyhow!("the CSV's file name: {err}"))?;
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// A CSV field a spreadsheet reads as text, never as a formula: one that
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading apostrophe (OWASP's advice on CSV injection).
pub(super) fn neutralised(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// `?status=&week=&q=&page=`; anything unreadable is no filter.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PayoutsQuery {
    status: String,
    week: String,
    q: String,
    page: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/payouts.html")]
struct AdminPayoutsPage {
    shell: Shell,
    list: Vec<StatementRow>,
    totals: StatementTotals,
    status_options: Vec<FilterOption>,
    /// The week filter's day, as typed back into its input.
    week: String,
    q: String,
    pager: Pager,
    /// This page's address, for the forms to come back to.
    here: String,
    /// The adjustment form: what was typed, and its errors.
    adjust: AdjustForm,
}

/// An admin's adjustment of a laundry's balance, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AdjustForm {
    email: String,
    direction: String,
    amount: String,
    reason: String,
    #[serde(skip)]
    errors: crate::domain::FieldErrors,
}

impl AdjustForm {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

impl AdminPayoutsPage {
    fn pay_form(&self, id: i64) -> PayForm {
        PayForm {
            statement_id: id,
            back: self.here.clone(),
            ..PayForm::default()
        }
    }
}

async fn admin_list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<PayoutsQuery>,
) -> Result<AdminPayoutsPage, AppError> {
    AdminPayoutsPage::load(&state, &admin, shell, &query, AdjustForm::default()).await
}

impl AdminPayoutsPage {
    async fn load(
        state: &AppState,
        admin: &User,
        shell: Shell,
        query: &PayoutsQuery,
        adjust: AdjustForm,
    ) -> Result<AdminPayoutsPage, AppError> {
        let filter = StatementFilter {
            status: statement_status(&query.status),
            week: filter_day(&query.week),
            search: search_text(&query.q, 100),
        };
        let paging = Paging::new(query.page.trim().parse().ok());
        let (page, totals) =
            payout_views::list_statements(&state.pool, admin, &filter, paging).await?;
        let week = filter.week.map(|day| day.to_string()).unwrap_or_default();
        let filters = [
            ("status", filter.status.map_or("", StatementStatus::as_str)),
            ("week", week.as_str()),
            ("q", filter.search.as_str()),
        ];
        let page_number = page.page.to_string();
        let mut here_query: Vec<(&str, &str)> = filters.to_vec();
        if page.page > 1 {
            here_query.push(("page", &page_number));
        }
        here_query.retain(|(_, value)| !value.is_empty());
        let here = match serde_urlencoded::to_string(&here_query) {
            Ok(query) if !query.is_empty() => format!("{ADMIN_LIST}?{query}"),
            _ => ADMIN_LIST.to_owned(),
        };
        Ok(AdminPayoutsPage {
            shell,
            pager: Pager::new(ADMIN_LIST, &filters, &page),
            list: page.items,
            totals,
            status_options: filter_options(
                &StatementStatus::ALL,
                filter.status,
                StatementStatus::as_str,
                StatementStatus::label,
            ),
            week,
            q: filter.search,
            here,
            adjust,
        })
    }
}

/// An admin credits or debits a laundry. A refused form comes back on the
/// payouts page with 422, what was typed kept and each error by its field.
async fn adjust(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Form(mut form): Form<AdjustForm>,
) -> Result<Response, AppError> {
    let adjusted = payouts::adjust(
        &state.pool,
        &admin,
        &form.email,
        &form.direction,
        &form.amount,
        &form.reason,
    )
    .await;
    match adjusted {
        Ok((laundry, paisa)) => {
            let amount = crate::domain::money::Money::from_paisa(paisa.abs());
            let what = if paisa > 0 {
                format!("Dhune owes {} {amount} more", laundry.business_name)
            } else {
                format!("{} owes Dhune {amount}", laundry.business_name)
            };
            flashes.push(
                FlashKind::Success,
                format!("{what}; it is on their next statement."),
            );
            Ok(Redirect::to(ADMIN_LIST).into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            form.errors = errors;
            let page =
                AdminPayoutsPage::load(&state, &admin, shell, &PayoutsQuery::default(), form)
                    .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PaidForm {
    reference: String,
    back: String,
}

/// The status filter's word, in any letter case (`?status=issued` too);
/// anything else is no filter.
fn statement_status(word: &str) -> Option<StatementStatus> {
    word.trim().to_ascii_uppercase().parse().ok()
}

/// Where a "Mark paid" form returns to: the admin list it was on (a local
/// address of that list only), or the statement.
fn back_to(back: &str, id: i64) -> String {
    let on_list = back == ADMIN_LIST || back.starts_with(&format!("{ADMIN_LIST}?"));
    match safe_next(back) {
        Some(local) if on_list => local.to_owned(),
        _ => format!("/payouts/{id}"),
    }
}

/// Marks a statement paid. Anyone but an admin learns nothing (404, from
/// the operation); a missing reference shows the statement again with the
/// message (422); one already paid or in Dhune's favour is refused (409).
async fn mark_paid(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    flashes: Flashes,
    Id(id): Id,
    Form(form): Form<PaidForm>,
) -> Result<Response, AppError> {
    match payouts::mark_paid(&state.pool, &user, id, &form.reference).await {
        Ok(()) => {
            let message = format!(
                "Statement #{id} is marked paid (transfer {}); the laundry is told.",
                form.reference.trim()
            );
            flashes.push(FlashKind::Success, message);
            Ok(Redirect::to(&back_to(&form.back, id)).into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let pay = PayForm {
                statement_id: id,
                error: errors.get("reference").map(str::to_owned),
                reference: form.reference,
                back: form.back,
            };
            let page = StatementPage::new(&state, &user, shell, id, pay).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payouts_csv_fields_never_start_a_formula() {
        for text in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(text), format!("'{text}"));
        }
        assert_eq!(neutralised("Sparkle Laundry"), "Sparkle Laundry");
        assert_eq!(neutralised("a=b"), "a=b");
    }

    #[test]
    fn payouts_the_status_filter_reads_any_letter_case() {
        assert_eq!(statement_status("issued"), Some(StatementStatus::Issued));
        assert_eq!(statement_status(" PAID "), Some(StatementStatus::Paid));
        assert_eq!(statement_status("all"), None);
    }

    #[test]
    fn payouts_mark_paid_returns_only_to_the_admin_list() {
        assert_eq!(back_to("/admin/payouts", 5), "/admin/payouts");
        assert_eq!(
            back_to("/admin/payouts?status=ISSUED&page=2", 5),
            "/admin/payouts?status=ISSUED&page=2"
        );
        for elsewhere in [
            "",
            "https://evil.example/admin/payouts",
            "//evil.example/admin/payouts",
            "/admin/payoutsX",
            "/admin/users",
            "/admin/payouts?\\evil",
        ] {
            assert_eq!(back_to(elsewhere, 5), "/payouts/5", "{elsewhere:?}");
        }
    }
}
