//! argon2id password hashing at OWASP's parameters, off the async threads,
//! at most one hash per core at a time (each takes 19 MiB).

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::{MarketError, MarketResult};
use crate::domain::account::Password;

/// How long a request waits for a hashing permit before it is told the
/// server is busy.
const WAIT_FOR_PERMIT: Duration = Duration::from_secs(3);

fn argon2() -> anyhow::Result<Argon2<'static>> {
    // m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum for argon2id.
    let params = Params::new(19_456, 2, 1, None)
        .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// One permit per core: the hashes that may run at once.
fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Runs `work` on a blocking thread once a permit is free, or answers
/// [`MarketError::Busy`] after [`WAIT_FOR_PERMIT`]. The permit goes with the
/// work, so a request that gives up meanwhile does not free it early.
async fn with_permit<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> MarketResult<T> {
    let permit = tokio::time::timeout(WAIT_FOR_PERMIT, permits().acquire_owned())
        .await
        .map_err(|_| MarketError::Busy)?
        .context("the hashing permits are closed")?;
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .context("password hashing task")??;
    Ok(result)
}

pub async fn hash(password: &Password) -> MarketResult<String> {
    let password = password.clone();
    with_permit(move || {
        let salt = SaltString::generate(&mut rand::thread_rng());
        let hash = argon2()?
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|err| anyhow::anyhow!("hashing a password: {err}"))?;
        Ok(hash.to_string())
    })
    .await
}

/// Checks `password` against `stored`. Without a stored hash (unknown
/// account) a dummy hash is checked, so both cases take the same time.
pub async fn verify(password: &str, stored: Option<String>) -> MarketResult<bool> {
    let password = password.to_owned();
    with_permit(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => dummy_hash()?,
        };
        let parsed = PasswordHash::new(&stored)
            .map_err(|err| anyhow::anyhow!("stored password hash is malformed: {err}"))?;
        let matches = argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(matches && known)
    })
    .await
}

/// A hash of a random password, made once per process.
fn dummy_hash() -> anyhow::Result<String> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let salt = SaltString::generate(&mut rand::thread_rng());
    let hash = argon2()?
        .hash_password(salt.as_str().as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("hashing the dummy password: {err}"))?
        .to_string();
    Ok(DUMMY.get_or_init(|| hash).clone())
}
