//! Questions the index answers: session lists with filters, sessions by request id, everything
//! that touched a resource, and who read what. Every list is newest first and paginated by an
//! opaque cursor; a bad filter value is an error that names the filter.

use crate::db::{decode_session, Index};
use crate::session::{normal, Session};
use crate::IndexError;
use agentrail_core::timefmt;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rusqlite::types::Value as Sql;
use serde::Serialize;

/// The most items one page may hold.
pub const MAX_LIMIT: usize = 1000;
/// Items per page when the caller does not say.
pub const DEFAULT_LIMIT: usize = 50;

/// Filters of a session list. Every filter is an exact match except `from` / `to`, which bound
/// when the session started (`from` inclusive, `to` exclusive).
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub agent: Option<String>,
    pub initiator: Option<String>,
    pub trigger: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub system: Option<String>,
    pub resource: Option<String>,
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
    pub principal: Option<String>,
    /// `true`: only sessions with a scope violation (an action or start a policy denied);
    /// `false`: only sessions without one.
    pub violation: Option<bool>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl SessionFilter {
    /// Sets a filter by its API name (`agent`, `from`, `cursor`, ...).
    pub fn set(&mut self, name: &str, value: String) -> Result<(), IndexError> {
        let slot = match name {
            "agent" => &mut self.agent,
            "initiator" => &mut self.initiator,
            "trigger" => &mut self.trigger,
            "status" => &mut self.status,
            "from" => &mut self.from,
            "to" => &mut self.to,
            "system" => &mut self.system,
            "resource" => &mut self.resource,
            "request_id" => &mut self.request_id,
            "conversation_id" => &mut self.conversation_id,
            "principal" => &mut self.principal,
            "cursor" => &mut self.cursor,
            "limit" => {
                self.limit = Some(parse_limit(&value)?);
                return Ok(());
            }
            "violation" => {
                self.violation = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(IndexError::Invalid {
                            field: "violation".into(),
                            reason: format!("must be true or false, not {value:?}"),
                        })
                    }
                });
                return Ok(());
            }
            other => {
                return Err(IndexError::Invalid {
                    field: other.to_string(),
                    reason: format!("unknown filter; the filters are {}", FILTERS.join(", ")),
                })
            }
        };
        *slot = Some(value);
        Ok(())
    }
}

/// The filter names of [`SessionFilter::set`].
pub const FILTERS: &[&str] = &[
    "agent",
    "initiator",
    "trigger",
    "status",
    "from",
    "to",
    "system",
    "resource",
    "request_id",
    "conversation_id",
    "principal",
    "violation",
    "limit",
    "cursor",
];

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Parses a page size: 1 to [`MAX_LIMIT`].
pub fn parse_limit(v: &str) -> Result<usize, IndexError> {
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(IndexError::Invalid {
            field: "limit".into(),
            reason: format!("must be a whole number from 1 to {MAX_LIMIT}, not {v:?}"),
        }),
    }
}

/// A time bound: RFC 3339 with an offset, or a date (`2026-11-24`, midnight UTC). Returned in
/// the index's sortable form.
pub fn parse_time(field: &str, v: &str) -> Result<String, IndexError> {
    let full = if v.len() == 10 && v.as_bytes().get(4) == Some(&b'-') {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    };
    timefmt::normalize_rfc3339(&full)
        .map(|n| timefmt::sortable(&n))
        .map_err(|e| IndexError::Invalid {
            field: field.into(),
            reason: format!("{e}: give RFC 3339 with an offset (2026-11-24T09:00:00Z) or a date (2026-11-24), not {v:?}"),
        })
}

fn encode_cursor(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("\n"))
}

fn decode_cursor(c: &str, n: usize) -> Result<Vec<String>, IndexError> {
    let bad = || IndexError::Invalid {
        field: "cursor".into(),
        reason: "is not a cursor this server returned; start again without it".into(),
    };
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<String> = text.split('\n').map(str::to_string).collect();
    if parts.len() == n {
        Ok(parts)
    } else {
        Err(bad())
    }
}

