//! Sign-up, login and logout, and the axum-login backend.

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::{HxRedirect, HxRequest};
use axum_login::{AuthUser, AuthnBackend, UserId};
use serde::Deserialize;
use sqlx::PgPool;
use tower_sessions::Session;

use super::AppState;
use super::client::ClientAddr;
use super::csrf;
use super::error::AppError;
use super::extract::{FlashKind, Flashes, Shell};
use super::form::{ErrorSummary, FormField};
use super::identity::Identity;
use crate::domain::FieldErrors;
use crate::domain::account::{NewAccount, SignupInput};
use crate::domain::request::CITIES;
use crate::market::{self, MarketError, accounts::User};

pub type AuthSession = axum_login::AuthSession<Backend>;

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.session_hash
    }
}

/// Loads the signed-in user on each request, from this instance's
/// [`Identity`] once read. Credentials are checked by the login handler
/// through `market::accounts::log_in`, which also throttles, so this
/// backend takes none (axum-login's `authenticate` would also log every
/// wrong password as an error).
#[derive(Clone)]
pub struct Backend {
    pool: PgPool,
    identity: Arc<Identity>,
}

impl Backend {
    pub fn new(pool: PgPool, identity: Arc<Identity>) -> Self {
        Self { pool, identity }
    }
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Infallible;
    type Error = MarketError;

