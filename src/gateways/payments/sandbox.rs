//! The client side of the sandbox provider: Dhune's own stand-in provider,
//! reached over HTTP like a real one. (Being built: issue 11.)

use async_trait::async_trait;

use super::http::Timeouts;
use super::{
    Gateway, InitiateRequest, Initiated, Lookup, LookupQuery, Provider, ProviderError,
    RefundOutcome, RefundRequest, ReturnClaim,
};
use crate::config::Secret;

pub struct Sandbox {
    base_url: String,
    secret: Secret,
    timeouts: Timeouts,
}

impl Sandbox {
    /// `base_url`: where the sandbox is served (this app's public URL
    /// followed by `/sandbox/`).
    pub(crate) fn new(
        base_url: &str,
        secret: Secret,
        timeouts: Timeouts,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            base_url: base_url.to_owned(),
            secret,
            timeouts,
        })
    }

    fn unbuilt(&self) -> ProviderError {
        let _ = (&self.secret, self.timeouts);
        ProviderError::Invalid(format!("the sandbox at {} is not built yet", self.base_url))
    }
}

#[async_trait]
impl Gateway for Sandbox {
    fn kind(&self) -> Provider {
        Provider::Sandbox
    }

    async fn initiate(&self, _request: &InitiateRequest) -> Result<Initiated, ProviderError> {
        Err(self.unbuilt())
    }

    fn verify_return(&self, _params: &[(String, String)]) -> Result<ReturnClaim, ProviderError> {
        Err(self.unbuilt())
    }

    async fn lookup(&self, _query: &LookupQuery) -> Result<Lookup, ProviderError> {
        Err(self.unbuilt())
    }

    async fn refund(&self, _request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Err(self.unbuilt())
    }
}
