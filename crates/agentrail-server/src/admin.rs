//! Admin endpoints: API keys and on-demand checkpoints. Every change goes through the one writer
//! and is recorded in the ledger before it is answered.

use crate::auth::Role;
use crate::error::ApiError;
use crate::AppState;
use agentrail_store::backend::ApiKeyRow;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The body of `POST /api/v1/admin/api-keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub role: String,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A key as listed: never its secret.
pub fn key_json(row: &ApiKeyRow) -> Value {
    agentrail_store::apikeys::describe(row)
}

pub async fn create_key(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    // Authenticate first: nothing about the endpoint is revealed to an anonymous caller.
    let caller = st.auth.authorize(&headers, Role::Admin)?;
    if crate::body::media_type(&headers).as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "send the new key's description as application/json".into(),
        ));
    }
    let bytes = crate::body::read(&headers, body, &st.limits).await?;
    let req: CreateKey = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be {{\"role\": \"ingest|read|admin\", \"agent\"?: ..., \"name\"?: ...}}: {e}"
        ))
    })?;
    let by = caller.label();
    // The key table in memory changes on the writer thread, with the commit: a caller that
    // goes away mid-request cannot leave the two apart.
    let state = st.clone();
    let (text, row) = st
        .run_on_writer(move |l| {
            let created = l.create_api_key(
                &req.role,
                req.agent.as_deref(),
                req.name.as_deref().unwrap_or(""),
                &by,
            )?;
            state.auth.upsert(created.1.clone());
            Ok(created)
        })
        .await?;
    tracing::info!(key_id = %row.id, role = %row.role, by = %caller.label(), "API key created");
    let mut out = key_json(&row);
    out["key"] = Value::String(text);
    Ok(Json(out))
}

pub async fn list_keys(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    st.auth.authorize(&headers, Role::Admin)?;
    let rows = st.run_on_writer(|l| l.api_keys()).await?;
    Ok(Json(
        json!({"keys": rows.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

pub async fn revoke_key(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Admin)?;
    let by = caller.label();
    let row = st
        .run_on_writer(move |l| l.revoke_api_key(&id, &by))
        .await?;
    st.auth.upsert(row.clone());
    tracing::info!(key_id = %row.id, by = %caller.label(), "API key revoked");
    Ok(Json(key_json(&row)))
}

/// `POST /api/v1/admin/checkpoint`: signs a checkpoint of everything committed (if the tree
/// grew) and returns it verbatim.
pub async fn new_checkpoint(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<String, ApiError> {
    st.auth.authorize(&headers, Role::Admin)?;
    let row = st.run_on_writer(|l| l.checkpoint_now()).await?;
    Ok(row.note)
}
