//! The session-bound CSRF token (the second lock beside tower-http's
//! cross-origin check): every unsafe request must carry the session's token,
//! as the `csrf_token` form field or the `X-CSRF-Token` header.
//!
//! Sessions and randomness come from tower-sessions and `rand`; what is here
//! is only the comparison, because no maintained crate offers a synchronizer
//! token bound to a tower-sessions session.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::error::AppError;

const SESSION_KEY: &str = "csrf_token";
pub const FORM_FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";
/// The largest form body accepted (forms carry text fields only).
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The session's token if it has one. Pages for anonymous visitors read it
/// this way, so a visitor who only looks gets no session row.
pub async fn existing_token(session: &Session) -> anyhow::Result<Option<String>> {
    Ok(session.get::<String>(SESSION_KEY).await?)
}

/// The session's token, made on first use.
pub async fn token(session: &Session) -> anyhow::Result<String> {
    if let Some(token) = existing_token(session).await? {
        return Ok(token);
    }
    rotate(session).await
}

/// Gives the session a new token (at login and sign-up); the old one is
/// refused from then on.
pub async fn rotate(session: &Session) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses unsafe requests whose token is missing or does not match the
/// session's; nothing behind this runs for them.
pub async fn verify_token(session: Session, request: Request, next: Next) -> Response {
    if is_safe(request.method()) {
        return next.run(request).await;
    }
    let expected = match session.get::<String>(SESSION_KEY).await {
        Ok(Some(expected)) => expected,
        Ok(None) => return AppError::CsrfToken.into_response(),
        Err(err) => {
            return AppError::Internal(anyhow::anyhow!("reading the CSRF token: {err}"))
                .into_response();
        }
    };
    let header_token = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (request, sent) = match header_token {
        Some(token) => (request, Some(token)),
        None => match form_token(request).await {
            Ok(pair) => pair,
            Err(err) => return err.into_response(),
        },
    };
    let matches = sent.is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(expected.as_bytes())));
    if matches {
        next.run(request).await
    } else {
        AppError::CsrfToken.into_response()
    }
}

/// Reads the `csrf_token` field of an url-encoded body and hands back a
/// request with the same body for the handler.
async fn form_token(request: Request) -> Result<(Request, Option<String>), AppError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AppError::TooLarge)?;
    let token = form_urlencoded_field(&bytes, FORM_FIELD);
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_among_fields() {
        assert_eq!(
            form_urlencoded_field(b"a=1&csrf_token=abc%3D&b=2", FORM_FIELD),
            Some("abc=".into())
        );
        assert_eq!(form_urlencoded_field(b"a=1", FORM_FIELD), None);
    }
}
