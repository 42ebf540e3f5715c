//! Who is calling: API keys from the `Authorization: Bearer` header, roles, agent binding, the
//! local admin token of the CLI, and per-key rate limits.
//!
//! With no active key the server is open, and it runs open only on a loopback address (`serve`
//! refuses anything else); the moment a key exists, every request needs one.

use crate::error::ApiError;
use agentrail_store::apikeys::{self, PresentedKey};
use agentrail_store::backend::ApiKeyRow;
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

/// What a caller may do. Admin may do everything; read may read; ingest may write events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ingest,
    Read,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "ingest" => Some(Role::Ingest),
            "read" => Some(Role::Read),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    fn allows(self, need: Role) -> bool {
        self == Role::Admin || self == need
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's public id; `None` when the server is open (no keys, loopback).
    pub key_id: Option<String>,
    pub role: Role,
    /// For agent-bound ingest keys: the only agent this caller may write events for.
    pub agent: Option<String>,
}

impl Caller {
    /// How this caller is named in ledger records.
    pub fn label(&self) -> String {
        match &self.key_id {
            Some(id) => format!("key:{id}"),
            None => "anonymous-loopback".into(),
        }
    }
}

/// A token bucket per key: `rate` requests a second, bursts of up to `rate`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The server's view of the API keys.
#[derive(Debug)]
pub struct Auth {
    keys: RwLock<HashMap<String, ApiKeyRow>>,
    /// Whether the server may run open when no key is active: only on a loopback address.
    open_allowed: bool,
    local_admin_token: Option<String>,
    rate_per_key: Option<f64>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Auth {
    /// `local_admin_token`: the token `serve` writes to `DATA/server.json` for the CLI on the
    /// same machine (whoever can read the data directory can read everything anyway).
    /// `open_allowed`: true only when listening on a loopback address; otherwise a key is
    /// required even after the last one is revoked.
    pub fn new(
        rows: Vec<ApiKeyRow>,
        open_allowed: bool,
        local_admin_token: Option<String>,
        rate_per_key: Option<u32>,
    ) -> Self {
        Auth {
            keys: RwLock::new(rows.into_iter().map(|r| (r.id.clone(), r)).collect()),
            open_allowed,
            local_admin_token,
            rate_per_key: rate_per_key.map(f64::from),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// True when at least one key is active: then every request must present one.
    pub fn enforced(&self) -> bool {
        !self.open_allowed
            || self
                .keys
                .read()
                .map(|k| k.values().any(|r| r.revoked_at.is_none()))
                .unwrap_or(true)
    }

    /// Adds or replaces a key (after the ledger stored it).
    pub fn upsert(&self, row: ApiKeyRow) {
        if let Ok(mut k) = self.keys.write() {
            k.insert(row.id.clone(), row);
        }
    }

    /// Authenticates the request and checks that its role allows `need`.
    pub fn authorize(&self, headers: &HeaderMap, need: Role) -> Result<Caller, ApiError> {
        let presented = bearer(headers)?;
        if let (Some(token), Some(local)) = (presented.as_deref(), &self.local_admin_token) {
            if constant_time_eq(token.as_bytes(), local.as_bytes()) {
                return Ok(Caller {
                    key_id: Some("local-admin".into()),
                    role: Role::Admin,
                    agent: None,
                });
            }
        }
        let caller = match presented {
            None if !self.enforced() => {
                open_mode_checks(headers, need)?;
                Caller {
                    key_id: None,
                    role: need,
                    agent: None,
                }
            }
            None => {
                return Err(ApiError::Unauthorized(
                    "this server requires an API key: send Authorization: Bearer <key>".into(),
                ))
            }
            Some(text) => self.lookup(&text)?,
        };
        if !caller.role.allows(need) {
            return Err(ApiError::Forbidden(format!(
                "this key has the {} role; this needs {}",
                caller.role.as_str(),
                need.as_str()
            )));
        }
        self.rate_limit(&caller)?;
        Ok(caller)
    }

    fn lookup(&self, text: &str) -> Result<Caller, ApiError> {
        let unknown = || ApiError::Unauthorized("unknown or revoked API key".into());
        let key: PresentedKey = apikeys::parse_key(text).ok_or_else(unknown)?;
        let keys = self
            .keys
            .read()
            .map_err(|_| ApiError::Internal("API key table lock poisoned".into()))?;
        let row = keys.get(&key.id).ok_or_else(unknown)?;
        if !apikeys::matches(row, &key) {
            return Err(unknown());
        }
        let role = Role::parse(&row.role)
            .ok_or_else(|| ApiError::Internal(format!("key {} has role {:?}", row.id, row.role)))?;
        Ok(Caller {
            key_id: Some(row.id.clone()),
            role,
            agent: row.agent.clone(),
        })
    }

    fn rate_limit(&self, caller: &Caller) -> Result<(), ApiError> {
        let (Some(rate), Some(id)) = (self.rate_per_key, &caller.key_id) else {
            return Ok(());
        };
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| ApiError::Internal("rate limiter lock poisoned".into()))?;
        let now = Instant::now();
        let b = buckets.entry(id.clone()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(ApiError::RateLimited(format!(
                "key {id} is limited to {rate} requests a second"
            )));
        }
        b.tokens -= 1.0;
        Ok(())
    }
}

/// What an anonymous request must satisfy while the server is open (no key, loopback only). A
/// browser on this machine can reach a loopback port too, so: no admin without the local token;
/// no request a web page could have sent cross-site (an `Origin` header); and no `Host` but a
/// loopback name, which defeats DNS rebinding.
fn open_mode_checks(headers: &HeaderMap, need: Role) -> Result<(), ApiError> {
    if need == Role::Admin {
        return Err(ApiError::Unauthorized(
            "admin requests need an admin key or the local admin token (DATA/server.json), also while no key exists".into(),
        ));
    }
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::Forbidden(
            "requests from a web page (with an Origin header) need an API key".into(),
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(ApiError::Forbidden(format!(
            "Host {host:?} is not a loopback name: without API keys this server answers only requests addressed to localhost"
        )));
    }
    Ok(())
}

fn bearer(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    let (scheme, token) = text.trim().split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "send the key as Authorization: Bearer <key>".into(),
        ));
    }
    Ok(Some(token.trim().to_string()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn open_without_keys_enforced_with_them() {
        let auth = Auth::new(vec![], true, None, None);
        assert_eq!(
            auth.authorize(&headers(None), Role::Ingest).unwrap().key_id,
            None
        );
        assert!(matches!(
            auth.authorize(&headers(None), Role::Admin),
            Err(ApiError::Unauthorized(_))
        ));
        let mut cross_site = headers(None);
        cross_site.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(matches!(
            auth.authorize(&cross_site, Role::Ingest),
            Err(ApiError::Forbidden(_))
        ));
        let mut rebound = headers(None);
        rebound.insert(header::HOST, HeaderValue::from_static("evil.example:4318"));
        assert!(matches!(
            auth.authorize(&rebound, Role::Ingest),
            Err(ApiError::Forbidden(_))
        ));
        for ok in ["127.0.0.1:4318", "localhost", "[::1]:4318", "LOCALHOST:1"] {
            let mut h = headers(None);
            h.insert(header::HOST, HeaderValue::from_static(ok));
            assert!(auth.authorize(&h, Role::Read).is_ok(), "{ok}");
        }
        let (text, row) = apikeys::mint("ingest", Some("a1"), "k", "t").unwrap();
        auth.upsert(row.clone());
        assert!(matches!(
            auth.authorize(&headers(None), Role::Ingest),
            Err(ApiError::Unauthorized(_))
        ));
        let c = auth
            .authorize(&headers(Some(&format!("Bearer {text}"))), Role::Ingest)
            .unwrap();
        assert_eq!(c.agent.as_deref(), Some("a1"));
        assert!(matches!(
            auth.authorize(&headers(Some(&format!("Bearer {text}"))), Role::Read),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            auth.authorize(&headers(Some("Basic abc")), Role::Ingest),
            Err(ApiError::Unauthorized(_))
        ));
        let mut revoked = row;
        revoked.revoked_at = Some("t2".into());
        auth.upsert(revoked);
        // No active key left: open again, on loopback only.
        assert!(!auth.enforced());
        let public = Auth::new(vec![], false, None, None);
        assert!(public.enforced());
        assert!(matches!(
            public.authorize(&headers(None), Role::Ingest),
            Err(ApiError::Unauthorized(_))
        ));
    }

    #[test]
    fn local_admin_token_and_rate_limit() {
        let (text, row) = apikeys::mint("admin", None, "k", "t").unwrap();
        let auth = Auth::new(vec![row], true, Some("local-secret".into()), Some(2));
        let c = auth
            .authorize(&headers(Some("Bearer local-secret")), Role::Admin)
            .unwrap();
        assert_eq!(c.key_id.as_deref(), Some("local-admin"));
        let h = headers(Some(&format!("Bearer {text}")));
        assert!(auth.authorize(&h, Role::Read).is_ok());
        assert!(auth.authorize(&h, Role::Read).is_ok());
        assert!(matches!(
            auth.authorize(&h, Role::Read),
            Err(ApiError::RateLimited(_))
        ));
    }
}
