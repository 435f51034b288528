//! Extractors: the page shell (user, CSRF token, flash messages) and the
//! role guards every handler states explicitly.

use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tower_cookies::cookie::SameSite;
use tower_cookies::{Cookie, Cookies, Key};
use tower_sessions::Session;

use super::AppState;
use super::auth::AuthSession;
use super::csrf;
use super::error::AppError;
use super::session;
use crate::domain::account::Role;
use crate::market::accounts::User;
use crate::market::{MarketError, notifications};

/// The cookie that carries the queued flash messages.
const FLASH_COOKIE: &str = "dhune_flash";

/// At most this many messages wait for the next page; older ones drop off.
const FLASH_QUEUE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlashKind {
    Success,
    Info,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

impl Flash {
    pub fn class(&self) -> &'static str {
        match self.kind {
            FlashKind::Success => "success",
            FlashKind::Info => "info",
        }
    }
}

/// This browser's flash messages: queued in a cookie signed with the site's
/// key until the next page shows them once. Nothing is written to the
/// session, so a form that flashes and the page after it save no session
/// row, and any instance that shares the key shows the message.
#[derive(Clone)]
pub struct Flashes {
    cookies: Cookies,
    key: Key,
    secure: bool,
}

impl Flashes {
    fn new(cookies: Cookies, state: &AppState) -> Self {
        Self {
            cookies,
            key: state.cookie_key.clone(),
            secure: state.config.secure_cookies,
        }
    }

    /// The queued messages; a cookie that is not ours (unsigned, altered,
    /// or signed with another key) or not readable queues none.
    fn queued(&self) -> Vec<Flash> {
        self.cookies
            .signed(&self.key)
            .get(FLASH_COOKIE)
            .and_then(|cookie| URL_SAFE_NO_PAD.decode(cookie.value()).ok())
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default()
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build((FLASH_COOKIE, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
    }

    /// Queues a message for the next page this browser shows.
    pub fn push(&self, kind: FlashKind, text: impl Into<String>) {
        let mut queued = self.queued();
        queued.push(Flash {
            kind,
            text: text.into(),
        });
        let keep = queued.len().saturating_sub(FLASH_QUEUE);
        // In base64: the cookie jar writes a value as it is, and a message
        // may hold what a cookie cannot (`;`, quotes, any letter).
        match serde_json::to_vec(&queued[keep..]) {
            Ok(json) => {
                let value = URL_SAFE_NO_PAD.encode(json);
                self.cookies.signed(&self.key).add(self.cookie(value));
            }
            Err(err) => tracing::warn!(error = %err, "could not queue a flash message"),
        }
    }

    /// The queued messages, taken out of the browser.
    pub fn take(&self) -> Vec<Flash> {
        let queued = self.queued();
        self.clear();
        queued
    }

    /// Drops the queued messages (at logout: the next person at this
    /// browser is not shown them). A browser without any is sent nothing.
    pub fn clear(&self) {
        if self.cookies.get(FLASH_COOKIE).is_some() {
            self.cookies.remove(self.cookie(String::new()));
        }
    }
}

impl FromRequestParts<AppState> for Flashes {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let cookies = Cookies::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| anyhow::anyhow!("cookie layer missing: {msg}"))?;
        Ok(Self::new(cookies, state))
    }
}

/// What the base layout needs: who is signed in, the CSRF token for its
/// forms, and the flash messages to show once.
#[derive(Debug, Clone, Default)]
pub struct Shell {
    pub user: Option<User>,
    pub csrf_token: String,
    pub flashes: Vec<Flash>,
    /// The signed-in user's unread notifications.
    pub unread: i64,
}

impl Shell {
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The session, login and flash state of a request, kept to build a
    /// shell later.
    pub fn source(request: &Request, state: &AppState) -> Option<ShellSource> {
        let session = request.extensions().get::<Session>()?.clone();
        let auth = request.extensions().get::<AuthSession>()?.clone();
        let cookies = request.extensions().get::<Cookies>()?.clone();
        Some(ShellSource {
            session,
            flashes: Flashes::new(cookies, state),
            user: auth.user,
        })
    }

