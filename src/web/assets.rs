//! Static files: `static/`, served compressed (the app's `CompressionLayer`)
//! under versioned URLs, `/static/app.css?v=<hash of its contents>`, which
//! may be cached for a year. The versions are computed once, at start-up.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/static");

/// A URL carrying the file's current version never changes meaning.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Any other (no version, an old or a wrong one): ask again each time (a
/// `304 Not Modified` when unchanged), so it is never kept stale.
const REVALIDATE: &str = "no-cache";

/// Each file's version: the start of the SHA-256 of its contents.
static VERSIONS: OnceLock<HashMap<String, String>> = OnceLock::new();

/// `/static`, each response cached according to its version.
pub fn router<S: Clone + Send + Sync + 'static>() -> anyhow::Result<Router<S>> {
    if VERSIONS.get().is_none() {
        // A second app in the same process (tests) reads the same files.
        let _ = VERSIONS.set(versions(Path::new(DIR))?);
    }
    Ok(Router::new()
        .nest_service("/static", ServeDir::new(DIR))
        .layer(middleware::from_fn(cache_control)))
}

/// The URL of `name` in `static/`, with its version when it has one.
pub fn url(name: &str) -> String {
    match VERSIONS.get().and_then(|versions| versions.get(name)) {
        Some(version) => format!("/static/{name}?v={version}"),
        None => format!("/static/{name}"),
    }
}

fn versions(dir: &Path) -> anyhow::Result<HashMap<String, String>> {
    let mut versions = HashMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let contents =
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        versions.insert(name.to_owned(), version_of(&contents));
    }
    Ok(versions)
}

fn version_of(contents: &[u8]) -> String {
    Sha256::digest(contents)
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `uri` names a static file with its current version.
fn is_current(uri: &Uri) -> bool {
    let name = uri.path().trim_start_matches("/static/");
    let (Some(version), Some(query)) = (
        VERSIONS.get().and_then(|versions| versions.get(name)),
        uri.query(),
    ) else {
        return false;
    };
    query
        .split('&')
        .any(|pair| pair.strip_prefix("v=") == Some(version.as_str()))
}

async fn cache_control(request: Request, next: Next) -> Response {
    let current = is_current(request.uri());
    let mut response = next.run(request).await;
    let value = if current && response.status().is_success() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_a_short_hash_of_the_contents() {
        assert_eq!(version_of(b"body { color: red }").len(), 12);
        assert_eq!(
            version_of(b"body { color: red }"),
            version_of(b"body { color: red }")
        );
        assert_ne!(
            version_of(b"body { color: red }"),
            version_of(b"body { color: blue }")
        );
    }
}
