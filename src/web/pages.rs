//! The start page, the health check and the fallback.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::error::AppError;
use super::extract::Shell;
use crate::market::MarketError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    shell: Shell,
}

async fn home(shell: Shell) -> Response {
    match &shell.user {
        Some(user) => Redirect::to(user.role.home()).into_response(),
        None => HomePage { shell }.into_response(),
    }
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match crate::market::ping(&state.pool).await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(err) => {
            tracing::warn!(error = ?err, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

pub async fn not_found() -> AppError {
    AppError::Market(MarketError::NotFound)
}
