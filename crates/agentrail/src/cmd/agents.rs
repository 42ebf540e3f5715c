//! `agentrail agents`: the inventory file (`agents.toml`) and discovery.
//!
//! `add` and `import` change the file only once the whole result loads (the inventory and every
//! policy file it names): the new text is written beside it and renamed over it. Each change is
//! then recorded in the log ([`super::inventory::record`]). `list`, `show` and `export` read the
//! file; `discover` and `export --recorded` read what the log recorded.

use super::inventory;
use super::session::escape;
use super::session::render::{self, Block, Doc, Line, Tone};
use super::session::Reader;
use crate::cli::{AddAgentArgs, AgentsCommand, AgentsFormat, ExportFormat};
use crate::exit::{Exit, InvalidInput};
use agentrail_index::discover::Actor;
use agentrail_policy::{load, AgentEntry, Inventory, PolicyError};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

pub fn run(data: &Path, path: &Path, cmd: &AgentsCommand) -> Result<Exit> {
    match cmd {
        AgentsCommand::List { format } => list(path, *format),
        AgentsCommand::Show { id, format } => show(data, path, id, *format),
        AgentsCommand::Add(a) => add(data, path, a),
        AgentsCommand::Import { file, replace } => import(data, path, file, *replace),
        AgentsCommand::Export { format, recorded } => export(data, path, *format, *recorded),
        AgentsCommand::Discover { format } => discover(data, path, *format),
    }
}

/// The inventory file, loaded and checked; an absent file is an empty inventory.
fn read_file(path: &Path) -> Result<Option<agentrail_policy::Loaded>> {
    match load(path) {
        Ok(l) => Ok(Some(l)),
        Err(PolicyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(InvalidInput(format!("{}: {e}", path.display())).into()),
    }
}

fn list(path: &Path, format: AgentsFormat) -> Result<Exit> {
    let loaded = read_file(path)?;
    if format == AgentsFormat::Json {
        let mut v = loaded
            .as_ref()
            .map_or_else(|| Inventory::default().to_json(), |l| l.inventory.to_json());
        v["path"] = path.display().to_string().into();
        v["policy_set_hash"] = loaded
            .as_ref()
            .map(|l| l.policies.hash().to_string())
            .into();
        say!("{}", escape::json(&v, true));
        return Ok(Exit::Success);
    }
    let Some(loaded) = loaded else {
        say!(
            "no inventory at {} yet: add agents with `agentrail agents add ID --kind KIND --owner OWNER`",
            path.display()
        );
        return Ok(Exit::Success);
    };
    let mut doc = Doc::default();
    let rows = loaded
        .inventory
        .agents
        .iter()
        .map(|e| {
            vec![
                Line::new().agent(&e.id),
                Line::new().agent(&e.kind),
                Line::new().agent(&e.owner),
                Line::new().agent(e.data_classification.as_deref().unwrap_or("-")),
                Line::new().ours(if e.elevated { "yes" } else { "no" }),
                Line::new().agent(e.policy.as_deref().unwrap_or("-")),
            ]
        })
        .collect();
    doc.push(Block::Table {
        head: vec!["ID", "KIND", "OWNER", "DATA", "ELEVATED", "POLICY"],
        right: vec![false; 6],
        rows,
    });
    doc.push(Block::Text(
        Line::new()
            .ours(format!(
                "{} agents in {}; policy set {}",
                loaded.inventory.agents.len(),
                path.display(),
                loaded.policies.hash()
            ))
            .tone(Tone::Dim),
    ));
    say_raw!("{}", doc.to_text(render::color_wanted()));
    Ok(Exit::Success)
}

fn show(data: &Path, path: &Path, id: &str, format: AgentsFormat) -> Result<Exit> {
    let loaded = read_file(path)?;
    let entry = loaded.as_ref().and_then(|l| l.inventory.get(id).cloned());
    let r = Reader::caught_up(data)?;
    let seen = r.index.actor("agent", id)?;
    if entry.is_none() && seen.is_none() {
        return Err(InvalidInput(format!(
            "no agent {id:?} in the inventory {} or in any event",
            path.display()
        ))
        .into());
    }
    if format == AgentsFormat::Json {
        let v = json!({"id": id, "registered": entry.is_some(), "entry": entry, "seen": seen});
        say!("{}", escape::json(&v, true));
        return Ok(Exit::Success);
    }
    let mut doc = Doc::default();
    doc.push(Block::Title(Line::new().ours("Agent ").agent(id)));
    match &entry {
        Some(e) => {
            let f = |label: &'static str, v: &str| Block::Field(label, vec![Line::new().agent(v)]);
            doc.push(f("name", &e.name));
            doc.push(f("kind", &e.kind));
            doc.push(f("owner", &e.owner));
            doc.push(f("description", e.description.as_deref().unwrap_or("-")));
            doc.push(f("principals", &e.principals.join(", ")));
            doc.push(f("systems", &e.systems.join(", ")));
            doc.push(f("triggers", &e.triggers.join(", ")));
            doc.push(f(
                "classification",
                e.data_classification.as_deref().unwrap_or("-"),
            ));
            doc.push(Block::Field(
                "elevated",
                vec![Line::new().ours(if e.elevated { "yes" } else { "no" })],
            ));
            doc.push(f("policy", e.policy.as_deref().unwrap_or("-")));
        }
        None => doc.push(Block::Text(
            Line::new()
                .ours("UNREGISTERED: seen in events, not in the inventory")
                .tone(Tone::Bad),
        )),
    }
    match &seen {
        Some(a) => {
            doc.push(Block::Heading("In the events"));
            seen_fields(&mut doc, a);
        }
        None => doc.push(Block::Text(
            Line::new()
                .ours("no events from this agent yet")
                .tone(Tone::Dim),
        )),
    }
    say_raw!("{}", doc.to_text(render::color_wanted()));
    Ok(Exit::Success)
}

fn seen_fields(doc: &mut Doc, a: &Actor) {
    let ours = |s: String| vec![Line::new().ours(s)];
    doc.push(Block::Field(
        "seen",
        ours(format!("{} to {}", a.first_seen, a.last_seen)),
    ));
    doc.push(Block::Field(
        "sessions",
        ours(format!(
            "{} ({} actions, {} events)",
            a.sessions, a.actions, a.events
        )),
    ));
    doc.push(Block::Field(
        "systems",
        vec![Line::new().agent(&a.systems.join(", "))],
    ));
    if !a.agents.is_empty() {
        doc.push(Block::Field(
            "agents",
            vec![Line::new().agent(&a.agents.join(", "))],
        ));
    }
}

/// Writes `text` as the inventory at `path` if, with it, the inventory and its policies load;
/// returns the loaded result.
fn replace_file(path: &Path, text: &str) -> Result<agentrail_policy::Loaded> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".agents.toml.")
        .tempfile_in(dir)
        .with_context(|| format!("writing beside {}", path.display()))?;
    std::fs::write(tmp.path(), text)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    // Errors name the file the user edits, not the one beside it.
    let loaded = load(tmp.path()).map_err(|e| {
        let msg = e.to_string().replace(
            &tmp.path().display().to_string(),
            &path.display().to_string(),
        );
        InvalidInput(format!("{} would not load: {msg}", path.display()))
    })?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(loaded)
}

