//! The scoring rules: how one session covers a layer, and how an agent's sessions add up to
//! Yes / Partial / No / N/A, with the sentence, the counts, the examples and the fix. The
//! rules are those of `docs/assessment.md`; change both together.

use super::{plural, Cover, Layer, LayerCounts, LayerScore, Score, SessionFacts};

/// The reason of every layer of an agent with no session in the period.
pub(super) const NO_EVIDENCE: &str = "no evidence in the period";

const EXAMPLES: usize = 3;

pub(super) fn cover(layer: Layer, s: &SessionFacts) -> Option<Cover> {
    use Cover::*;
    Some(match layer {
        Layer::Intent if !s.has_start => Absent,
        Layer::Intent if s.trigger_type.is_some() && s.initiator.is_some() && authorized(s) => {
            Covered
        }
        Layer::Intent => Partial,
        Layer::Scope if s.actions == 0 => Absent,
        Layer::Scope if s.actions_unresolved == 0 => Covered,
        Layer::Scope => Partial,
        Layer::DecisionTrace if s.model_calls == 0 => return None,
        Layer::DecisionTrace if s.decisions > 0 => Covered,
        Layer::DecisionTrace => Absent,
        Layer::Outcome if s.writes == 0 && s.ended => Covered,
        Layer::Outcome if s.writes == 0 => Absent,
        Layer::Outcome if s.ended && s.writes_without_diff == 0 => Covered,
        Layer::Outcome if !s.ended && s.diffs == 0 => Absent,
        Layer::Outcome => Partial,
    })
}

/// The start carries an authorization decision: the agent's own, or a Cedar decision.
fn authorized(s: &SessionFacts) -> bool {
    s.authorization.is_some() || matches!(s.start_policy.as_deref(), Some("allow" | "deny"))
}

/// `sessions` must be ordered by `(started_at, session_id)`.
pub(super) fn score(layer: Layer, sessions: &[SessionFacts]) -> LayerScore {
    let n = sessions.len() as u64;
    let covers: Vec<(&SessionFacts, Cover)> = sessions
        .iter()
        .filter_map(|s| cover(layer, s).map(|c| (s, c)))
        .collect();
    let tally = |c: Cover| covers.iter().filter(|(_, x)| *x == c).count() as u64;
    let counts = LayerCounts {
        sessions: n,
        considered: covers.len() as u64,
        covered: tally(Cover::Covered),
        partial: tally(Cover::Partial),
        absent: tally(Cover::Absent),
        detail: detail(layer, sessions),
    };
    let (score, reason, to_reach_yes) = if n == 0 {
        (
            Score::No,
            NO_EVIDENCE.to_string(),
            Some(format!(
                "if the agent ran in the period, its runs did not reach agentrail: connect it \
                 (native events or OpenTelemetry), and {}",
                base_fix(layer)
            )),
        )
    } else if counts.considered == 0 {
        (
            Score::NotApplicable,
            format!(
                "no model calls in {}: nothing to explain",
                plural(n, "session", "sessions")
            ),
            None,
        )
    } else {
        let score = if counts.covered == counts.considered {
            Score::Yes
        } else if counts.covered == 0 && counts.partial == 0 {
            Score::No
        } else {
            Score::Partial
        };
        let fix = (score != Score::Yes).then(|| fix(layer, &counts));
        (score, reason(layer, &counts), fix)
    };
    let examples = if score == Score::NotApplicable {
        Vec::new()
    } else {
        covers
            .iter()
            .filter(|(_, c)| (*c == Cover::Covered) == (score == Score::Yes))
            .take(EXAMPLES)
            .map(|(s, _)| s.session_id.clone())
            .collect()
    };
    LayerScore {
        layer,
        score,
        reason,
        counts,
        examples,
        to_reach_yes,
    }
}

