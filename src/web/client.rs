//! The client's address, for the limits on login and sign-up attempts.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use super::error::AppError;

/// The client's IP address: the connection's peer, or, when
/// `DHUNE_TRUSTED_PROXY` names a header, the address the proxy put last in
/// it (a client can forge the entries before the proxy's own).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let forwarded = state.config.trusted_proxy.as_ref().and_then(|header| {
            parts
                .headers
                .get_all(header)
                .iter()
                .next_back()
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.rsplit(',').next())
                .and_then(|last| last.trim().parse().ok())
        });
        if let Some(address) = forwarded {
            return Ok(Self(address));
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| Self(peer.ip()))
            .ok_or_else(|| anyhow::anyhow!("no peer address: serve with dhune::web::serve").into())
    }
}
