//! The admin's Books page: whether the books balance (the same check as
//! `dhune ledger check`, its differences in words) and the platform's
//! balances, all read in one snapshot by `market::ledger::books`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, Shell};
use crate::market::ledger::{self, Report};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/books", get(show))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/books.html")]
struct BooksPage {
    shell: Shell,
    report: Report,
}

async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
) -> Result<BooksPage, AppError> {
    let report = ledger::books(&state.pool, &admin).await?;
    Ok(BooksPage { shell, report })
}
