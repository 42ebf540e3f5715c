//! Talking to a running `agentrail serve` on this machine.
//!
//! While the server runs it is the data directory's one writer; writing verbs that find the
//! directory locked by it send their change through its admin API instead, authenticated by the
//! local admin token it keeps in `DATA/server.json` (mode 0600: whoever can read the data
//! directory can already read everything in it).

use agentrail_store::ledger::DataDir;
use agentrail_store::LedgerError;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;

/// A running server's address and local admin token.
#[derive(Debug)]
pub struct Server {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Server {
    /// The server holding `data`, if `err` says the directory is locked and the server left its
    /// address behind.
    pub fn for_locked(data: &Path, err: &anyhow::Error) -> Option<Server> {
        let locked = err.chain().any(|c| {
            matches!(
                c.downcast_ref::<LedgerError>(),
                Some(LedgerError::Locked { .. })
            )
        });
        if !locked {
            return None;
        }
        let text = std::fs::read_to_string(DataDir::new(data).server_info()).ok()?;
        let info: Value = serde_json::from_str(&text).ok()?;
        let listen = info["listen"].as_str()?;
        let token = info["admin_token"].as_str()?.to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Some(Server {
            base: format!("http://{listen}"),
            token,
            agent,
        })
    }

    fn check(mut resp: ureq::http::Response<ureq::Body>, what: &str) -> Result<String> {
        let status = resp.status();
        let body = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the server's answer to {what}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(body);
            let refusal = format!("the running server refused {what} ({status}): {message}");
            // Refused input (unknown id, bad argument) is invalid input, as it would be locally;
            // anything else (auth, overload, failure) is the environment's.
            return Err(match status.as_u16() {
                400 | 404 | 409 | 413 | 422 => crate::exit::InvalidInput(refusal).into(),
                _ => anyhow::anyhow!(refusal),
            });
        }
        Ok(body)
    }

    /// A POST to `path` with the local admin token.
    fn post(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        self.agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
    }

    fn sent(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<String> {
        let resp =
            resp.with_context(|| format!("sending {what} to the running server at {}", self.base))?;
        Self::check(resp, what)
    }

    pub fn post_json(&self, path: &str, body: &Value, what: &str) -> Result<String> {
        self.sent(self.post(path).send_json(body), what)
    }

    pub fn post_empty(&self, path: &str, what: &str) -> Result<String> {
        self.sent(self.post(path).send_empty(), what)
    }

    pub fn post_ndjson(&self, path: &str, body: Vec<u8>, what: &str) -> Result<String> {
        let req = self
            .post(path)
            .header("Content-Type", "application/x-ndjson");
        self.sent(req.send(&body[..]), what)
    }

    pub fn delete(&self, path: &str, what: &str) -> Result<String> {
        let req = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token));
        self.sent(req.call(), what)
    }
}