fn detail(layer: Layer, sessions: &[SessionFacts]) -> Vec<(&'static str, u64)> {
    let count = |f: &dyn Fn(&SessionFacts) -> bool| sessions.iter().filter(|s| f(s)).count() as u64;
    let sum = |f: &dyn Fn(&SessionFacts) -> u64| sessions.iter().map(f).sum::<u64>();
    match layer {
        Layer::Intent => vec![
            ("starts", count(&|s| s.has_start)),
            (
                "starts_without_trigger_type",
                count(&|s| s.has_start && s.trigger_type.is_none()),
            ),
            (
                "starts_without_initiator",
                count(&|s| s.has_start && s.initiator.is_none()),
            ),
            (
                "starts_without_authorization",
                count(&|s| s.has_start && !authorized(s)),
            ),
        ],
        Layer::Scope => vec![
            ("actions", sum(&|s| s.actions)),
            ("actions_unresolved", sum(&|s| s.actions_unresolved)),
        ],
        // Decisions of sessions without model calls explain no model call: not counted.
        Layer::DecisionTrace => vec![
            ("model_calls", sum(&|s| s.model_calls)),
            (
                "decisions",
                sum(&|s| if s.model_calls > 0 { s.decisions } else { 0 }),
            ),
        ],
        Layer::Outcome => vec![
            ("writes", sum(&|s| s.writes)),
            ("writes_without_diff", sum(&|s| s.writes_without_diff)),
            ("diffs", sum(&|s| s.diffs)),
            ("ended", count(&|s| s.ended)),
            (
                "ended_with_writes_without_diff",
                count(&|s| s.writes > 0 && s.ended && s.writes_without_diff > 0),
            ),
            (
                "not_ended_with_diffs",
                count(&|s| s.writes > 0 && !s.ended && s.diffs > 0),
            ),
        ],
    }
}

pub(super) fn get(counts: &LayerCounts, key: &str) -> u64 {
    counts
        .detail
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(0, |(_, v)| *v)
}

/// "none" for zero, else the number.
fn num(n: u64) -> String {
    if n == 0 {
        "none".into()
    } else {
        n.to_string()
    }
}