fn current_text(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

/// Changing the inventory records the change in the log, so the log must exist first.
fn require_data(data: &Path) -> Result<()> {
    if agentrail_store::ledger::DataDir::new(data).db().exists() {
        return Ok(());
    }
    anyhow::bail!(
        "no data directory at {}: run `agentrail init` first (every change of the inventory is recorded in the log)",
        data.display()
    )
}

fn add(data: &Path, path: &Path, a: &AddAgentArgs) -> Result<Exit> {
    require_data(data)?;
    let entry = AgentEntry {
        id: a.id.clone(),
        name: a.name.clone(),
        kind: a.kind.clone(),
        owner: a.owner.clone(),
        description: a.description.clone(),
        principals: a.principals.clone(),
        systems: a.systems.clone(),
        triggers: a.triggers.clone(),
        data_classification: a.classification.clone(),
        elevated: a.elevated,
        policy: a.policy.clone(),
    };
    if let Some(l) = read_file(path)? {
        if l.inventory.get(&a.id).is_some() {
            return Err(InvalidInput(format!(
                "agent {:?} is already in {}; edit the file to change it",
                a.id,
                path.display()
            ))
            .into());
        }
    }
    let mut text = current_text(path)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&entry.to_toml_table());
    replace_file(path, &text)?;
    say!("added {} to {}", escape::escape(&a.id), path.display());
    inventory::record(data, path, true)?;
    Ok(Exit::Success)
}

/// Reads an inventory from a TOML or JSON file (JSON when it starts with `{`).
fn read_import(file: &Path) -> Result<Inventory> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let origin = file.display().to_string();
    let inv = if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| InvalidInput(format!("{origin}: not JSON: {e}")))?;
        Inventory::from_json(&v)
    } else {
        Inventory::parse_toml(&text, &origin)
    };
    inv.map_err(|e| InvalidInput(format!("{origin}: {e}")).into())
}

