//! The admin's payments: the list with its filters and totals, and one
//! payment with its provider events, refunds and ledger transactions. The
//! refund actions those pages carry post to the payment operations' handlers.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, Id, Shell};
use super::fmt::{FilterOption, Pager, filter_options};
use super::payments::RefundTyped;
use crate::domain::filter::search_text;
use crate::market::Paging;
use crate::market::payment_views::{
    self, Days, Method, PaymentDetail, PaymentFilter, PaymentRow, PaymentState, Totals,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/payments", get(list))
        .route("/admin/payments/{id}", get(show))
}

/// `?status=&method=&days=&q=&page=`; anything unreadable is no filter.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PaymentsQuery {
    status: String,
    method: String,
    days: String,
    q: String,
    /// `1`: only the payments waiting for an admin.
    attention: String,
    page: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/payments.html")]
struct PaymentsPage {
    shell: Shell,
    list: Vec<PaymentRow>,
    totals: Totals,
    status_options: Vec<FilterOption>,
    method_options: Vec<FilterOption>,
    day_options: Vec<FilterOption>,
    q: String,
    attention: bool,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Query(query): Query<PaymentsQuery>,
) -> Result<PaymentsPage, AppError> {
    let filter = PaymentFilter {
        status: query.status.parse().ok(),
        method: query.method.parse().ok(),
        days: Days::parse(&query.days),
        search: search_text(&query.q, 100),
        attention: query.attention == "1",
    };
    let paging = Paging::new(query.page.parse().ok());
    let (page, totals) = payment_views::list_payments(&state.pool, &admin, &filter, paging).await?;
    let days = match filter.days {
        Days::All => "",
        days => days.as_str(),
    };
    Ok(PaymentsPage {
        shell,
        pager: Pager::new(
            "/admin/payments",
            &[
                ("status", filter.status.map_or("", PaymentState::as_str)),
                ("method", filter.method.map_or("", Method::as_str)),
                ("days", days),
                ("q", filter.search.as_str()),
                ("attention", if filter.attention { "1" } else { "" }),
            ],
            &page,
        ),
        list: page.items,
        totals,
        status_options: filter_options(
            &PaymentState::ALL,
            filter.status,
            PaymentState::as_str,
            PaymentState::label,
        ),
        method_options: filter_options(&Method::ALL, filter.method, Method::as_str, Method::label),
        day_options: filter_options(&Days::ALL, Some(filter.days), Days::as_str, Days::label),
        q: filter.search,
        attention: filter.attention,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/payment.html")]
struct PaymentPage {
    shell: Shell,
    detail: PaymentDetail,
    /// The refund forms are drawn as on the order page, never live here.
    live: bool,
}

impl PaymentPage {
    /// Refused refunds are shown again on the order page, never here.
    fn typed_refund(&self, _id: i64) -> Option<&RefundTyped> {
        None
    }
}

async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    Id(id): Id,
) -> Result<PaymentPage, AppError> {
    let detail = payment_views::payment_detail(&state.pool, &admin, id).await?;
    Ok(PaymentPage {
        shell,
        detail,
        live: false,
    })
}