/// Clauses joined as "a, b and c".
fn join(clauses: &[String]) -> String {
    match clauses {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// One sentence that cites the counts behind the score.
fn reason(layer: Layer, c: &LayerCounts) -> String {
    let d = |k| get(c, k);
    let sessions = plural(c.sessions, "session", "sessions");
    let mut clauses = Vec::new();
    match layer {
        Layer::Intent => {
            clauses.push(format!(
                "{} with a complete session.start (trigger type, initiator and an authorization \
                 decision)",
                num(c.covered)
            ));
            if c.partial > 0 {
                let missing: Vec<String> = [
                    ("starts_without_trigger_type", "a trigger type"),
                    ("starts_without_initiator", "an initiator"),
                    ("starts_without_authorization", "an authorization decision"),
                ]
                .iter()
                .filter(|(k, _)| d(k) > 0)
                .map(|(k, what)| format!("{} without {what}", d(k)))
                .collect();
                clauses.push(format!(
                    "{} with an incomplete one ({})",
                    c.partial,
                    missing.join(", ")
                ));
            }
            if c.absent > 0 {
                clauses.push(format!("{} with no session.start", c.absent));
            }
            format!("Of {sessions}, {}.", join(&clauses))
        }
        Layer::Scope => {
            clauses.push(format!(
                "{} with every action's system and resource recorded",
                num(c.covered)
            ));
            if c.partial > 0 {
                clauses.push(format!(
                    "{} with actions whose system or resource is missing",
                    c.partial
                ));
            }
            if c.absent > 0 {
                clauses.push(format!("{} with no action recorded", c.absent));
            }
            let actions = match d("actions") {
                0 => String::new(),
                n => format!(
                    " ({} of {} unresolved)",
                    d("actions_unresolved"),
                    plural(n, "action", "actions")
                ),
            };
            format!("Of {sessions}, {}{actions}.", join(&clauses))
        }
        Layer::DecisionTrace => {
            clauses.push(format!("{} with decision records", num(c.covered)));
            if c.absent > 0 {
                clauses.push(format!("{} without", c.absent));
            }
            let others = c.sessions - c.considered;
            let others = if others > 0 {
                format!(
                    "; {others} other {} made no model call",
                    plural_word(others)
                )
            } else {
                String::new()
            };
            format!(
                "Of {} with model calls, {} ({} for {}){others}.",
                plural(c.considered, "session", "sessions"),
                join(&clauses),
                plural(d("decisions"), "decision", "decisions"),
                plural(d("model_calls"), "model call", "model calls"),
            )
        }
        Layer::Outcome => {
            clauses.push(format!(
                "{} ended with a session.end and a diff for every resource written",
                num(c.covered)
            ));
            if c.partial > 0 {
                let mut how = Vec::new();
                if d("ended_with_writes_without_diff") > 0 {
                    how.push(format!(
                        "{} ended without a diff for some resource written",
                        d("ended_with_writes_without_diff")
                    ));
                }
                if d("not_ended_with_diffs") > 0 {
                    how.push(format!(
                        "{} sent diffs but no session.end",
                        d("not_ended_with_diffs")
                    ));
                }
                clauses.push(format!("{} partly ({})", c.partial, how.join(", ")));
            }
            if c.absent > 0 {
                clauses.push(format!(
                    "{} with no session.end and no diff for their writes",
                    c.absent
                ));
            }
            let writes = match d("writes") {
                0 => " (no writes)".to_string(),
                n => format!(
                    " ({}, {} without a diff)",
                    plural(n, "write", "writes"),
                    plural(
                        d("writes_without_diff"),
                        "written resource",
                        "written resources"
                    )
                ),
            };
            format!("Of {sessions}, {}{writes}.", join(&clauses))
        }
    }
}

fn plural_word(n: u64) -> &'static str {
    if n == 1 {
        "session"
    } else {
        "sessions"
    }
}

/// What every run must send for this layer to be Yes, in the event model's terms.
pub(super) fn base_fix(layer: Layer) -> &'static str {
    match layer {
        Layer::Intent => {
            "send a session.start with trigger.type, trigger.initiator and \
             authorization.decision at the start of every run"
        }
        Layer::Scope => {
            "send an action event with action.system and action.resource for every read, write, \
             query, API, tool and model call (a model call needs only action.system)"
        }
        Layer::DecisionTrace => {
            "send a decision event (decision.name, decision.chosen, and the rejected options with \
             their reasons) after each model call that chooses something"
        }
        Layer::Outcome => {
            "send a diff event with before/after for every resource written, and a session.end \
             with outcome.status at the end of every run"
        }
    }
}

/// The change that would bring this agent's layer to Yes, aimed at what its sessions lack.
fn fix(layer: Layer, c: &LayerCounts) -> String {
    let d = |k| get(c, k);
    match layer {
        Layer::Intent if c.absent == 0 => {
            let mut fields = Vec::new();
            if d("starts_without_trigger_type") > 0 {
                fields.push("trigger.type".to_string());
            }
            if d("starts_without_initiator") > 0 {
                fields.push("trigger.initiator".to_string());
            }
            if d("starts_without_authorization") > 0 {
                fields.push(
                    "authorization.decision (or govern the agent's starts with a Cedar policy)"
                        .to_string(),
                );
            }
            format!("add {} to every run's session.start", join(&fields))
        }
        Layer::Scope if c.absent == 0 => format!(
            "record action.system and action.resource on every action: {} of {} were \
             recorded as missing (agentrail.missing)",
            d("actions_unresolved"),
            plural(d("actions"), "action", "actions")
        ),
        Layer::Outcome => {
            let needs_end = d("ended") < c.sessions;
            let needs_diff = d("writes_without_diff") > 0;
            match (needs_end, needs_diff) {
                (true, false) => {
                    "send a session.end with outcome.status at the end of every run".into()
                }
                (false, true) => "send a diff event with before/after for every resource \
                                  written"
                    .into(),
                _ => base_fix(layer).into(),
            }
        }
        _ => base_fix(layer).into(),
    }
}
