//! `agentrail api-keys create|list|revoke`. Directly on the data directory when no server runs;
//! through the running server's admin API when one does.

use super::remote::Server;
use crate::cli::ApiKeysCommand;
use crate::exit::Exit;
use agentrail_store::ledger::open_read;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

pub fn run(data: &Path, cmd: &ApiKeysCommand) -> Result<Exit> {
    match cmd {
        ApiKeysCommand::List => list(data),
        ApiKeysCommand::Create { role, agent, name } => {
            let created = match super::open_writer(data, "agentrail api-keys create") {
                Ok(mut ledger) => {
                    let (text, row) = ledger.create_api_key(role, agent.as_deref(), name, "cli")?;
                    let mut v = agentrail_server::admin::key_json(&row);
                    v["key"] = Value::String(text);
                    v
                }
                Err(e) => {
                    let server = Server::for_locked(data, &e).ok_or(e)?;
                    let body = json!({"role": role, "agent": agent, "name": name});
                    let text = server.post_json("/api/v1/admin/api-keys", &body, "the new key")?;
                    serde_json::from_str(&text).context("reading the server's answer")?
                }
            };
            say!("{}", created["key"].as_str().unwrap_or_default());
            eprintln!(
                "created API key {} (role {}{}); it is shown once and stored only as a hash",
                created["id"].as_str().unwrap_or_default(),
                created["role"].as_str().unwrap_or_default(),
                created["agent"]
                    .as_str()
                    .map(|a| format!(", agent {a}"))
                    .unwrap_or_default()
            );
            Ok(Exit::Success)
        }
        ApiKeysCommand::Revoke { id } => {
            let revoked = match super::open_writer(data, "agentrail api-keys revoke") {
                Ok(mut ledger) => {
                    agentrail_server::admin::key_json(&ledger.revoke_api_key(id, "cli")?)
                }
                Err(e) => {
                    let server = Server::for_locked(data, &e).ok_or(e)?;
                    let text =
                        server.delete(&format!("/api/v1/admin/api-keys/{id}"), "the revocation")?;
                    serde_json::from_str(&text).context("reading the server's answer")?
                }
            };
            say!(
                "revoked API key {} at {}",
                revoked["id"].as_str().unwrap_or_default(),
                revoked["revoked_at"].as_str().unwrap_or_default()
            );
            Ok(Exit::Success)
        }
    }
}

fn list(data: &Path) -> Result<Exit> {
    let mut backend = open_read(data)?;
    let keys = backend.api_keys()?;
    if keys.is_empty() {
        say!("no API keys: the server accepts unauthenticated requests, on loopback only");
        return Ok(Exit::Success);
    }
    say!(
        "{:<16}  {:<6}  {:<20}  {:<30}  {:<30}  name",
        "id",
        "role",
        "agent",
        "created",
        "revoked"
    );
    for k in keys {
        say!(
            "{:<16}  {:<6}  {:<20}  {:<30}  {:<30}  {}",
            k.id,
            k.role,
            k.agent.as_deref().unwrap_or("-"),
            k.created_at,
            k.revoked_at.as_deref().unwrap_or("-"),
            k.name.escape_debug()
        );
    }
    Ok(Exit::Success)
}
