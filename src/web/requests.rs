//! The request page, shared by its owner, vendors (while open) and admins,
//! and the vendor's offer form on it.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::extract::{Id, Shell, SignedIn};
use super::form::{ErrorSummary, FormField};
use crate::domain::FieldErrors;
use crate::domain::account::Role;
use crate::domain::money::Money;
use crate::domain::offer::OfferSort;
use crate::market::accounts::User;
use crate::market::requests::{self, RequestView};

pub fn router() -> Router<AppState> {
    Router::new().route("/requests/{id}", get(show))
}

/// The offer form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct OfferForm {
    pub price: String,
    pub pickup_at: String,
    pub delivery_at: String,
    pub message: String,
}

impl OfferForm {
    fn fields(&self, errors: &FieldErrors) -> Vec<FormField> {
        vec![
            FormField::new("price", "Your price (rupees)", "text", 20)
                .inputmode("decimal")
                .hint("For the whole request, e.g. 450 or 450.50.")
                .with(&self.price, errors),
            FormField::new("pickup_at", "Pickup at", "datetime-local", 20)
                .with(&self.pickup_at, errors),
            FormField::new("delivery_at", "Delivery at", "datetime-local", 20)
                .with(&self.delivery_at, errors),
            FormField::new("message", "Message to the customer", "textarea", 1000)
                .hint("Optional: what is included, how you handle delicate items.")
                .with(&self.message, errors),
        ]
    }
}

/// A price as typed into a form: `450.50`.
pub fn rupees(money: Money) -> String {
    format!("{}.{:02}", money.paisa() / 100, money.paisa() % 100)
}

#[derive(Template, WebTemplate)]
#[template(path = "requests/show.html", blocks = ["summary", "offer_forms", "cancel"])]
pub struct RequestPage {
    shell: Shell,
    request: RequestView,
    offer_fields: Vec<FormField>,
    summary: ErrorSummary,
    can_accept: bool,
    /// How the offers are ordered (`?sort=price|pickup`).
    sort: OfferSort,
    /// The feed position the page was drawn at; the live stream starts there.
    live_from: String,
    live: bool,
}

impl RequestPage {
    /// The page for `viewer`; a vendor's form shows `typed` (with its
    /// errors) or else their pending offer.
    pub async fn load(
        state: &AppState,
        shell: Shell,
        viewer: &User,
        id: i64,
        typed: Option<(OfferForm, FieldErrors)>,
        sort: OfferSort,
    ) -> Result<Self, AppError> {
        let mut request = requests::get_request(&state.pool, viewer, id).await?;
        request.sort_offers(sort);
        let (form, errors) = typed.unwrap_or_else(|| {
            let form = match request.pending_offer() {
                Some(offer) => OfferForm {
                    price: rupees(offer.price),
                    pickup_at: super::fmt::input(&offer.pickup_at),
                    delivery_at: super::fmt::input(&offer.delivery_at),
                    message: offer.message.clone(),
                },
                None => OfferForm {
                    pickup_at: super::fmt::input(&request.pickup_from),
                    delivery_at: super::fmt::input(&(request.pickup_to + time::Duration::days(2))),
                    ..OfferForm::default()
                },
            };
            (form, FieldErrors::new())
        });
        let can_accept = request.is_owner && request.is_open;
        let offer_fields = if viewer.role == Role::Vendor {
            form.fields(&errors)
        } else {
            Vec::new()
        };
        let summary = ErrorSummary::of(&offer_fields);
        Ok(Self {
            shell,
            request,
            offer_fields,
            summary,
            can_accept,
            sort,
            live_from: state.live.head().to_string(),
            live: false,
        })
    }
}

impl RequestPage {
    /// The request's summary (status, and the order once there is one),
    /// drawn to replace itself on an open page.
    pub fn live_summary(shell: Shell, request: RequestView) -> Self {
        Self {
            shell,
            request,
            offer_fields: Vec::new(),
            summary: ErrorSummary::default(),
            can_accept: false,
            sort: OfferSort::default(),
            live_from: String::new(),
            live: true,
        }
    }

    /// The summary to swap in once an offer is settled, and for a vendor
    /// also the place of their offer forms (empty once the request closed);
    /// for the owner, the place of the cancel form (empty once closed).
    pub fn outcome(&self, with_forms: bool) -> askama::Result<String> {
        let mut html = self.as_summary().render()?;
        if with_forms {
            html.push_str(&self.as_offer_forms().render()?);
        } else {
            html.push_str(&self.as_cancel().render()?);
        }
        Ok(html)
    }
}

/// `?sort=price|pickup` of the request page; anything else is by price.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SortQuery {
    sort: String,
}

async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    shell: Shell,
    Id(id): Id,
    Query(query): Query<SortQuery>,
) -> Result<RequestPage, AppError> {
    RequestPage::load(
        &state,
        shell,
        &user,
        id,
        None,
        OfferSort::parse(&query.sort),
    )
    .await
}

/// The request page again with the refused offer form, status 422.
pub async fn refused_offer(
    state: &AppState,
    shell: Shell,
    user: &User,
    request_id: i64,
    form: OfferForm,
    errors: FieldErrors,
) -> Result<(StatusCode, RequestPage), AppError> {
    let page = RequestPage::load(
        state,
        shell,
        user,
        request_id,
        Some((form, errors)),
        OfferSort::default(),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page))
}
