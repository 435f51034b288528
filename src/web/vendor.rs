//! The vendor portal.

use axum::Router;
use axum::routing::get;

use super::AppState;
use super::extract::{Shell, Vendor};
use super::pages::Placeholder;

pub fn router() -> Router<AppState> {
    Router::new().route("/board", get(board))
}

async fn board(Vendor(_user): Vendor, shell: Shell) -> Placeholder {
    Placeholder {
        shell,
        heading: "Open requests",
        text: "Laundry requests from customers in your city will appear here.",
    }
}
