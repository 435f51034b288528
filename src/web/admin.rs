//! The admin panel.

use axum::Router;
use axum::routing::get;

use super::AppState;
use super::extract::{Admin, Shell};
use super::pages::Placeholder;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(dashboard))
}

async fn dashboard(Admin(_user): Admin, shell: Shell) -> Placeholder {
    Placeholder {
        shell,
        heading: "Admin",
        text: "Platform activity, disputes and moderation will appear here.",
    }
}
