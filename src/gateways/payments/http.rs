//! The HTTP client shared by the real providers: rustls, HTTP/1, a connect
//! timeout and a total timeout on every call, no redirects followed, and
//! answers read up to a size limit.

use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode, redirect};
use serde::de::DeserializeOwned;

use super::ProviderError;

/// No answer a provider documents comes near this.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

pub(crate) fn client(timeouts: Timeouts) -> Result<Client, ProviderError> {
    Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(redirect::Policy::none())
        .user_agent(concat!("dhune/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client: {e}")))
}

/// A provider's answer, whatever its status.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The start of the body, printable, for error messages and logs.
    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect()
    }

    /// A 5xx or an unreadable answer: we do not know what happened.
    pub fn unexpected(&self) -> ProviderError {
        ProviderError::BadAnswer(format!("HTTP {}: {}", self.status.as_u16(), self.snippet()))
    }
}

/// Sends the request and reads the whole answer within the client's timeouts.
pub(crate) async fn send(request: RequestBuilder) -> Result<Answer, ProviderError> {
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProviderError::BadAnswer(format!(
                "HTTP {}: an answer larger than {MAX_ANSWER_BYTES} bytes",
                status.as_u16()
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body })
}

fn transport_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout
    } else if error.is_body() || error.is_decode() {
        ProviderError::BadAnswer(error.to_string())
    } else {
        ProviderError::Network(error.to_string())
    }
}
