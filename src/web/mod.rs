//! The HTTP layer: router, middleware, extractors and one module per portal.
//! Handlers parse input, call one `market::` operation and render the result.

mod admin;
mod admin_stats;
mod assets;
mod auth;
mod books;
mod charts;
mod client;
mod commission;
mod csrf;
mod customer;
mod error;
mod extract;
mod fmt;
pub(crate) mod form;
mod headers;
mod identity;
mod live;
mod notifications;
mod orders;
mod pages;
mod payments;
mod payments_admin;
mod payouts;
mod requests;
mod sandbox;
mod serve;
mod session;
mod stats;
mod vendor;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware;
use axum_login::AuthManagerLayerBuilder;
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_cookies::Key;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::Config;
use crate::events::relay::Live;
use crate::gateways::payments::Gateway;
pub use auth::Backend;
pub use error::AppError;
use identity::Identity;
pub use serve::serve;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What every handler and middleware shares, behind the one `Arc` of
/// [`AppState`]: handing the state on (a clone per extractor and
/// middleware, several each request) is one count, not one per part.
pub struct Shared {
    pub pool: PgPool,
    pub config: Config,
    pub live: Live,
    /// The configured payment provider.
    pub payments: Arc<dyn Gateway>,
    /// Sessions and signed-in users this instance keeps.
    pub identity: Arc<Identity>,
    /// Signs the cookies the app reads back (the flash messages); every
    /// instance has the same.
    pub cookie_key: Key,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: routes, sessions, login, CSRF, static files, and
/// this instance's event relay.
pub async fn build_app(pool: PgPool, config: Config) -> anyhow::Result<Router> {
    let live = crate::events::relay::start(pool.clone()).await?;
    let identity = Identity::start(pool.clone(), &live);
    let session_layer =
        SessionManagerLayer::new(session::Store::new(pool.clone(), identity.clone()))
            .with_name("dhune_session")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(config.secure_cookies)
            .with_expiry(Expiry::OnInactivity(session::IDLE_EXPIRY));
    let auth_layer =
        AuthManagerLayerBuilder::new(Backend::new(pool.clone(), identity.clone()), session_layer)
            .build();

    let static_files = assets::router()?;

    let cookie_key = cookie_key(&pool).await?;
    let https = config.secure_cookies;
    let payments = crate::gateways::payments::build(&config)?;
    let state = AppState(Arc::new(Shared {
        pool,
        config,
        live,
        payments,
        identity,
        cookie_key,
    }));
    let pages = Router::new()
        .merge(pages::router())
        .merge(auth::router())
        .merge(customer::router())
        .merge(vendor::router())
        .merge(admin::router())
        .merge(admin_stats::router())
        .merge(payments_admin::router())
        .merge(payouts::router())
        .merge(stats::router())
        .merge(books::router())
        .merge(commission::router())
        .merge(requests::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(live::router())
        .merge(notifications::router())
        .fallback(pages::not_found)
        .layer(middleware::from_fn(csrf::verify_token))
        .layer(CsrfLayer::new().with_rejection_response(error::cross_origin_rejected))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_error_pages,
        ))
        .layer(auth_layer)
        .layer(middleware::from_fn(session::answer_store_failures));
    let sandbox = sandbox::router(&state)?;
    let app = headers::no_store(pages)
        .merge(static_files)
        .merge(payments::callbacks())
        .merge(sandbox)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(&REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            id = %request_id,
                            method = %request.method(),
                            path = %request.uri().path(),
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                ))
                .layer(CompressionLayer::new()),
        );
    Ok(headers::secure(app, https))
}

/// The key every instance signs cookies with: the stored one, or a new one
/// when this is the first instance to start.
async fn cookie_key(pool: &PgPool) -> anyhow::Result<Key> {
    let stored = crate::market::identity::cookie_key(pool, Key::generate().master()).await?;
    Key::try_from(stored.as_slice()).map_err(|err| anyhow::anyhow!("the stored cookie key: {err}"))
}