    async fn authenticate(&self, credentials: Infallible) -> Result<Option<User>, MarketError> {
        match credentials {}
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, MarketError> {
        if let Some(known) = self.identity.user(*id) {
            return Ok(Some(known.user));
        }
        let read_at = self.identity.users_generation();
        let found = market::identity::find_known(&self.pool, *id).await?;
        Ok(found.map(|known| {
            self.identity.keep_user(&known, read_at);
            known.user
        }))
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

/// A local path to return to after login, or `None` for anything that could
/// leave the site (`//host`, `/\host`, absolute URLs, control characters).
pub fn safe_next(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && next.len() <= 2000;
    local.then_some(next)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignupForm {
    name: String,
    email: String,
    phone: String,
    password: String,
    role: String,
    business_name: String,
    city: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/signup.html")]
struct SignupPage {
    shell: Shell,
    form: SignupForm,
    fields: Vec<FormField>,
    /// Asked of laundries only; the page hides them while "customer" is
    /// chosen (CSS, so without JavaScript too) and a customer's are ignored.
    vendor_fields: Vec<FormField>,
    errors: FieldErrors,
    summary: ErrorSummary,
    problem: Option<String>,
}

impl SignupPage {
    fn new(shell: Shell, form: SignupForm, errors: FieldErrors, problem: Option<String>) -> Self {
        let fields = vec![
            FormField::new("name", "Your name", "text", 100)
                .autocomplete("name")
                .with(&form.name, &errors),
            FormField::new("email", "Email", "email", 254)
                .autocomplete("email")
                .with(&form.email, &errors),
            FormField::new("phone", "Phone", "tel", 20)
                .autocomplete("tel")
                .hint("So the laundry, or the customer, can call you about a pickup.")
                .with(&form.phone, &errors),
            FormField::new("password", "Password", "password", 128)
                .autocomplete("new-password")
                .hint("8 to 128 characters; not a common password, nor your name or email.")
                .with(&form.password, &errors),
        ];
        let vendor_fields = vec![
            FormField::new("business_name", "Laundry's name", "text", 100)
                .autocomplete("organization")
                .with(&form.business_name, &errors),
            FormField::new("city", "City", "text", 60)
                .autocomplete("address-level2")
                .suggestions(CITIES)
                .with(&form.city, &errors),
        ];
        let summary = ErrorSummary::default()
            .and("role", errors.get("role"))
            .and_all(&vendor_fields)
            .and_all(&fields);
        Self {
            shell,
            form,
            fields,
            vendor_fields,
            errors,
            summary,
            problem,
        }
    }
}

async fn signup_page(shell: Shell, session: Session) -> Result<impl IntoResponse, AppError> {
    let shell = shell.with_form_token(&session).await?;
    Ok(SignupPage::new(
        shell,
        SignupForm::default(),
        FieldErrors::new(),
        None,
    ))
}

async fn signup(
    State(state): State<AppState>,
    mut auth: AuthSession,
    shell: Shell,
    flashes: Flashes,
    ClientAddr(client): ClientAddr,
    HxRequest(htmx): HxRequest,
    Form(form): Form<SignupForm>,
) -> Result<Response, AppError> {
    let input = SignupInput {
        name: &form.name,
        email: &form.email,
        phone: &form.phone,
        password: &form.password,
        role: &form.role,
        business_name: &form.business_name,
        city: &form.city,
    };
    let created = match NewAccount::parse(&input) {
        Ok(account) => {
            let limit = state.config.signup_limit_per_address;
            market::accounts::sign_up_from(&state.pool, account, client, limit).await
        }
        Err(errors) => Err(MarketError::Invalid(errors)),
    };
    let user = match created {
        Ok(user) => user,
        Err(MarketError::Invalid(errors)) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                SignupPage::new(shell, form, errors, None),
            )
                .into_response());
        }
        Err(MarketError::Throttled { limit, minutes }) => {
            let problem = Some(limit.message(minutes));
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                SignupPage::new(shell, form, FieldErrors::new(), problem),
            )
                .into_response());
        }
        Err(err) => return Err(err.into()),
    };
    start_session(&mut auth, &user).await?;
    flashes.push(
        FlashKind::Success,
        format!("Welcome to Dhune, {}!", user.name),
    );
    Ok(to_new_session(htmx, user.role.home()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextQuery {
    next: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
struct LoginPage {
    shell: Shell,
    fields: Vec<FormField>,
    summary: ErrorSummary,
    next: String,
    problem: Option<String>,
}

impl LoginPage {
    fn new(shell: Shell, form: &LoginForm, errors: &FieldErrors, problem: Option<String>) -> Self {
        let fields = vec![
            FormField::new("email", "Email", "email", 254)
                .autocomplete("username")
                .with(&form.email, errors),
            FormField::new("password", "Password", "password", 128)
                .autocomplete("current-password")
                .with(&form.password, errors),
        ];
        let next = safe_next(&form.next).unwrap_or_default().to_owned();
        let summary = ErrorSummary::of(&fields);
        Self {
            shell,
            fields,
            summary,
            next,
            problem,
        }
    }
}

async fn login_page(
    shell: Shell,
    session: Session,
    auth: AuthSession,
    Query(query): Query<NextQuery>,
) -> Result<Response, AppError> {
    if let Some(user) = &auth.user {
        return Ok(Redirect::to(user.role.home()).into_response());
    }
    let form = LoginForm {
        next: query.next,
        ..LoginForm::default()
    };
    let shell = shell.with_form_token(&session).await?;
    Ok(LoginPage::new(shell, &form, &FieldErrors::new(), None).into_response())
}

async fn login(
    State(state): State<AppState>,
    mut auth: AuthSession,
    shell: Shell,
    ClientAddr(client): ClientAddr,
    HxRequest(htmx): HxRequest,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let refused = |status: StatusCode, errors: FieldErrors, problem: Option<String>| {
        (status, LoginPage::new(shell, &form, &errors, problem)).into_response()
    };
    let limit = state.config.login_limit_per_address;
    let logged_in =
        market::accounts::log_in(&state.pool, &form.email, &form.password, client, limit).await;
    let user = match logged_in {
        Ok(user) => user,
        Err(MarketError::Invalid(errors)) => {
            return Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, errors, None));
        }
        Err(MarketError::Throttled { limit, minutes }) => {
            let problem = Some(limit.message(minutes));
            return Ok(refused(
                StatusCode::TOO_MANY_REQUESTS,
                FieldErrors::new(),
                problem,
            ));
        }
        Err(MarketError::Forbidden(message)) => {
            return Ok(refused(
                StatusCode::FORBIDDEN,
                FieldErrors::new(),
                Some(message),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    start_session(&mut auth, &user).await?;
    let target = safe_next(&form.next).unwrap_or(user.role.home());
    Ok(to_new_session(htmx, target))
}

/// Signs `user` in: a new session id (axum-login cycles it) and a new CSRF
/// token, so nothing seen before signing in works after.
async fn start_session(auth: &mut AuthSession, user: &User) -> Result<(), AppError> {
    auth.login(user)
        .await
        .map_err(|err| anyhow::anyhow!("starting the session: {err}"))?;
    csrf::rotate(&auth.session).await?;
    Ok(())
}

/// Where to go once the session changed (login, sign-up, logout). A page
/// sends its CSRF token in `hx-headers` on `<body>`, which htmx keeps when it
/// swaps a boosted response in, so htmx is told to load the next page whole
/// (`HX-Redirect`); without htmx, a plain redirect.
fn to_new_session(htmx: bool, target: &str) -> Response {
    if htmx {
        (HxRedirect(target.to_owned()), ()).into_response()
    } else {
        Redirect::to(target).into_response()
    }
}

async fn logout(
    mut auth: AuthSession,
    flashes: Flashes,
    HxRequest(htmx): HxRequest,
) -> Result<Response, AppError> {
    auth.logout()
        .await
        .map_err(|err| anyhow::anyhow!("ending the session: {err}"))?;
    flashes.clear();
    Ok(to_new_session(htmx, "/login"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/requests?page=2"), Some("/requests?page=2"));
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\\b",
            "/a\nb",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}