/// The leaf index a page of a leaf-ordered list starts below (`i64::MAX` for the first page).
fn leaf_cursor(cursor: Option<&str>) -> Result<i64, IndexError> {
    match cursor {
        Some(c) => decode_cursor(c, 1)?[0]
            .parse()
            .map_err(|_| IndexError::Invalid {
                field: "cursor".into(),
                reason: "is not a cursor this server returned; start again without it".into(),
            }),
        None => Ok(i64::MAX),
    }
}

/// One page of a list read newest leaf first with one row more than `limit`: that extra row
/// says whether there is a next page, which starts below the last leaf kept.
fn leaf_page<T>(mut items: Vec<T>, limit: usize, leaf: impl Fn(&T) -> u64) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| encode_cursor(&[&leaf(r).to_string()]))
    } else {
        None
    };
    Page { items, next_cursor }
}

impl Index {
    /// Sessions matching `f`, newest start first.
    pub fn sessions(&self, f: &SessionFilter) -> Result<Page<Session>, IndexError> {
        let limit = f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let mut sql =
            String::from("SELECT s.started_at, s.session_id, s.state FROM sessions s WHERE 1=1");
        let mut args: Vec<Sql> = Vec::new();
        let mut eq = |col: &str, v: &Option<String>, sql: &mut String| {
            if let Some(v) = v {
                args.push(Sql::Text(v.clone()));
                sql.push_str(&format!(" AND s.{col} = ?{}", args.len()));
            }
        };
        eq("agent_id", &f.agent, &mut sql);
        eq("initiator", &f.initiator, &mut sql);
        eq("trigger_type", &f.trigger, &mut sql);
        eq("status", &f.status, &mut sql);
        eq("request_id", &f.request_id, &mut sql);
        eq("conversation_id", &f.conversation_id, &mut sql);
        eq("principal", &f.principal, &mut sql);
        if let Some(v) = f.violation {
            sql.push_str(if v {
                " AND s.violation = 1"
            } else {
                " AND s.violation = 0"
            });
        }
        if let Some(v) = &f.from {
            args.push(Sql::Text(parse_time("from", v)?));
            sql.push_str(&format!(" AND s.started_at >= ?{}", args.len()));
        }
        if let Some(v) = &f.to {
            args.push(Sql::Text(parse_time("to", v)?));
            sql.push_str(&format!(" AND s.started_at < ?{}", args.len()));
        }
        if let Some(v) = &f.system {
            args.push(Sql::Text(v.clone()));
            sql.push_str(&format!(
                " AND s.session_id IN (SELECT session_id FROM session_systems WHERE system = ?{})",
                args.len()
            ));
        }
        if let Some(v) = &f.resource {
            args.push(Sql::Text(v.clone()));
            sql.push_str(&format!(
                " AND s.session_id IN (SELECT session_id FROM resource_refs WHERE resource = ?{})",
                args.len()
            ));
        }
        if let Some(c) = &f.cursor {
            let p = decode_cursor(c, 2)?;
            args.push(Sql::Text(p[0].clone()));
            args.push(Sql::Text(p[1].clone()));
            sql.push_str(&format!(
                " AND (s.started_at, s.session_id) < (?{}, ?{})",
                args.len() - 1,
                args.len()
            ));
        }
        sql.push_str(&format!(
            " ORDER BY s.started_at DESC, s.session_id DESC LIMIT {}",
            limit + 1
        ));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for row in rows {
            let (started, id, state) = row?;
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(decode_session(&state)?);
            last = Some((started, id));
        }
        let next_cursor = match (more, last) {
            (true, Some((s, id))) => Some(encode_cursor(&[&s, &id])),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Every session that served an external request id, newest first.
    pub fn sessions_for_request(&self, request_id: &str) -> Result<Vec<Session>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state FROM sessions WHERE request_id = ?1 \
             ORDER BY started_at DESC, session_id DESC LIMIT 1000",
        )?;
        let rows = stmt.query_map([request_id], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| decode_session(&r?)).collect()
    }

