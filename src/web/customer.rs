//! The customer portal: my requests, posting a request, cancelling it, and
//! accepting an offer.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use time::OffsetDateTime;

use super::AppState;
use super::error::AppError;
use super::extract::{Customer, FlashKind, Flashes, Id, Shell, ShellSource};
use super::fmt::{FilterOption, ListQuery, Pager, filter_options};
use super::form::{ErrorSummary, FormField};
use crate::domain::FieldErrors;
use crate::domain::request::{CITIES, CatalogEntry, NewRequest, RequestInput};
use crate::domain::status::RequestStatus;
use crate::market::offers::{self, Accepted};
use crate::market::payments::PaymentMethod;
use crate::market::requests::{self, OfferView, RequestSummary, Service};
use crate::market::{MarketError, Paging};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(my_requests).post(create_request))
        .route("/requests/new", get(new_request))
        .route("/requests/{id}/cancel", post(cancel_request))
        .route("/offers/{id}/accept", get(confirm_accept).post(accept))
}

#[derive(Template, WebTemplate)]
#[template(path = "customer/requests.html")]
struct RequestsPage {
    shell: Shell,
    list: Vec<RequestSummary>,
    filter_action: &'static str,
    filter_options: Vec<FilterOption>,
    pager: Pager,
}

async fn my_requests(
    State(state): State<AppState>,
    Customer(user): Customer,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<RequestsPage, AppError> {
    let filter = query.status::<RequestStatus>();
    let page =
        requests::list_my_requests(&state.pool, &user, filter, Paging::new(query.page())).await?;
    Ok(RequestsPage {
        shell,
        pager: Pager::new(
            "/requests",
            &[("status", filter.map_or("", RequestStatus::as_str))],
            &page,
        ),
        list: page.items,
        filter_action: "/requests",
        filter_options: filter_options(
            &RequestStatus::ALL,
            filter,
            RequestStatus::as_str,
            RequestStatus::label,
        ),
    })
}

/// A catalog line of the form: the service and the quantity typed.
struct ServiceField {
    code: String,
    name: String,
    description: String,
    unit: &'static str,
    max: i32,
    value: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "customer/new_request.html")]
struct NewRequestPage {
    shell: Shell,
    services: Vec<ServiceField>,
    services_error: Option<String>,
    fields: Vec<FormField>,
    summary: ErrorSummary,
}

type RequestForm = HashMap<String, String>;

/// The pickup window's inputs take Nepal time, whatever the device's zone.
fn pickup_hint(now: OffsetDateTime) -> String {
    format!(
        "Nepal time (UTC+05:45); it is {} in Nepal now.",
        crate::domain::when::clock(now)
    )
}

impl NewRequestPage {
    fn new(shell: Shell, catalog: &[Service], form: &RequestForm, errors: &FieldErrors) -> Self {
        let typed = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let now = OffsetDateTime::now_utc();
        let services = catalog
            .iter()
            .map(|service| ServiceField {
                code: service.code.clone(),
                name: service.name.clone(),
                description: service.description.clone(),
                unit: service.unit.label(2),
                max: service.unit.max(),
                value: typed(&format!("qty_{}", service.code)).to_owned(),
            })
            .collect();
        let fields = vec![
            FormField::new("pickup_address", "Pickup address", "text", 300)
                .autocomplete("address-line1")
                .hint("Only the laundry you choose sees the street address.")
                .with(typed("pickup_address"), errors),
            FormField::new("city", "City", "text", 60)
                .autocomplete("address-level2")
                .suggestions(CITIES)
                .hint("Laundries find requests by their city.")
                .with(typed("city"), errors),
            FormField::new("area", "Neighbourhood (optional)", "text", 60)
                .hint("Shown to laundries, e.g. Baneshwor.")
                .with(typed("area"), errors),
            FormField::new("pickup_from", "Pick up from", "datetime-local", 20)
                .hint(pickup_hint(now))
                .with(typed("pickup_from"), errors),
            FormField::new("pickup_to", "Pick up by", "datetime-local", 20)
                .hint(pickup_hint(now))
                .with(typed("pickup_to"), errors),
            FormField::new("notes", "Notes for the laundry", "textarea", 2000)
                .hint(
                    "Optional: stains, delicate items, when to ring. Every laundry that sees \
                     the request can read this before you choose one, so do not write gate \
                     codes or anything private.",
                )
                .with(typed("notes"), errors),
            FormField::new("expires_in_hours", "Take offers for (hours)", "number", 3)
                .hint("From 1 hour to 168 hours (7 days).")
                .with(typed("expires_in_hours"), errors),
        ];
        let first_service = catalog
            .first()
            .map(|service| format!("qty_{}", service.code))
            .unwrap_or_default();
        let summary = ErrorSummary::default()
            .and(&first_service, errors.get("services"))
            .and_all(&fields);
        Self {
            shell,
            services,
            services_error: errors.get("services").map(str::to_owned),
            fields,
            summary,
        }
    }
}