fn import(data: &Path, path: &Path, file: &Path, replace: bool) -> Result<Exit> {
    require_data(data)?;
    let incoming = read_import(file)?;
    let mut current = read_file(path)?.map(|l| l.inventory).unwrap_or_default();
    let clashes: Vec<&str> = incoming
        .agents
        .iter()
        .filter(|e| current.get(&e.id).is_some())
        .map(|e| e.id.as_str())
        .collect();
    let new_policies = incoming
        .policies
        .iter()
        .any(|p| !current.policies.contains(p));
    let text = if !clashes.is_empty() && !replace {
        return Err(InvalidInput(format!(
            "already registered in {}: {}; give --replace to replace them",
            path.display(),
            clashes.join(", ")
        ))
        .into());
    } else if clashes.is_empty() && !new_policies {
        // Appended: the file's comments stay.
        let mut text = current_text(path)?;
        for e in &incoming.agents {
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push_str(if text.ends_with('\n') { "\n" } else { "\n\n" });
            }
            text.push_str(&e.to_toml_table());
        }
        text
    } else {
        // Replacing entries, or adding inventory-wide policies (which go at the top): the file
        // is rewritten from the merged inventory.
        for e in incoming.agents.iter().cloned() {
            match current.agents.iter_mut().find(|c| c.id == e.id) {
                Some(slot) => *slot = e,
                None => current.agents.push(e),
            }
        }
        for p in &incoming.policies {
            if !current.policies.contains(p) {
                current.policies.push(p.clone());
            }
        }
        if !current_text(path)?.trim().is_empty() {
            eprintln!(
                "note: {} is rewritten: its comments are not kept",
                path.display()
            );
        }
        current.to_toml()
    };
    let loaded = replace_file(path, &text)?;
    say!(
        "imported {} agents from {} into {} ({} agents now)",
        incoming.agents.len(),
        file.display(),
        path.display(),
        loaded.inventory.agents.len()
    );
    inventory::record(data, path, true)?;
    Ok(Exit::Success)
}

fn export(data: &Path, path: &Path, format: ExportFormat, recorded: bool) -> Result<Exit> {
    let inv = if recorded {
        Reader::caught_up(data)?.index.policy_state()?.inventory
    } else {
        read_file(path)?
            .map(|l| l.inventory)
            .ok_or_else(|| InvalidInput(format!("no inventory at {}", path.display())))?
    };
    match format {
        ExportFormat::Toml => say_raw!("{}", inv.to_toml()),
        ExportFormat::Json => say!("{}", serde_json::to_string_pretty(&inv.to_json())?),
    }
    Ok(Exit::Success)
}

fn discover(data: &Path, path: &Path, format: AgentsFormat) -> Result<Exit> {
    inventory::record(data, path, false)?;
    let r = Reader::caught_up(data)?;
    let state = r.index.policy_state()?;
    let found = r.index.discover(&state.inventory)?;
    if format == AgentsFormat::Json {
        say!("{}", escape::json(&json!(found), true));
        return Ok(Exit::Success);
    }
    let mut doc = Doc::default();
    for (title, list) in [
        ("Unregistered agents", &found.agents),
        ("Unregistered principals", &found.principals),
    ] {
        doc.push(Block::Heading(title));
        if list.is_empty() {
            doc.push(Block::Text(Line::new().ours("none").tone(Tone::Good)));
            continue;
        }
        let rows = list
            .iter()
            .map(|a| {
                vec![
                    Line::new().agent(&a.id).tone(Tone::Bad),
                    Line::new().ours(&a.first_seen),
                    Line::new().ours(&a.last_seen),
                    Line::new().ours(a.sessions.to_string()),
                    Line::new().ours(a.actions.to_string()),
                    Line::new().agent(&a.systems.join(", ")),
                    Line::new().agent(&a.agents.join(", ")),
                ]
            })
            .collect();
        doc.push(Block::Table {
            head: vec![
                "ID",
                "FIRST SEEN",
                "LAST SEEN",
                "SESSIONS",
                "ACTIONS",
                "SYSTEMS",
                "AS AGENTS",
            ],
            right: vec![false, false, false, true, true, false, false],
            rows,
        });
    }
    doc.push(Block::Text(
        Line::new()
            .ours(format!(
                "{} unregistered agents, {} unregistered principals (inventory: {} agents)",
                found.agents.len(),
                found.principals.len(),
                state.inventory.agents.len()
            ))
            .tone(Tone::Dim),
    ));
    say_raw!("{}", doc.to_text(render::color_wanted()));
    Ok(Exit::Success)
}
