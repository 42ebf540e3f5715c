//! `agentrail assess`: the gap assessment of a period (docs/assessment.md), from the session
//! index and the inventory and policies the log recorded as in force.

use super::inventory;
use super::session::{escape, Reader};
use crate::cli::{AssessArgs, AssessFormat};
use crate::exit::Exit;
use agentrail_core::timefmt;
use agentrail_index::assess::{gather, Period};
use agentrail_store::clock::{Clock, SystemClock};
use anyhow::{Context, Result};
use std::path::Path;

pub fn run(data: &Path, path: &Path, a: &AssessArgs) -> Result<Exit> {
    // Bad bounds are a usage error before anything is recorded.
    for (field, v) in [("from", &a.from), ("to", &a.to)] {
        if let Some(v) = v {
            agentrail_index::query::parse_time(field, v)?;
        }
    }
    inventory::record(data, path, false)?;
    let mut r = Reader::caught_up(data)?;
    let state = r.index.policy_state()?;
    let now = timefmt::format_unix_nanos(SystemClock.now_unix_nanos())
        .context("formatting the time of the report")?;
    let report = gather::report(
        &r.index,
        r.ledger.as_mut(),
        &state,
        Period {
            from: a.from.clone(),
            to: a.to.clone(),
        },
        &now,
    )?;
    let text = match a.format {
        AssessFormat::Md => report.to_markdown(),
        AssessFormat::Html => report.to_html(),
        AssessFormat::Json => format!("{}\n", escape::json(&report.to_json(), true)),
    };
    match &a.out {
        Some(out) => {
            std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("{}", report.summary_sentence());
            eprintln!("wrote {}", out.display());
        }
        None => say_raw!("{text}"),
    }
    Ok(Exit::Success)
}