    /// The events that touched a resource (an action's `resource`, one of its `resource_ids`,
    /// or a diff's `resource`, matched exactly), newest leaf first.
    pub fn resource_refs(
        &self,
        uri: &str,
        from: Option<&str>,
        to: Option<&str>,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<ResourceRef>, IndexError> {
        let limit = limit.unwrap_or(100).clamp(1, MAX_LIMIT);
        let before = leaf_cursor(cursor)?;
        let from = from.map(|v| parse_time("from", v)).transpose()?;
        let to = to.map(|v| parse_time("to", v)).transpose()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT leaf_index, session_id, ts FROM resource_refs \
             WHERE resource = ?1 AND leaf_index < ?2 \
             AND (?3 IS NULL OR ts >= ?3) AND (?4 IS NULL OR ts < ?4) \
             ORDER BY leaf_index DESC LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![uri, before, from, to, (limit + 1) as i64],
            |r| {
                Ok(ResourceRef {
                    leaf_index: r.get::<_, i64>(0)? as u64,
                    session_id: r.get(1)?,
                    ts: normal(&r.get::<_, String>(2)?),
                })
            },
        )?;
        let items: Vec<ResourceRef> = rows.collect::<Result<_, _>>()?;
        Ok(leaf_page(items, limit, |r| r.leaf_index))
    }

    /// Sessions by id, in the order given; unknown ids are skipped.
    pub fn sessions_by_id(&self, ids: &[String]) -> Result<Vec<Session>, IndexError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = self.session(id)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Access records, newest first, optionally only one reader's (`by`, e.g. `key:3d91...`)
    /// or only the reads that showed one item: reads that named it as their target (a session
    /// id, event id, request id or resource), and reads whose answer showed that session.
    pub fn access(&self, f: &AccessFilter) -> Result<Page<AccessRef>, IndexError> {
        let limit = f.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
        if let Some(r) = f.read.as_deref() {
            if !READS.contains(&r) {
                return Err(IndexError::Invalid {
                    field: "read".into(),
                    reason: format!("must be one of {}, not {r:?}", READS.join(", ")),
                });
            }
        }
        let (reader, target, read) = (f.reader.as_deref(), f.target.as_deref(), f.read.as_deref());
        let before = leaf_cursor(f.cursor.as_deref())?;
        let sql = if target.is_some() {
            "SELECT a.leaf_index, a.ts, a.reader, a.key_id, a.read, a.target \
             FROM access_refs r JOIN access a ON a.leaf_index = r.leaf_index \
             WHERE r.target = ?3 AND r.leaf_index < ?1 AND (?2 IS NULL OR a.reader = ?2) \
             AND (?5 IS NULL OR a.read = ?5) ORDER BY r.leaf_index DESC LIMIT ?4"
        } else {
            "SELECT leaf_index, ts, reader, key_id, read, target FROM access \
             WHERE leaf_index < ?1 AND (?2 IS NULL OR reader = ?2) AND ?3 IS NULL \
             AND (?5 IS NULL OR read = ?5) ORDER BY leaf_index DESC LIMIT ?4"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(
            rusqlite::params![before, reader, target, (limit + 1) as i64, read],
            |r| {
                Ok(AccessRef {
                    leaf_index: r.get::<_, i64>(0)? as u64,
                    ts: normal(&r.get::<_, String>(1)?),
                    reader: r.get(2)?,
                    key_id: r.get(3)?,
                    read: r.get(4)?,
                    target: r.get(5)?,
                })
            },
        )?;
        let items: Vec<AccessRef> = rows.collect::<Result<_, _>>()?;
        Ok(leaf_page(items, limit, |r| r.leaf_index))
    }
}

/// One event that touched a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    pub leaf_index: u64,
    pub session_id: String,
    pub ts: String,
}

/// The kinds of read an access record names (`read`).
pub const READS: &[&str] = &[
    "session", "sessions", "request", "resource", "event", "proof", "access",
];

/// Filters of the access list; each is optional and they combine.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    /// Only this reader's reads (`key:<id>`, `key:local-admin`, `anonymous-loopback`).
    pub reader: Option<String>,
    /// Only the reads that showed this item: named it, or showed that session.
    pub target: Option<String>,
    /// Only reads of this kind ([`READS`]).
    pub read: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// One indexed `agentrail.access` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRef {
    pub leaf_index: u64,
    pub ts: String,
    /// Who read: `key:<id>`, `key:local-admin` or `anonymous-loopback`.
    pub reader: String,
    pub key_id: Option<String>,
    /// What kind of read: `session`, `sessions`, `request`, `resource`, `event`, `proof`, `access`.
    pub read: String,
    /// What was read: a session id, request id, resource, event id; absent for lists.
    pub target: Option<String>,
}
