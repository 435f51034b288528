//! The admin's commission page: the platform's rate with its history and
//! the rates negotiated with single laundries, and the forms that change
//! them (`market::commission`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, FlashKind, Flashes, Shell};
use super::form::ErrorSummary;
use crate::domain::FieldErrors;
use crate::market::MarketError;
use crate::market::accounts::User;
use crate::market::commission::{self, Commission};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/commission", get(show).post(set_platform))
        .route("/admin/commission/vendors", post(set_vendor))
}

/// What was typed in one of the page's forms, and its errors.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RateForm {
    email: String,
    rate: String,
    reason: String,
    #[serde(skip)]
    email_error: Option<String>,
    #[serde(skip)]
    rate_error: Option<String>,
    #[serde(skip)]
    reason_error: Option<String>,
}

impl RateForm {
    /// The form again with the messages of its refusal.
    fn refused(mut self, errors: &FieldErrors) -> Self {
        let message = |field: &str| errors.get(field).map(str::to_owned);
        self.email_error = message("email");
        self.rate_error = message("rate");
        self.reason_error = message("reason");
        self
    }

    /// Its errors, linking to the inputs whose ids start with `prefix`.
    fn summary(&self, summary: ErrorSummary, prefix: &str) -> ErrorSummary {
        summary
            .and(&format!("{prefix}-email"), self.email_error.as_deref())
            .and(&format!("{prefix}-rate"), self.rate_error.as_deref())
            .and(&format!("{prefix}-reason"), self.reason_error.as_deref())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/commission.html")]
struct CommissionPage {
    shell: Shell,
    commission: Commission,
    platform: RateForm,
    vendor: RateForm,
    summary: ErrorSummary,
}

impl CommissionPage {
    async fn new(
        state: &AppState,
        admin: &User,
        shell: Shell,
        platform: RateForm,
        vendor: RateForm,
    ) -> Result<Self, AppError> {
        let commission =
            commission::current(&state.pool, admin, state.config.commission_bps).await?;
        let summary = vendor.summary(
            platform.summary(ErrorSummary::default(), "platform"),
            "vendor",
        );
        Ok(Self {
            shell,
            commission,
            platform,
            vendor,
            summary,
        })
    }
}

async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
) -> Result<CommissionPage, AppError> {
    CommissionPage::new(
        &state,
        &admin,
        shell,
        RateForm::default(),
        RateForm::default(),
    )
    .await
}

async fn set_platform(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Form(form): Form<RateForm>,
) -> Result<Response, AppError> {
    let set = commission::set_platform_rate(
        &state.pool,
        &admin,
        &form.rate,
        &form.reason,
        state.config.commission_bps,
    )
    .await;
    match set {
        Ok(rate) => {
            let message =
                format!("The platform's commission is now {rate} for orders created from now on.");
            flashes.push(FlashKind::Success, message);
            Ok(Redirect::to("/admin/commission").into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let platform = form.refused(&errors);
            let page = CommissionPage::new(&state, &admin, shell, platform, RateForm::default());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page.await?).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

async fn set_vendor(
    State(state): State<AppState>,
    Admin(admin): Admin,
    shell: Shell,
    flashes: Flashes,
    Form(form): Form<RateForm>,
) -> Result<Response, AppError> {
    let set =
        commission::set_vendor_rate(&state.pool, &admin, &form.email, &form.rate, &form.reason)
            .await;
    match set {
        Ok(set) => {
            let message = match set.rate {
                Some(rate) => format!(
                    "{} now pays {rate} on orders created from now on.",
                    set.business_name
                ),
                None => format!(
                    "{} pays the platform's rate again on orders created from now on.",
                    set.business_name
                ),
            };
            flashes.push(FlashKind::Success, message);
            Ok(Redirect::to("/admin/commission").into_response())
        }
        Err(MarketError::Invalid(errors)) => {
            let vendor = form.refused(&errors);
            let page = CommissionPage::new(&state, &admin, shell, RateForm::default(), vendor);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page.await?).into_response())
        }
        Err(err) => Err(err.into()),
    }
}
