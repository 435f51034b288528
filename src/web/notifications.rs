//! The user's notifications: the list, mark one read, mark all read.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use time::OffsetDateTime;

use super::AppState;
use super::error::AppError;
use super::extract::{Id, Shell, SignedIn};
use super::fmt::{ListQuery, Pager};
use crate::domain::request::day_heading;
use crate::market::Paging;
use crate::market::notifications::{self, Notification};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/{id}/read", post(mark_read))
        .route("/notifications/read-all", post(mark_all_read))
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications/list.html")]
struct NotificationsPage {
    shell: Shell,
    days: Vec<Day>,
    pager: Pager,
}

/// The notifications of one Nepal day, under their heading.
struct Day {
    heading: String,
    notes: Vec<Notification>,
}

/// Groups a newest-first list by the day each note was written.
fn by_day(list: Vec<Notification>, now: OffsetDateTime) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    for note in list {
        let heading = day_heading(note.created_at, now);
        match days.last_mut() {
            Some(day) if day.heading == heading => day.notes.push(note),
            _ => days.push(Day {
                heading,
                notes: vec![note],
            }),
        }
    }
    days
}

async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<NotificationsPage, AppError> {
    let page = notifications::list(&state.pool, &user, Paging::new(query.page())).await?;
    Ok(NotificationsPage {
        shell,
        pager: Pager::new("/notifications", &[], &page),
        days: by_day(page.items, OffsetDateTime::now_utc()),
    })
}

async fn mark_read(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Id(id): Id,
) -> Result<Redirect, AppError> {
    notifications::mark_read(&state.pool, &user, id).await?;
    state.identity.forget_user(user.id);
    Ok(Redirect::to("/notifications"))
}

async fn mark_all_read(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
) -> Result<Redirect, AppError> {
    notifications::mark_all_read(&state.pool, &user).await?;
    state.identity.forget_user(user.id);
    Ok(Redirect::to("/notifications"))
}
