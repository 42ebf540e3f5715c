//! Discovery: every agent id and principal that agent events name, with when it was first and
//! last seen, its sessions, actions and systems, so that the ones nobody registered in the
//! inventory can be listed. `agentrail.*` records never count: agentrail is not an agent.

use crate::db::Index;
use crate::extract::{Body, Header};
use crate::session::normal;
use crate::IndexError;
use agentrail_policy::Inventory;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

const AGENT: &str = "agent";
const PRINCIPAL: &str = "principal";

#[derive(Debug, Default)]
struct Seen {
    first_ts: String,
    last_ts: String,
    events: u64,
    actions: u64,
    sessions: BTreeSet<String>,
    systems: BTreeSet<String>,
    /// For a principal: the agents that acted as it.
    agents: BTreeSet<String>,
}

/// What one chunk of leaves adds to the actor tables.
#[derive(Debug, Default)]
pub(crate) struct Actors(BTreeMap<(&'static str, String), Seen>);

impl Actors {
    /// Notes one agent event (never an `agentrail.*` record).
    pub(crate) fn see(&mut self, h: &Header<'_>, b: &Body<'_>, ts: &str) {
        let system = b
            .action
            .as_ref()
            .and_then(|a| a.system.as_deref())
            .or_else(|| b.diff.as_ref().and_then(|d| d.system.as_deref()))
            .filter(|s| !s.is_empty());
        let action = h.kind == "action";
        let mut note = |kind: &'static str, id: &str| {
            let s = self.0.entry((kind, id.to_string())).or_default();
            if s.events == 0 || ts < s.first_ts.as_str() {
                s.first_ts = ts.to_string();
            }
            if ts > s.last_ts.as_str() {
                s.last_ts = ts.to_string();
            }
            s.events += 1;
            s.actions += u64::from(action);
            s.sessions.insert(h.session_id.to_string());
            if let Some(sys) = system {
                s.systems.insert(sys.to_string());
            }
            if kind == PRINCIPAL {
                s.agents.insert(h.agent_id.to_string());
            }
        };
        note(AGENT, &h.agent_id);
        if let Some(p) = h.principal.as_deref() {
            note(PRINCIPAL, p);
        }
    }

    pub(crate) fn put(&self, conn: &Connection) -> Result<(), IndexError> {
        let mut actor = conn.prepare_cached(
            "INSERT INTO actors (kind, id, first_ts, last_ts, events, actions) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, id) DO UPDATE SET \
             first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts), \
             events = events + excluded.events, actions = actions + excluded.actions",
        )?;
        let mut session = conn.prepare_cached(
            "INSERT OR IGNORE INTO actor_sessions (kind, id, session_id) VALUES (?1, ?2, ?3)",
        )?;
        let mut system = conn.prepare_cached(
            "INSERT OR IGNORE INTO actor_systems (kind, id, system) VALUES (?1, ?2, ?3)",
        )?;
        for ((kind, id), s) in &self.0 {
            actor.execute(params![
                kind,
                id,
                s.first_ts,
                s.last_ts,
                s.events as i64,
                s.actions as i64
            ])?;
            for sid in &s.sessions {
                session.execute(params![kind, id, sid])?;
            }
            for sys in &s.systems {
                system.execute(params![kind, id, sys])?;
            }
            for agent in &s.agents {
                system.execute(params!["principal-agent", id, agent])?;
            }
        }
        Ok(())
    }
}

/// An agent id or principal as agent events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub id: String,
    /// The earliest and latest `ts` of its events.
    pub first_seen: String,
    pub last_seen: String,
    pub events: u64,
    pub sessions: u64,
    pub actions: u64,
    pub systems: Vec<String>,
    /// For a principal: the agents that acted as it. Empty for an agent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
}

/// The agents and principals agent events name that the inventory does not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discovery {
    pub agents: Vec<Actor>,
    pub principals: Vec<Actor>,
}

impl Index {
    /// Every agent id (`kind` = `agent`) or principal (`principal`) seen in agent events,
    /// sorted by id.
    pub fn actors(&self, kind: &str) -> Result<Vec<Actor>, IndexError> {
        self.actors_where(kind, None)
    }

    /// One agent id (`kind` = `agent`) or principal (`principal`), if agent events name it.
    pub fn actor(&self, kind: &str, id: &str) -> Result<Option<Actor>, IndexError> {
        Ok(self.actors_where(kind, Some(id))?.pop())
    }

    fn actors_where(&self, kind: &str, id: Option<&str>) -> Result<Vec<Actor>, IndexError> {
        let mut q = self.conn.prepare_cached(
            "SELECT a.id, a.first_ts, a.last_ts, a.events, a.actions, \
             (SELECT count(*) FROM actor_sessions s WHERE s.kind = a.kind AND s.id = a.id) \
             FROM actors a WHERE a.kind = ?1 AND (?2 IS NULL OR a.id = ?2) ORDER BY a.id",
        )?;
        let mut out: Vec<Actor> = q
            .query_map(params![kind, id], |r| {
                Ok(Actor {
                    id: r.get(0)?,
                    first_seen: normal(&r.get::<_, String>(1)?),
                    last_seen: normal(&r.get::<_, String>(2)?),
                    events: r.get::<_, i64>(3)? as u64,
                    actions: r.get::<_, i64>(4)? as u64,
                    sessions: r.get::<_, i64>(5)? as u64,
                    systems: Vec::new(),
                    agents: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut related = self.conn.prepare_cached(
            "SELECT system FROM actor_systems WHERE kind = ?1 AND id = ?2 ORDER BY system",
        )?;
        for a in &mut out {
            a.systems = related
                .query_map(params![kind, a.id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if kind == PRINCIPAL {
                a.agents = related
                    .query_map(params!["principal-agent", a.id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
            }
        }
        Ok(out)
    }

    /// The agent ids and principals seen in agent events that `inventory` does not register.
    pub fn discover(&self, inventory: &Inventory) -> Result<Discovery, IndexError> {
        Ok(Discovery {
            agents: self
                .actors(AGENT)?
                .into_iter()
                .filter(|a| inventory.get(&a.id).is_none())
                .collect(),
            principals: self
                .actors(PRINCIPAL)?
                .into_iter()
                .filter(|a| !inventory.registers_principal(&a.id))
                .collect(),
        })
    }
}
