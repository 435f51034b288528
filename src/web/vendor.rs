//! The vendor portal: the board, making, updating and withdrawing offers,
//! and my offers.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use time::OffsetDateTime;

use super::AppState;
use super::error::AppError;
use super::extract::{FlashKind, Flashes, Id, Shell, Vendor};
use super::fmt::{FilterOption, ListQuery, Pager, filter_options};
use super::requests::{OfferForm, refused_offer};
use crate::domain::filter::BoardSort;
use crate::domain::offer::{NewOffer, OfferInput};
use crate::domain::status::OfferStatus;
use crate::market::offers::{self, MyOffer};
use crate::market::requests::{self, RequestSummary};
use crate::market::{MarketError, Paging};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/board", get(board))
        .route("/requests/{id}/offers", post(submit_offer))
        .route("/offers", get(my_offers))
        .route("/offers/{id}/update", post(update_offer))
        .route("/offers/{id}/withdraw", post(withdraw_offer))
}

#[derive(Template, WebTemplate)]
#[template(path = "vendor/board.html")]
struct BoardPage {
    shell: Shell,
    list: Vec<RequestSummary>,
    city: String,
    sort_options: Vec<FilterOption>,
    pager: Pager,
    live_from: String,
}

impl BoardPage {
    /// New requests arrive live only on the first page, at its top: they
    /// are the newest, and with the soonest pickup first they come marked
    /// "New" until the page is drawn again.
    fn takes_new_rows(&self) -> bool {
        self.pager.page == 1
    }
}

async fn board(
    State(state): State<AppState>,
    Vendor(user): Vendor,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<BoardPage, AppError> {
    let city = query.city();
    let sort = query.sort();
    let city_filter = (!city.is_empty()).then_some(city.as_str());
    let page = requests::open_requests_for_board(
        &state.pool,
        &user,
        city_filter,
        None,
        sort,
        Paging::new(query.page()),
    )
    .await?;
    Ok(BoardPage {
        shell,
        pager: Pager::new("/board", &[("city", &city), ("sort", sort.param())], &page),
        list: page.items,
        city,
        sort_options: filter_options(
            &BoardSort::ALL,
            Some(sort),
            BoardSort::as_str,
            BoardSort::label,
        ),
        live_from: state.live.head().to_string(),
    })
}

fn parse_offer(form: &OfferForm) -> Result<NewOffer, MarketError> {
    NewOffer::parse(&OfferInput {
        price: &form.price,
        pickup_at: &form.pickup_at,
        delivery_at: &form.delivery_at,
        message: &form.message,
        now: OffsetDateTime::now_utc(),
    })
    .map_err(MarketError::Invalid)
}

async fn submit_offer(
    State(state): State<AppState>,
    Vendor(user): Vendor,
    shell: Shell,
    flashes: Flashes,
    Id(request_id): Id,
    Form(form): Form<OfferForm>,
) -> Result<Response, AppError> {
    let submitted = match parse_offer(&form) {
        Ok(new) => offers::submit_offer(&state.pool, &user, request_id, &new).await,
        Err(err) => Err(err),
    };
    match submitted {
        Ok(_) => {
            flashes.push(
                FlashKind::Success,
                "Your offer is sent. The customer sees it now.",
            );
            Ok(Redirect::to(&format!("/requests/{request_id}")).into_response())
        }
        Err(MarketError::Invalid(errors)) => Ok(refused_offer(
            &state, shell, &user, request_id, form, errors,
        )
        .await?
        .into_response()),
        Err(err) => Err(err.into()),
    }
}

async fn update_offer(
    State(state): State<AppState>,
    Vendor(user): Vendor,
    shell: Shell,
    flashes: Flashes,
    Id(offer_id): Id,
    Form(form): Form<OfferForm>,
) -> Result<Response, AppError> {
    let new = match parse_offer(&form) {
        Ok(new) => new,
        Err(MarketError::Invalid(errors)) => {
            let request_id = offers::request_of_own_offer(&state.pool, &user, offer_id).await?;
            return Ok(
                refused_offer(&state, shell, &user, request_id, form, errors)
                    .await?
                    .into_response(),
            );
        }
        Err(err) => return Err(err.into()),
    };
    let request_id = offers::update_offer(&state.pool, &user, offer_id, &new).await?;
    flashes.push(FlashKind::Success, "Your offer is updated.");
    Ok(Redirect::to(&format!("/requests/{request_id}")).into_response())
}

async fn withdraw_offer(
    State(state): State<AppState>,
    Vendor(user): Vendor,
    flashes: Flashes,
    Id(offer_id): Id,
) -> Result<Redirect, AppError> {
    let request_id = offers::withdraw_offer(&state.pool, &user, offer_id).await?;
    flashes.push(FlashKind::Info, "Your offer is withdrawn.");
    Ok(Redirect::to(&format!("/requests/{request_id}")))
}

#[derive(Template, WebTemplate)]
#[template(path = "vendor/offers.html")]
struct MyOffersPage {
    shell: Shell,
    list: Vec<MyOffer>,
    filter_action: &'static str,
    filter_options: Vec<FilterOption>,
    pager: Pager,
}

async fn my_offers(
    State(state): State<AppState>,
    Vendor(user): Vendor,
    shell: Shell,
    Query(query): Query<ListQuery>,
) -> Result<MyOffersPage, AppError> {
    let filter = query.status::<OfferStatus>();
    let page =
        offers::list_my_offers(&state.pool, &user, filter, Paging::new(query.page())).await?;
    Ok(MyOffersPage {
        shell,
        pager: Pager::new(
            "/offers",
            &[("status", filter.map_or("", OfferStatus::as_str))],
            &page,
        ),
        list: page.items,
        filter_action: "/offers",
        filter_options: filter_options(
            &OfferStatus::ALL,
            filter,
            OfferStatus::as_str,
            OfferStatus::label,
        ),
    })
}
