//! One error type for handlers, and the middleware that renders error pages.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_htmx::{HX_BOOSTED, HX_PUSH_URL, HX_REQUEST};
use tower_http::csrf::ProtectionError;

use super::extract::Shell;
use super::{AppState, REQUEST_ID};
use crate::market::MarketError;

/// What a 503 page asks the client to wait, in seconds.
const RETRY_AFTER_SECS: &str = "10";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Market(#[from] MarketError),
    /// Not signed in; carries the local path to come back to.
    #[error("login required")]
    LoginRequired(String),
    #[error("the user's role may not open this page")]
    WrongRole,
    #[error("CSRF token missing or wrong")]
    CsrfToken,
    #[error("the form is too large")]
    TooLarge,
    /// A request that cannot be taken as it is (a payment return that does
    /// not verify); the message says what happened.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::Market(err.into())
    }
}

/// Put on an error response; [`render_error_pages`] turns it into a page.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

fn page(status: StatusCode, title: &'static str, message: impl Into<String>) -> Response {
    let message = message.into();
    let mut response = (status, message.clone()).into_response();
    response
        .extensions_mut()
        .insert(ErrorPage { title, message });
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::LoginRequired(next) => {
                let target = if next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(&next))
                };
                Redirect::to(&target).into_response()
            }
            AppError::WrongRole => page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account cannot open this page.",
            ),
            AppError::CsrfToken => page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not accepted because it did not come with a valid security \
                 token. Nothing was changed. Please go back, reload the page and try again.",
            ),
            AppError::TooLarge => page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "What you sent is too large. Nothing was changed.",
            ),
            AppError::BadRequest(message) => page(StatusCode::BAD_REQUEST, "Not accepted", message),
            AppError::Market(MarketError::NotFound) => page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or you may not see it.",
            ),
            AppError::Market(MarketError::Forbidden(message)) => {
                page(StatusCode::FORBIDDEN, "Not allowed", message)
            }
            AppError::Market(MarketError::Conflict(message)) => {
                page(StatusCode::CONFLICT, "Changed meanwhile", message)
            }
            AppError::Market(MarketError::Invalid(errors)) => page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please check what you entered",
                errors.to_string(),
            ),
            AppError::Market(MarketError::Throttled { limit, minutes }) => page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                limit.message(minutes),
            ),
            AppError::Market(MarketError::Unavailable(err)) => {
                tracing::warn!(error = ?err, "request failed: database unavailable");
                try_again_later(
                    "Temporarily unavailable",
                    "We cannot reach our database just now. Please try again in a minute.",
                    RETRY_AFTER_SECS,
                )
            }
            AppError::Market(MarketError::Busy) => try_again_later(
                "Very busy",
                "Dhune is very busy right now and could not check this in time. \
                 Nothing was changed; please try again in a few seconds.",
                "5",
            ),
            AppError::Market(MarketError::Internal(err)) | AppError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Something went wrong on our side. It has been logged; please try again.",
                )
            }
        }
    }
}

/// A 503 page that says when to try again.
fn try_again_later(title: &'static str, message: &str, seconds: &'static str) -> Response {
    let mut response = page(StatusCode::SERVICE_UNAVAILABLE, title, message);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// The cross-origin check's refusal, as our 403 page.
pub fn cross_origin_rejected(_: ProtectionError) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Cross-site request refused",
        "This form was sent from another site, so it was refused. Nothing was changed.",
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorTemplate {
    shell: Shell,
    status: u16,
    title: &'static str,
    message: String,
    request_id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html", block = "content")]
struct ErrorFragment {
    status: u16,
    title: &'static str,
    message: String,
    request_id: String,
}

/// What an error page needs to know of the request it answers.
pub struct ErrorContext {
    request_id: String,
    /// A plain htmx request (not boosted): it gets a fragment.
    htmx: bool,
}

impl ErrorContext {
    pub fn of(request: &Request) -> Self {
        let headers = request.headers();
        Self {
            request_id: headers
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            // Boosted requests swap the whole body, so they get the whole page.
            htmx: headers.contains_key(HX_REQUEST) && !headers.contains_key(HX_BOOSTED),
        }
    }

    /// `response` as the error page (or, for htmx requests, a fragment) when
    /// it carries an [`ErrorPage`], keeping its other headers.
    pub async fn render(self, response: Response, shell: impl Future<Output = Shell>) -> Response {
        let Some(error) = response.extensions().get::<ErrorPage>().cloned() else {
            return response;
        };
        let status = response.status();
        let (title, message, code) = (error.title, error.message, status.as_u16());
        let request_id = self.request_id;
        let mut page = if self.htmx {
            let fragment = ErrorFragment {
                status: code,
                title,
                message,
                request_id,
            };
            (status, fragment).into_response()
        } else {
            let page = ErrorTemplate {
                shell: shell.await,
                status: code,
                title,
                message,
                request_id,
            };
            (status, page).into_response()
        };
        for (name, value) in response.headers() {
            if name != CONTENT_TYPE && name != CONTENT_LENGTH {
                page.headers_mut().append(name.clone(), value.clone());
            }
        }
        page
    }
}

/// Renders responses that carry an [`ErrorPage`] as a full page (or, for
/// htmx requests, a fragment), with the user's navigation and the request id;
/// a refused boosted form keeps the browser's address as it was.
pub async fn render_error_pages(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let context = ErrorContext::of(&request);
    let boosted_post =
        request.method() != Method::GET && request.headers().contains_key(HX_BOOSTED);
    let shell_source = Shell::source(&request, &state);
    let mut response = next.run(request).await;
    if boosted_post && response.status().is_client_error() {
        // A refused form stays at the page's own address, not the form's action.
        response
            .headers_mut()
            .insert(HX_PUSH_URL, HeaderValue::from_static("false"));
    }
    let shell = async {
        match shell_source {
            Some(source) => source.shell(&state).await,
            None => Shell::anonymous(),
        }
    };
    context.render(response, shell).await
}