    /// The versioned URL of a file in `static/`.
    pub fn asset(&self, name: &str) -> String {
        super::assets::url(name)
    }

    pub fn role(&self) -> Option<&'static str> {
        self.user.as_ref().map(|user| user.role.as_str())
    }

    /// For a page with a form an anonymous visitor may post (login, sign-up):
    /// makes the session's CSRF token if there is none yet.
    pub async fn with_form_token(mut self, session: &Session) -> Result<Self, AppError> {
        if self.csrf_token.is_empty() {
            self.csrf_token = csrf::token(session).await?;
        }
        Ok(self)
    }
}

pub struct ShellSource {
    session: Session,
    flashes: Flashes,
    user: Option<User>,
}

impl ShellSource {
    pub async fn shell(self, state: &AppState) -> Shell {
        let unread = match &self.user {
            Some(user) => match state.identity.user(user.id) {
                Some(known) => known.unread,
                None => notifications::unread_count(&state.pool, user.id)
                    .await
                    .unwrap_or_else(|err| {
                        tracing::warn!(error = ?err, "could not count unread notifications");
                        0
                    }),
            },
            None => 0,
        };
        // Signed-in pages always carry forms (log out, at least); anonymous
        // ones only on the login and sign-up pages, which ask for a token.
        let token = match &self.user {
            Some(_) => csrf::token(&self.session).await.map(Some),
            None => csrf::existing_token(&self.session).await,
        };
        let csrf_token = token
            .unwrap_or_else(|err| {
                tracing::warn!(error = ?err, "no CSRF token for the page");
                None
            })
            .unwrap_or_default();
        if self.user.is_some() {
            session::keep_alive(&self.session).await;
        }
        let flashes = self.flashes.take();
        Shell {
            user: self.user,
            csrf_token,
            flashes,
            unread,
        }
    }
}

/// For a handler that shows a page only sometimes: the shell is built
/// (flashes taken out of the browser) only when it asks.
impl FromRequestParts<AppState> for ShellSource {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| anyhow::anyhow!("session layer missing: {msg}"))?;
        let auth = AuthSession::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| anyhow::anyhow!("auth layer missing: {msg}"))?;
        Ok(ShellSource {
            session,
            flashes: Flashes::from_request_parts(parts, state).await?,
            user: auth.user,
        })
    }
}

impl FromRequestParts<AppState> for Shell {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let source = ShellSource::from_request_parts(parts, state).await?;
        Ok(source.shell(state).await)
    }
}

/// The signed-in user, of any role; anonymous visitors go to the login page.
pub struct SignedIn(pub User);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        signed_in(parts, state).await.map(SignedIn)
    }
}

/// A record id from the path; anything but a positive integer is not found.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Market(MarketError::NotFound))?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Id(id)),
            _ => Err(AppError::Market(MarketError::NotFound)),
        }
    }
}

async fn signed_in<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<User, AppError> {
    let auth = AuthSession::from_request_parts(parts, state)
        .await
        .map_err(|(_, msg)| anyhow::anyhow!("auth layer missing: {msg}"))?;
    match auth.user {
        Some(user) => Ok(user),
        None => {
            let next = parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned());
            Err(AppError::LoginRequired(next))
        }
    }
}

macro_rules! role_guard {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(pub User);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let user = signed_in(parts, state).await?;
                if user.role == $role {
                    Ok($name(user))
                } else {
                    Err(AppError::WrongRole)
                }
            }
        }
    };
}

role_guard!(
    Customer,
    Role::Customer,
    "A signed-in customer; other roles get 403."
);
role_guard!(
    Vendor,
    Role::Vendor,
    "A signed-in vendor; other roles get 403."
);
role_guard!(
    Admin,
    Role::Admin,
    "A signed-in admin; other roles get 403."
);
