//! The customer portal.

use axum::Router;
use axum::routing::get;

use super::AppState;
use super::extract::{Customer, Shell};
use super::pages::Placeholder;

pub fn router() -> Router<AppState> {
    Router::new().route("/requests", get(my_requests))
}

async fn my_requests(Customer(_user): Customer, shell: Shell) -> Placeholder {
    Placeholder {
        shell,
        heading: "My requests",
        text: "Your laundry requests and the offers on them will appear here.",
    }
}
