//! argon2id password hashing at OWASP's parameters, on a few threads of its
//! own, at most one hash per core at a time (each takes 19 MiB).

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::{
    self, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier,
    Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::{MarketError, MarketResult};
use crate::domain::account::Password;

/// How long a request waits for a hashing permit before it is told the
/// server is busy.
const WAIT_FOR_PERMIT: Duration = Duration::from_secs(3);

/// m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum for argon2id.
fn params() -> anyhow::Result<Params> {
    Params::new(19_456, 2, 1, None).map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))
}

thread_local! {
    /// The 19 MiB an argon2 computation works in, kept by each hashing
    /// thread for the next one: allocating it for every hash made the
    /// allocator keep ever more of them (over 300 MiB after 40 logins).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2, computing in the calling thread's [`MEMORY`]. Verifying comes
/// with it (password-hash's `PasswordVerifier` for every `PasswordHasher`).
struct Argon2InReusedMemory;

impl PasswordHasher for Argon2InReusedMemory {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or(Algorithm::Argon2id);
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or(Version::V0x13);
        let salt = salt.into();
        let mut salt_buffer = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output = Output::init_with(output_len, |out| {
            MEMORY.with_borrow_mut(|memory| {
                if memory.len() < params.block_count() {
                    memory.resize(params.block_count(), Block::default());
                }
                Ok(argon2.hash_password_into_with_memory(
                    password,
                    salt_bytes,
                    out,
                    memory.as_mut_slice(),
                )?)
            })
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
}

/// One permit per core: the hashes that may run at once.
fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| Arc::new(Semaphore::new(cores())))
        .clone()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

type Job = Box<dyn FnOnce() + Send>;

/// Hands `job` to the hashing threads, started on first use: one per core,
/// kept for the life of the process. Always the same few threads, so the
/// allocator keeps at most a few 19 MiB blocks around; tokio's blocking pool
/// would run hashes on ever new threads, each keeping its own.
fn run_on_hashing_thread(job: Job) -> anyhow::Result<()> {
    static JOBS: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);
    let mut jobs = JOBS
        .lock()
        .map_err(|_| anyhow::anyhow!("the hashing threads' queue is poisoned"))?;
    let sender = match &mut *jobs {
        Some(sender) => sender,
        None => jobs.insert(start_hashing_threads()?),
    };
    sender
        .send(job)
        .map_err(|_| anyhow::anyhow!("the hashing threads have stopped"))
}

fn start_hashing_threads() -> anyhow::Result<mpsc::Sender<Job>> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..cores() {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("dhune-hash-{n}"))
            .spawn(move || {
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .context("starting a password hashing thread")?;
    }
    Ok(sender)
}

/// Runs `work` on a hashing thread once a permit is free, or answers
/// [`MarketError::Busy`] after [`WAIT_FOR_PERMIT`]. The permit goes with the
/// work, so a request that gives up meanwhile does not free it early, and a
/// thread is free whenever a permit is.
async fn with_permit<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> MarketResult<T> {
    let permit = tokio::time::timeout(WAIT_FOR_PERMIT, permits().acquire_owned())
        .await
        .map_err(|_| MarketError::Busy)?
        .context("the hashing permits are closed")?;
    let (done, result) = tokio::sync::oneshot::channel();
    run_on_hashing_thread(Box::new(move || {
        let _permit = permit;
        // The requester may have given up; then nobody needs the answer.
        let _ = done.send(work());
    }))?;
    Ok(result.await.context("the password hashing thread died")??)
}

pub async fn hash(password: &Password) -> MarketResult<String> {
    let password = password.clone();
    with_permit(move || {
        let salt = SaltString::generate(&mut rand::thread_rng());
        let hash = Argon2InReusedMemory
            .hash_password_customized(password.expose().as_bytes(), None, None, params()?, &salt)
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
        let matches = Argon2InReusedMemory
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
    let hash = Argon2InReusedMemory
        .hash_password_customized(salt.as_str().as_bytes(), None, None, params()?, &salt)
        .map_err(|err| anyhow::anyhow!("hashing the dummy password: {err}"))?
        .to_string();
    Ok(DUMMY.get_or_init(|| hash).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_in_reused_memory_are_standard_argon2id() {
        let salt = SaltString::generate(&mut rand::thread_rng());
        let params = params().unwrap();
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        // Twice, so the second runs in the memory the first left behind.
        for _ in 0..2 {
            let ours = Argon2InReusedMemory
                .hash_password_customized(b"laundry-day-42", None, None, params.clone(), &salt)
                .unwrap()
                .to_string();
            let theirs = standard
                .hash_password(b"laundry-day-42", &salt)
                .unwrap()
                .to_string();
            assert_eq!(ours, theirs);
            assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
            let parsed = PasswordHash::new(&theirs).unwrap();
            assert!(
                Argon2InReusedMemory
                    .verify_password(b"laundry-day-42", &parsed)
                    .is_ok()
            );
            assert!(
                Argon2InReusedMemory
                    .verify_password(b"laundry-day-43", &parsed)
                    .is_err()
            );
        }
    }
}