fn catalog_entries(catalog: &[Service]) -> Vec<CatalogEntry<'_>> {
    catalog
        .iter()
        .map(|s| CatalogEntry {
            code: &s.code,
            name: &s.name,
            unit: s.unit,
        })
        .collect()
}

async fn new_request(
    State(state): State<AppState>,
    Customer(_): Customer,
    shell: Shell,
) -> Result<NewRequestPage, AppError> {
    let catalog = requests::catalog(&state.pool).await?;
    let start = OffsetDateTime::now_utc() + time::Duration::hours(2);
    let start = start.replace_minute(0).unwrap_or(start);
    let form: RequestForm = [
        ("pickup_from", super::fmt::input(&start)),
        (
            "pickup_to",
            super::fmt::input(&(start + time::Duration::hours(3))),
        ),
        ("expires_in_hours", "24".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(NewRequestPage::new(
        shell,
        &catalog,
        &form,
        &FieldErrors::new(),
    ))
}

async fn create_request(
    State(state): State<AppState>,
    Customer(user): Customer,
    shell: Shell,
    flashes: Flashes,
    Form(form): Form<RequestForm>,
) -> Result<Response, AppError> {
    let catalog = requests::catalog(&state.pool).await?;
    let typed = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let input = RequestInput {
        pickup_address: typed("pickup_address"),
        city: typed("city"),
        area: typed("area"),
        pickup_from: typed("pickup_from"),
        pickup_to: typed("pickup_to"),
        notes: typed("notes"),
        expires_in_hours: typed("expires_in_hours"),
        quantities: form
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("qty_").map(|code| (code, v.as_str())))
            .collect(),
        now: OffsetDateTime::now_utc(),
    };
    let created = match NewRequest::parse(&input, &catalog_entries(&catalog)) {
        Ok(new) => requests::create_request(&state.pool, &user, &new).await,
        Err(errors) => Err(MarketError::Invalid(errors)),
    };
    match created {
        Ok(id) => {
            flashes.push(
                FlashKind::Success,
                "Your request is posted. Laundries can now send offers.",
            );
            Ok(Redirect::to(&format!("/requests/{id}")).into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let page = NewRequestPage::new(shell, &catalog, &form, &errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

async fn cancel_request(
    State(state): State<AppState>,
    Customer(user): Customer,
    flashes: Flashes,
    Id(id): Id,
) -> Result<Redirect, AppError> {
    requests::cancel_request(&state.pool, &user, id).await?;
    flashes.push(
        FlashKind::Info,
        "The request is cancelled; its offers were declined.",
    );
    Ok(Redirect::to(&format!("/requests/{id}")))
}

#[derive(Template, WebTemplate)]
#[template(path = "customer/accept.html")]
struct AcceptPage {
    shell: Shell,
    offer: OfferView,
    /// Why the customer is asked again, when the accept was refused.
    notice: Option<&'static str>,
    can_accept: bool,
    live: bool,
    /// The configured provider, as customers know it.
    provider: &'static str,
    /// The payment method chosen (kept when the page comes back).
    method: PaymentMethod,
}

impl AcceptPage {
    fn new(state: &AppState, shell: Shell, offer: OfferView, notice: Option<&'static str>) -> Self {
        Self {
            shell,
            offer,
            notice,
            can_accept: false,
            live: false,
            provider: state.payments.kind().display_name(),
            method: PaymentMethod::Online,
        }
    }
}

const METHOD_UNKNOWN: &str = "Choose how you will pay: online or cash on delivery.";

const OFFER_CHANGED: &str = "This offer changed after you opened it, so it was not accepted. \
     Here it is as it stands now: check the price and times, then accept again if you agree.";
const VERSION_MISSING: &str = "We could not tell which version of this offer you saw, so it \
     was not accepted. Here it is as it stands now: check the price and times, then accept \
     again if you agree.";

/// The confirmation step before accepting (works without JavaScript).
async fn confirm_accept(
    State(state): State<AppState>,
    Customer(user): Customer,
    shell: Shell,
    Id(offer_id): Id,
) -> Result<AcceptPage, AppError> {
    let offer = offers::pending_offer_for_owner(&state.pool, &user, offer_id).await?;
    Ok(AcceptPage::new(&state, shell, offer, None))
}

/// The confirmation form: the version of the offer the customer saw.
#[derive(Deserialize)]
struct AcceptForm {
    offer_version: Option<String>,
    /// `online` or `cod`; absent is cash on delivery (DESIGN.md).
    payment_method: Option<String>,
}

/// Accepts an offer. The page's shell (its header: unread notifications,
/// flashes) is only built when the page is shown again: an accept that
/// succeeds redirects, and a refusal's error page builds its own.
async fn accept(
    State(state): State<AppState>,
    Customer(user): Customer,
    shell: ShellSource,
    flashes: Flashes,
    Id(offer_id): Id,
    Form(form): Form<AcceptForm>,
) -> Result<Response, AppError> {
    let seen = form
        .offer_version
        .and_then(|version| version.trim().parse::<i32>().ok());
    let Ok(method) = PaymentMethod::from_field(form.payment_method.as_deref().unwrap_or_default())
    else {
        let offer = offers::pending_offer_for_owner(&state.pool, &user, offer_id).await?;
        let shell = shell.shell(&state).await;
        let page = AcceptPage::new(&state, shell, offer, Some(METHOD_UNKNOWN));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    // Without the version we cannot know what the customer agreed to, so we
    // never guess: they confirm the offer as it is now.
    let outcome = match seen {
        Some(version) => {
            offers::accept_offer(
                &state.pool,
                &user,
                offer_id,
                version,
                state.config.commission_bps,
                method,
            )
            .await?
        }
        None => offers::pending_offer_for_owner(&state.pool, &user, offer_id)
            .await
            .map(|offer| Accepted::Changed(Box::new(offer)))?,
    };
    match outcome {
        Accepted::Order(order_id) => {
            let message = match method {
                PaymentMethod::Online => {
                    "Offer accepted. Your order is created: pay for it below, and the laundry \
                     comes to pick it up once it is paid."
                }
                PaymentMethod::Cod => {
                    "Offer accepted. Your order is created; you pay the laundry in cash on delivery."
                }
            };
            flashes.push(FlashKind::Success, message);
            Ok(Redirect::to(&format!("/orders/{order_id}")).into_response())
        }
        Accepted::Changed(offer) => {
            let notice = if seen.is_some() {
                OFFER_CHANGED
            } else {
                VERSION_MISSING
            };
            let shell = shell.shell(&state).await;
            let mut page = AcceptPage::new(&state, shell, *offer, Some(notice));
            page.method = method;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
    }
}
