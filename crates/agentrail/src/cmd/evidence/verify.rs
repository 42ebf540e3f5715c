//! `agentrail verify-bundle`: checks a bundle offline, with nothing but its bytes and the
//! verifier key the auditor holds. One line per item (`VALID` or `INVALID: reason`), a
//! summary, exit 1 when anything failed.

use super::build::received_nanos;
use super::files::{Listing, Reader, ZIP_STRUCTURE};
use super::*;
use crate::cli::VerifyBundleArgs;
use crate::cmd::prove::load_key;
use crate::exit::Exit;
use agentrail_core::checkpoint::{open_checkpoint, Checkpoint};
use agentrail_core::merkle::{self, CompactRange};
use agentrail_core::note;
use agentrail_policy::PolicyState;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The longest population leaf line read.
const MAX_LEAF_LINE: u64 = 1 << 20;

/// The outcome of checking a bundle.
#[derive(Debug, Default)]
pub struct Report {
    pub valid: u64,
    pub invalid: u64,
    /// When set, lines are not printed; the invalid ones are kept in `failures`.
    quiet: bool,
    pub failures: Vec<String>,
}

impl Report {
    fn line(&mut self, item: &str, result: Result<String, String>) -> Result<bool> {
        let item = super::super::session::escape::escape(item);
        let (ok, text) = match result {
            Ok(note) if note.is_empty() => (true, format!("{item}: VALID")),
            Ok(note) => (
                true,
                format!(
                    "{item}: VALID ({})",
                    super::super::session::escape::escape(&note)
                ),
            ),
            Err(why) => (
                false,
                format!(
                    "{item}: INVALID: {}",
                    super::super::session::escape::escape(&why)
                ),
            ),
        };
        if ok {
            self.valid += 1;
        } else {
            self.invalid += 1;
        }
        if self.quiet {
            if !ok {
                self.failures.push(text);
            }
        } else {
            say!("{text}");
        }
        Ok(ok)
    }
}

/// What the checks share.
struct Ctx {
    reader: Reader,
    listing: Listing,
    manifest: BTreeMap<String, Hash>,
    verifier: Verifier,
    /// Manifest paths some check has read: at the end, any other is a file the format does
    /// not have.
    seen: HashSet<String>,
    /// What the auditor expects of the sample.
    expect: Expect,
}

/// The sample the auditor expects: the seed they gave, or their own list.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    pub seed: Option<Vec<u8>>,
    pub sessions: Option<Vec<String>>,
}

impl Ctx {
    /// A file the manifest lists, read whole (its hash was checked, and reported, already).
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        if !self.manifest.contains_key(path) {
            return Err(format!("{path} is not in the manifest"));
        }
        if !self.listing.files.contains_key(path) {
            return Err(format!("{path} is missing"));
        }
        self.seen.insert(path.to_string());
        self.reader
            .read(&self.listing, path)
            .map_err(|e| format!("{e:#}"))
    }

    fn read_text(&mut self, path: &str) -> Result<String, String> {
        String::from_utf8(self.read(path)?).map_err(|_| format!("{path} is not UTF-8"))
    }

    fn json(&mut self, path: &str) -> Result<Value, String> {
        let bytes = self.read(path)?;
        agentrail_core::json::parse_strict(&bytes).map_err(|e| format!("{path}: {e}"))
    }

    /// Manifest paths under `dir/` that end in `suffix`, as leaf indexes, ascending.
    fn indexed(&self, dir: &str, suffix: &str) -> Vec<u64> {
        let prefix = format!("{dir}/");
        let mut v: Vec<u64> = self
            .manifest
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter_map(|p| p.strip_suffix(suffix))
            .filter_map(|n| n.parse::<u64>().ok().filter(|i| i.to_string() == n))
            .collect();
        v.sort_unstable();
        v
    }

    fn checkpoint(&mut self, path: &str) -> Result<(String, Checkpoint), String> {
        let note = self.read_text(path)?;
        let cp = open_checkpoint(&note, &self.verifier).map_err(|e| e.to_string())?;
        Ok((note, cp))
    }
}

pub fn run(a: &VerifyBundleArgs) -> Result<Exit> {
    let verifier = load_key(&a.key)?;
    let mut trusted = Vec::new();
    for f in &a.trusted {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading the trusted checkpoint {}", f.display()))?;
        trusted.push((f.display().to_string(), text));
    }
    say!(
        "Checking the evidence bundle {} with the key {}",
        a.path.display(),
        verifier.to_vkey()
    );
    let expect = Expect {
        seed: a.seed.as_ref().map(|s| s.as_bytes().to_vec()),
        sessions: match &a.sessions {
            Some(f) => Some(
                super::read_session_list(f)?
                    .into_iter()
                    .map(|(_, id)| id)
                    .collect(),
            ),
            None => None,
        },
    };
    let mut rep = Report::default();
    check(&a.path, verifier, &trusted, &expect, &mut rep)?;
    summary(&rep)
}

/// Checks a bundle without printing each item: for the demo.
pub fn check_quietly(path: &Path, verifier: Verifier) -> Result<Report> {
    let mut rep = Report {
        quiet: true,
        ..Report::default()
    };
    check(path, verifier, &[], &Expect::default(), &mut rep)?;
    Ok(rep)
}

fn check(
    path: &Path,
    verifier: Verifier,
    trusted: &[(String, String)],
    expect: &Expect,
    rep: &mut Report,
) -> Result<()> {
    let mut reader = Reader::open(path)?;
    let listing = reader.list()?;
    for (name, why) in &listing.bad {
        rep.line(&format!("entry {name}"), Err(why.clone()))?;
    }
    if listing.bad.iter().any(|(name, _)| name == ZIP_STRUCTURE) {
        // Its entries cannot be read safely, nor be known to be what other tools extract.
        say_note(
            rep,
            "Nothing else checked: the zip is not laid out as a bundle is.",
        )?;
        return Ok(());
    }
    // The manifest: without a valid one nothing else can be trusted.
    let manifest = match read_manifest(&mut reader, &listing, &verifier) {
        Ok(m) => {
            rep.line(
                MANIFEST,
                Ok(format!("{} files, signed by {}", m.len(), verifier.name())),
            )?;
            m
        }
        Err(why) => {
            rep.line(MANIFEST, Err(why))?;
            return Ok(());
        }
    };
    let before = rep.invalid;
    for (path, want) in &manifest {
        let r = if listing.files.contains_key(path) {
            match reader.sha256(&listing, path) {
                Ok(got) if got == *want => Ok(String::new()),
                Ok(got) => Err(format!(
                    "its SHA-256 is {}, the manifest says {}",
                    got.to_hex(),
                    want.to_hex()
                )),
                Err(e) => Err(format!("{e:#}")),
            }
        } else {
            Err("listed in the manifest but missing from the bundle".into())
        };
        rep.line(&format!("file {path}"), r)?;
    }
    let signed_files_differ = rep.invalid > before;
    for path in listing.files.keys() {
        if path != MANIFEST && !manifest.contains_key(path) {
            rep.line(
                &format!("file {path}"),
                Err("in the bundle but not in the manifest".into()),
            )?;
        }
    }
    if signed_files_differ {
        // What the key holder signed is not what is here: nothing in it can be relied on, and
        // reading it further would only spend the auditor's time on unsigned bytes.
        say_note(
            rep,
            "Contents not checked: the bundle's files are not the ones its manifest signs.",
        )?;
        return Ok(());
    }
    let mut cx = Ctx {
        reader,
        listing,
        manifest,
        verifier,
        seen: HashSet::new(),
        expect: expect.clone(),
    };
    if let Err(why) = check_contents(&mut cx, rep, trusted) {
        rep.line("bundle", Err(why))?;
    }
    Ok(())
}

/// A line that is not an item: printed unless quiet.
fn say_note(rep: &Report, text: &str) -> Result<()> {
    if !rep.quiet {
        say!("{text}");
    }
    Ok(())
}

fn read_manifest(
    reader: &mut Reader,
    listing: &Listing,
    verifier: &Verifier,
) -> Result<BTreeMap<String, Hash>, String> {
    if !listing.files.contains_key(MANIFEST) {
        return Err("missing: the bundle has no manifest".into());
    }
    let bytes = reader
        .read(listing, MANIFEST)
        .map_err(|e| format!("{e:#}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let n = note::open(&text, std::slice::from_ref(verifier))
        .map_err(|e| format!("its signature does not verify with the key given: {e}"))?;
    parse_manifest(&n.text)
}

fn summary(rep: &Report) -> Result<Exit> {
    say!(
        "Results: {} item{} checked: {} valid, {} invalid",
        rep.valid + rep.invalid,
        if rep.valid + rep.invalid == 1 {
            ""
        } else {
            "s"
        },
        rep.valid,
        rep.invalid
    );
    if rep.invalid == 0 {
        say!("The bundle is VALID");
        Ok(Exit::Success)
    } else {
        say!("The bundle is INVALID");
        Ok(Exit::Invalid)
    }
}

/// Reads a field of bundle.json.
fn field<'a>(info: &'a Value, ptr: &str) -> Result<&'a Value, String> {
    info.pointer(ptr)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("{BUNDLE_JSON}: {} is missing", ptr.trim_start_matches('/')))
}

fn u64_field(info: &Value, ptr: &str) -> Result<u64, String> {
    field(info, ptr)?.as_u64().ok_or_else(|| {
        format!(
            "{BUNDLE_JSON}: {} is not a whole number",
            ptr.trim_start_matches('/')
        )
    })
}

fn str_field<'a>(info: &'a Value, ptr: &str) -> Result<&'a str, String> {
    field(info, ptr)?.as_str().ok_or_else(|| {
        format!(
            "{BUNDLE_JSON}: {} is not a string",
            ptr.trim_start_matches('/')
        )
    })
}

fn root_field(info: &Value, ptr: &str) -> Result<Hash, String> {
    Hash::from_base64(str_field(info, ptr)?).ok_or_else(|| {
        format!(
            "{BUNDLE_JSON}: {} is not a base64 SHA-256 hash",
            ptr.trim_start_matches('/')
        )
    })
}

fn strings(info: &Value, ptr: &str) -> Result<Vec<String>, String> {
    let bad = || {
        format!(
            "{BUNDLE_JSON}: {} is not a list of strings",
            ptr.trim_start_matches('/')
        )
    };
    match info.pointer(ptr) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// What the population pass keeps.
struct Pass {
    pop: Population,
    /// Leaves of the sampled sessions, by index.
    sampled_leaves: HashMap<u64, Vec<u8>>,
    /// Leaf indexes of inventory and policy records in the period.
    records: Vec<u64>,
    /// The tree root after each size a trusted checkpoint names.
    roots: HashMap<u64, Hash>,
    /// The time of the last leaf of each trusted checkpoint whose last leaf is in the
    /// population, by checkpoint size.
    trusted_times: HashMap<u64, i128>,
    /// Received times of the leaves that time the bounds, when in the population.
    leaf_bytes_at: HashMap<u64, Vec<u8>>,
    /// The leaves hash to the end root.
    pop_ok: bool,
}

fn check_contents(
    cx: &mut Ctx,
    rep: &mut Report,
    trusted: &[(String, String)],
) -> Result<(), String> {
    let info = cx.json(BUNDLE_JSON)?;
    let canonical_form = cx
        .read(BUNDLE_JSON)
        .is_ok_and(|b| canonical(&info).is_ok_and(|c| c == b));
    let vkey = cx.verifier.to_vkey();
    let name = cx.verifier.name().to_string();
    line(
        rep,
        BUNDLE_JSON,
        if str_field(&info, "/format")? != FORMAT {
            Err(format!("its format is not {FORMAT:?}"))
        } else if !canonical_form {
            Err("it is not in canonical form (RFC 8785)".into())
        } else if str_field(&info, "/log/key")? != vkey || str_field(&info, "/log/origin")? != name
        {
            Err(format!(
                "it names the log {} with the key {}, not the log of the key given",
                str_field(&info, "/log/origin")?,
                str_field(&info, "/log/key")?
            ))
        } else {
            Ok(format!(
                "{} bundle of {name}, made {} by {}",
                str_field(&info, "/kind")?,
                str_field(&info, "/created_at")?,
                info.get("created_by")
                    .and_then(Value::as_str)
                    .unwrap_or("an unnamed version")
            ))
        },
    );
    let kind = str_field(&info, "/kind")?.to_string();
    // The key in the bundle must be the one the auditor holds.
    let key = cx.read_text(KEY).map(|k| k.trim_end().to_string());
    line(
        rep,
        KEY,
        match key {
            Ok(k) if k == cx.verifier.to_vkey() => Ok(String::new()),
            Ok(k) => Err(format!("the bundle's key is {k}, not the key given")),
            Err(e) => Err(e),
        },
    );
    // The end checkpoint.
    let end_size = u64_field(&info, "/end/size")?;
    let end_root = root_field(&info, "/end/root")?;
    let (end_note, end_cp) = match cx.checkpoint(END_CHECKPOINT) {
        Ok((note, cp)) if cp.size == end_size && cp.root == end_root => {
            line(rep, "checkpoint end", Ok(format!("size {end_size}")));
            (note, cp)
        }
        Ok((_, cp)) => {
            line(
                rep,
                "checkpoint end",
                Err(format!(
                    "it signs size {} and root {}, bundle.json says size {end_size} and root {}",
                    cp.size,
                    cp.root.to_base64(),
                    end_root.to_base64()
                )),
            );
            return Ok(());
        }
        Err(e) => {
            line(rep, "checkpoint end", Err(e));
            return Ok(());
        }
    };
    let end_row = checkpoint_row(&end_note, end_cp.size, end_cp.root);
    let sample = strings(&info, "/sample/sessions")?;
    let mut trusted_sizes: Vec<(String, Checkpoint)> = Vec::new();
    for (name, text) in trusted {
        match open_checkpoint(text, &cx.verifier) {
            Ok(cp) => trusted_sizes.push((name.clone(), cp)),
            Err(e) => line(
                rep,
                &format!("trusted {name}"),
                Err(format!("it does not verify with the key given: {e}")),
            ),
        }
    }

    // The period: both checkpoints, the population between them, its sessions, the bounds and
    // the sample.
    if kind != "period" && kind != "session" {
        return Err(format!(
            "{BUNDLE_JSON}: kind {kind:?} is neither period nor session"
        ));
    }
    let start_size = u64_field(&info, "/start/size")?;
    let pass = Some(check_period(
        cx,
        rep,
        &info,
        &end_cp,
        &sample,
        &trusted_sizes,
        kind == "period",
    )?);

    // Trusted checkpoints: the tree at their size must have their root.
    for (name, cp) in &trusted_sizes {
        let item = format!("trusted {name}");
        let known = if cp.size == end_size {
            Some(end_cp.root)
        } else {
            pass.as_ref().and_then(|p| p.roots.get(&cp.size).copied())
        };
        let path = trusted_proof_path(cp.size);
        if known.is_none() && cx.manifest.contains_key(&path) {
            let r = cx
                .read_text(&path)
                .and_then(|t| parse_hash_lines(&t).map_err(|e| format!("{path}: {e}")))
                .and_then(|proof| {
                    let (s1, r1, s2, r2) = if cp.size < end_size {
                        (cp.size, cp.root, end_size, end_cp.root)
                    } else {
                        (end_size, end_cp.root, cp.size, cp.root)
                    };
                    merkle::verify_consistency(s1, s2, &proof, &r1, &r2).map_err(|e| {
                        format!(
                            "the log in this bundle is not consistent with it ({e}): the log forked or was rewritten"
                        )
                    })
                })
                .map(|()| format!("size {}: consistent with the end checkpoint", cp.size));
            line(rep, &item, r);
            continue;
        }
        line(
            rep,
            &item,
            match known {
                Some(root) if root == cp.root => Ok(format!(
                    "size {}: the bundle's log extends it",
                    cp.size
                )),
                Some(root) => Err(format!(
                    "the log in this bundle has root {} at size {}, the trusted checkpoint {}: the log forked or was rewritten",
                    root.to_base64(),
                    cp.size,
                    cp.root.to_base64()
                )),
                None => Err(format!(
                    "size {} is outside the sizes this bundle can check ({}): ask for a bundle made with `evidence --trusted` and this checkpoint, or check it against the log with `agentrail verify-consistency`",
                    cp.size,
                    if start_size == end_size {
                        format!("only {end_size}")
                    } else {
                        format!("{start_size} to {end_size}")
                    }
                )),
            },
        );
    }

    // Policy and inventory records: each proven, none of the period's missing, the state they
    // make equal to what the bundle says was in force.
    let mut proofs: HashMap<u64, Vec<Hash>> = HashMap::new();
    let records = check_records(cx, rep, &end_note, end_size, pass.as_ref(), &mut proofs)?;

    // The sampled sessions: every event proven, equal to its population leaf, none of the
    // period's missing; the narratives exactly what the events say.
    let mut sessions = Vec::with_capacity(sample.len());
    for (k, id) in sample.iter().enumerate() {
        let dir = session_dir(k + 1);
        let rows = check_session(
            cx,
            rep,
            id,
            &dir,
            &end_note,
            pass.as_ref(),
            start_size,
            &mut proofs,
        )?;
        sessions.push((id.clone(), rows));
    }
    let extra_dirs: Vec<&String> = cx
        .manifest
        .keys()
        .filter(|p| p.starts_with("sessions/"))
        .filter(|p| !(1..=sample.len()).any(|k| p.starts_with(&format!("{}/", session_dir(k)))))
        .collect();
    for p in extra_dirs {
        line(
            rep,
            &format!("file {p}"),
            Err("belongs to no sampled session of bundle.json".into()),
        );
    }
    match narratives(&records, &sessions, &end_row, &proofs) {
        Ok(told) => {
            for (k, ((id, _), n)) in sessions.iter().zip(&told).enumerate() {
                let dir = session_dir(k + 1);
                for (file, want) in [("narrative.md", &n.markdown), ("narrative.html", &n.html)] {
                    let path = format!("{dir}/{file}");
                    let r = match cx.read(&path) {
                        Ok(got) if got == want.as_bytes() => Ok(String::new()),
                        Ok(_) => Err(format!(
                            "{path} does not match the narrative rebuilt from the session's events{}",
                            match info.get("created_by").and_then(Value::as_str) {
                                Some(by) if by != generator() => format!(
                                    " (the bundle was made by {by}, this is {}: their narrative rules may differ)",
                                    generator()
                                ),
                                _ => String::new(),
                            }
                        )),
                        Err(e) => Err(e),
                    };
                    line(rep, &format!("session {id} {file}"), r);
                }
            }
        }
        Err(e) => line(
            rep,
            "narratives",
            Err(format!("cannot rebuild them: {e:#}")),
        ),
    }
    let dirs: Vec<String> = (1..=sample.len()).map(session_dir).collect();
    let controls_v = controls(kind == "period", &dirs);
    let want = canonical(&controls_v).map_err(|e| e.to_string())?;
    line(
        rep,
        CONTROLS,
        match cx.read(CONTROLS) {
            Ok(got) if got == want => Ok(String::new()),
            Ok(_) => Err("does not map the criteria to this bundle's files".into()),
            Err(e) => Err(e),
        },
    );
    // The front page: what the bundle, its sessions and the assessment's summary make it.
    let assessment = if kind == "period" {
        match cx.json(ASSESSMENT_JSON) {
            Ok(a) => a
                .pointer("/summary/sentence")
                .and_then(Value::as_str)
                .map(str::to_string),
            Err(_) => None,
        }
    } else {
        None
    };
    let index = page::index(&page::IndexInput {
        info: &info,
        controls: &controls_v,
        sessions: &sessions,
        dirs: &dirs,
        assessment: assessment.as_deref(),
    });
    line(
        rep,
        INDEX_HTML,
        match cx.read(INDEX_HTML) {
            Ok(got) if got == index.as_bytes() => Ok(String::new()),
            Ok(_) => Err(
                "is not the page this bundle's files make (rebuilt from bundle.json, the sessions, the control map and the assessment's summary)"
                    .into(),
            ),
            Err(e) => Err(e),
        },
    );
    // Files read by no check: only the pages and reports the format has, and trusted proofs.
    let mut extra: Vec<String> = Vec::new();
    for p in cx.manifest.keys() {
        let unread = !cx.seen.contains(p) && p != LEAVES;
        let page = kind == "period"
            && [ASSESSMENT_JSON, ASSESSMENT_MD, ASSESSMENT_HTML].contains(&p.as_str());
        let trusted_proof = p
            .strip_prefix("checkpoints/trusted/")
            .and_then(|n| n.strip_suffix(".proof"))
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|v| v.to_string() == n));
        if unread && !page && !trusted_proof && !p.starts_with("sessions/") {
            extra.push(p.clone());
        }
    }
    for p in extra {
        line(
            rep,
            &format!("file {p}"),
            Err("listed in the manifest, but no file of the bundle format".into()),
        );
    }
    if kind == "period" {
        for p in [ASSESSMENT_JSON, ASSESSMENT_MD, ASSESSMENT_HTML] {
            if !cx.manifest.contains_key(p) {
                line(
                    rep,
                    &format!("file {p}"),
                    Err("missing: a period bundle holds the gap assessment of its period".into()),
                );
            }
        }
    }
    Ok(())
}

fn line(rep: &mut Report, item: &str, r: Result<String, String>) {
    // Writing to standard output fails only when the reader left; the summary will say so.
    let _ = rep.line(item, r);
}

/// The population (both kinds), and for a period its checkpoints, bounds and sample; for a
/// session, that the population starts at the session's first event.
fn check_period(
    cx: &mut Ctx,
    rep: &mut Report,
    info: &Value,
    end: &Checkpoint,
    sample: &[String],
    trusted: &[(String, Checkpoint)],
    period: bool,
) -> Result<Pass, String> {
    let start_size = u64_field(info, "/start/size")?;
    // A session's population starts at its first leaf, which no checkpoint signs: its frontier
    // is proven by the leaves hashing, with it, to the end root.
    let start_root = if period {
        Some(root_field(info, "/start/root")?)
    } else {
        None
    };
    // The start checkpoint (none when the period starts at the log's first leaf).
    if let Some(start_root) = start_root {
        check_start(cx, rep, start_size, start_root, end)?;
    }
    let pass = population_pass(cx, rep, info, end, start_size, start_root, sample, trusted)?;
    if period {
        check_bounds(cx, rep, info, end, start_size, &pass, trusted);
        check_sample(rep, info, end, sample, &pass, &cx.expect)?;
    } else {
        let id = sample.first().map(String::as_str).unwrap_or_default();
        line(
            rep,
            "sample",
            match pass.pop.sessions.get(id) {
                _ if sample.len() != 1 || info.pointer("/sample/method") != Some(&json!("session")) => {
                    Err("a session bundle samples exactly its one session".into())
                }
                Some(s) if s.first_leaf == start_size => Ok(format!(
                    "session {id}: the population starts at its first event shown (leaf {start_size}); none of its events in the population is missing from the bundle if the session line below is VALID"
                )),
                Some(s) => Err(format!(
                    "the population starts at leaf {start_size}, not at the session's first event (leaf {})",
                    s.first_leaf
                )),
                None => Err(format!("session {id:?} has no leaf in the population")),
            },
        );
    }
    Ok(pass)
}

fn check_start(
    cx: &mut Ctx,
    rep: &mut Report,
    start_size: u64,
    start_root: Hash,
    end: &Checkpoint,
) -> Result<(), String> {
    if start_size == 0 {
        line(
            rep,
            "checkpoint start",
            if start_root != merkle::empty_root() {
                Err("size 0 with a root that is not the empty tree's".into())
            } else if cx.manifest.contains_key(START_CHECKPOINT) {
                Err("the period starts at the empty tree, which has no checkpoint".into())
            } else {
                Ok("the empty tree: the period starts at the log's first leaf".into())
            },
        );
    } else {
        line(
            rep,
            "checkpoint start",
            match cx.checkpoint(START_CHECKPOINT) {
                Ok((_, cp)) if cp.size == start_size && cp.root == start_root => {
                    Ok(format!("size {start_size}"))
                }
                Ok((_, cp)) => Err(format!(
                    "it signs size {} and root {}, bundle.json says size {start_size} and root {}",
                    cp.size,
                    cp.root.to_base64(),
                    start_root.to_base64()
                )),
                Err(e) => Err(e),
            },
        );
    }
    // The consistency proof between them.
    line(
        rep,
        "consistency start to end",
        cx.read_text(CONSISTENCY)
            .and_then(|t| parse_hash_lines(&t).map_err(|e| format!("{CONSISTENCY}: {e}")))
            .and_then(|proof| {
                merkle::verify_consistency(start_size, end.size, &proof, &start_root, &end.root)
                    .map_err(|e| format!("the proof does not verify: {e}"))
            })
            .map(|()| format!("{start_size} to {}", end.size)),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn population_pass(
    cx: &mut Ctx,
    rep: &mut Report,
    info: &Value,
    end: &Checkpoint,
    start_size: u64,
    start_root: Option<Hash>,
    sample: &[String],
    trusted: &[(String, Checkpoint)],
) -> Result<Pass, String> {
    // The population: the start tree's frontier, then every leaf, must give both roots.
    let frontier = cx
        .read_text(FRONTIER)
        .and_then(|t| parse_hash_lines(&t).map_err(|e| format!("{FRONTIER}: {e}")))
        .and_then(|h| {
            CompactRange::from_parts(start_size, h).map_err(|e| format!("{FRONTIER}: {e}"))
        });
    let mut range = match frontier {
        Ok(r) if start_root.is_none_or(|root| r.root() == root) => r,
        Ok(_) => {
            line(
                rep,
                "population",
                Err(format!(
                    "{FRONTIER} does not hash to the start checkpoint's root"
                )),
            );
            CompactRange::new()
        }
        Err(e) => {
            line(rep, "population", Err(e));
            CompactRange::new()
        }
    };
    let wanted: HashSet<&str> = sample.iter().map(String::as_str).collect();
    let trusted_sizes: HashSet<u64> = trusted.iter().map(|(_, c)| c.size).collect();
    let time_leaves: HashSet<u64> = [start_size.saturating_sub(1), end.size.saturating_sub(1), 0]
        .into_iter()
        .collect();
    let mut pass = Pass {
        pop: Population::default(),
        sampled_leaves: HashMap::new(),
        records: Vec::new(),
        roots: HashMap::new(),
        trusted_times: HashMap::new(),
        leaf_bytes_at: HashMap::new(),
        pop_ok: false,
    };
    if trusted_sizes.contains(&start_size) && range.size() == start_size {
        pass.roots.insert(start_size, range.root());
    }
    let mut problem: Option<String> = None;
    {
        let stream = cx
            .reader
            .stream(&cx.listing, LEAVES)
            .map_err(|e| format!("{e:#}"));
        match stream {
            Err(e) => problem = Some(e),
            Ok(stream) => {
                let mut r = BufReader::new(stream);
                let mut index = start_size;
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    let n = Read::take(&mut r, MAX_LEAF_LINE)
                        .read_until(b'\n', &mut buf)
                        .map_err(|e| format!("{LEAVES}: {e}"))?;
                    if n == 0 {
                        break;
                    }
                    let Some(leaf) = buf.strip_suffix(b"\n") else {
                        problem = Some(format!(
                            "{LEAVES}: leaf {index} does not end with a newline, or is longer than {MAX_LEAF_LINE} bytes"
                        ));
                        break;
                    };
                    let h = match event::parse_leaf(leaf) {
                        Ok(h) => h,
                        Err(e) => {
                            problem = Some(format!("leaf {index} is not a canonical leaf: {e}"));
                            break;
                        }
                    };
                    match received_nanos(index, &h.received_at) {
                        Ok(t) if trusted_sizes.contains(&(index + 1)) => {
                            pass.trusted_times.insert(index + 1, t);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            problem = Some(e);
                            break;
                        }
                    }
                    range.push(merkle::leaf_hash(leaf), |_, _, _| {});
                    if wanted.contains(h.session_id.as_str()) {
                        pass.sampled_leaves.insert(index, leaf.to_vec());
                    }
                    if STATE_KINDS.contains(&h.kind.as_str()) {
                        pass.records.push(index);
                    }
                    if time_leaves.contains(&index) {
                        pass.leaf_bytes_at.insert(index, leaf.to_vec());
                    }
                    pass.pop.add(index, &h);
                    index += 1;
                    if trusted_sizes.contains(&index) {
                        pass.roots.insert(index, range.root());
                    }
                }
            }
        }
    }
    let pop_result = match problem {
        Some(p) => Err(p),
        None if range.size() != end.size => Err(format!(
            "it holds leaves {start_size} to {} but the end checkpoint has {}: leaves were dropped or added",
            range.size(),
            end.size
        )),
        None if range.root() != end.root => Err(
            "the leaves do not hash to the end checkpoint's root: a leaf was altered, dropped, added or reordered"
                .into(),
        ),
        None => Ok(format!(
            "leaves {start_size} to {} hash to {}: {} sessions, {} agentrail records",
            end.size,
            if start_root.is_some() {
                "both checkpoints' roots"
            } else {
                "the end checkpoint's root, after the frontier of the leaves before them"
            },
            pass.pop.sessions.len(),
            pass.pop.records
        )),
    };
    let pop_ok = pop_result.is_ok();
    line(rep, "population", pop_result);
    let count = u64_field(info, "/population/sessions")?;
    let counts = (
        u64_field(info, "/population/leaves")?,
        u64_field(info, "/population/records")?,
        count,
    );
    let derived = (
        pass.pop.leaves,
        pass.pop.records,
        pass.pop.sessions.len() as u64,
    );
    line(
        rep,
        "population sessions",
        match cx.read(SESSIONS) {
            Ok(got) => match canonical(&pass.pop.to_json()) {
                Ok(_) if counts != derived => Err(format!(
                    "bundle.json counts {} leaves, {} records and {} sessions; the leaves give {}, {} and {}",
                    counts.0, counts.1, counts.2, derived.0, derived.1, derived.2
                )),
                Ok(want) if want == got => Ok(format!(
                    "{} sessions, as derived from the leaves",
                    pass.pop.sessions.len()
                )),
                Ok(_) => Err(format!(
                    "{SESSIONS} does not match the {} sessions derived from the leaves",
                    pass.pop.sessions.len()
                )),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        },
    );
    pass.pop_ok = pop_ok;
    Ok(pass)
}

/// A drawn sample is exactly the seed's draw; a list names only sessions of the population.
fn check_sample(
    rep: &mut Report,
    info: &Value,
    end: &Checkpoint,
    sample: &[String],
    pass: &Pass,
    expect: &Expect,
) -> Result<(), String> {
    let pop_ok = pass.pop_ok;
    let agents = strings(info, "/agents")?;
    let candidates: Vec<&str> = pass.pop.candidates(&agents).collect();
    let method = str_field(info, "/sample/method")?;
    let filter = if agents.is_empty() {
        "every session of the population".to_string()
    } else {
        format!("sessions with an event by {}", agents.join(", "))
    };
    let r = (|| -> Result<String, String> {
        let said = info.pointer("/sample/candidates").and_then(Value::as_u64);
        if said != Some(candidates.len() as u64) {
            return Err(format!(
                "bundle.json says {} candidates; the population has {}",
                said.map_or("no".into(), |n| n.to_string()),
                candidates.len()
            ));
        }
        let mut seen = HashSet::new();
        if let Some(d) = sample.iter().find(|s| !seen.insert(s.as_str())) {
            return Err(format!("session {d:?} is sampled twice"));
        }
        if let Some(want) = &expect.sessions {
            if method != "list" || want.as_slice() != sample {
                return Err(format!(
                    "it is not the list you gave: the bundle samples {sample:?} ({method})"
                ));
            }
        }
        if let Some(want) = &expect.seed {
            let seed = info.pointer("/sample/seed").and_then(Value::as_str);
            if method != "seed" || seed != Some(agentrail_core::hash::to_hex(want).as_str()) {
                return Err(format!(
                    "it was not drawn with the seed you gave (the bundle's: {})",
                    seed.unwrap_or("none")
                ));
            }
        }
        match method {
            "seed" => {
                let seed_hex = str_field(info, "/sample/seed")?;
                let requested = u64_field(info, "/sample/requested")?;
                if requested == 0 {
                    return Err("a sample of 0 sessions was requested".into());
                }
                let seed = agentrail_core::hash::from_hex(seed_hex)
                    .ok_or_else(|| format!("{BUNDLE_JSON}: sample.seed is not hex"))?;
                let source = match str_field(info, "/sample/seed_source")? {
                    "end-root" if seed == end.root.as_bytes() => "the end checkpoint's root",
                    "end-root" => {
                        return Err(
                            "the seed is said to be the end checkpoint's root, and is not".into(),
                        )
                    }
                    "given" if expect.seed.is_some() => "the seed you gave",
                    "given" => "a seed given to `evidence --seed` (give it to verify-bundle --seed to check it is yours)",
                    other => {
                        return Err(format!(
                            "seed_source {other:?} is neither end-root nor given"
                        ))
                    }
                };
                let want = draw(&seed, candidates.iter().copied(), requested as usize);
                if want == sample {
                    return Ok(format!(
                        "the {} of {requested} requested with the smallest SHA-256(seed || 0x00 || id) among {} candidates ({filter}); seed {seed_hex}, {source}",
                        want.len(),
                        candidates.len()
                    ));
                }
                if !pop_ok {
                    return Err("cannot be redrawn: the population is not valid".into());
                }
                let missing: Vec<&String> = want.iter().filter(|s| !sample.contains(s)).collect();
                let extra: Vec<&String> = sample.iter().filter(|s| !want.contains(s)).collect();
                Err(format!(
                    "not what the seed draws from the population: drawn but absent {missing:?}, present but not drawn {extra:?}{}",
                    if missing.is_empty() && extra.is_empty() {
                        " (the order differs)"
                    } else {
                        ""
                    }
                ))
            }
            "list" => {
                if sample.is_empty() {
                    return Err("the list is empty".into());
                }
                if let Some(s) = sample.iter().find(|s| !pass.pop.sessions.contains_key(*s)) {
                    return Err(format!(
                        "session {s:?} of the list is not in the population"
                    ));
                }
                Ok(format!(
                    "a list of {} session(s), each in the population; {}",
                    sample.len(),
                    if expect.sessions.is_some() {
                        "the list you gave"
                    } else {
                        "said to be the auditor's (give yours to verify-bundle --sessions to check)"
                    }
                ))
            }
            other => Err(format!("sample method {other:?} is neither seed nor list")),
        }
    })();
    line(rep, "sample", r);
    Ok(())
}

/// The bounds: each is timed by a leaf received at or after its time, and the point before it
/// by a leaf received before.
fn check_bounds(
    cx: &mut Ctx,
    rep: &mut Report,
    info: &Value,
    end: &Checkpoint,
    start_size: u64,
    pass: &Pass,
    trusted: &[(String, Checkpoint)],
) {
    let doc = match cx.json(BOUNDARIES) {
        Ok(d) => d,
        Err(e) => {
            line(rep, "period bounds", Err(e));
            return;
        }
    };
    let show = |t: i128| agentrail_core::timefmt::format_unix_nanos(t).unwrap_or_default();
    for (name, size) in [("start", start_size), ("end", end.size)] {
        let t = info
            .pointer(&format!(
                "/period/{}",
                if name == "start" { "from" } else { "to" }
            ))
            .and_then(Value::as_str);
        let r = (|| -> Result<String, String> {
            let p = doc.get(name).ok_or("missing from period/boundaries.json")?;
            if p["size"].as_u64() != Some(size) {
                return Err(format!("it names size {}, not {size}", p["size"]));
            }
            let at = point_time(cx, p, end, pass)?;
            let Some(t) = t else {
                if name == "start" {
                    return Err("bundle.json has no period.from".into());
                }
                return Ok(format!(
                    "size {size}, the last checkpoint when the bundle was made (no --to); its last leaf was received at {}",
                    show(at)
                ));
            };
            let want = super::build::parse_bound("period", t).map_err(|e| format!("{e:#}"))?;
            if at < want {
                return Err(format!(
                    "its last leaf was received at {}, before {t}",
                    show(at)
                ));
            }
            let (psize, before) = match &p["previous"] {
                Value::Null if size == 0 => return Ok(format!(
                    "the empty tree: the log's first leaf was received at {}, at or after {t}",
                    show(at)
                )),
                Value::Null => {
                    return Err("the checkpoint before it is not shown, so it may not be the first at or after the time".into())
                }
                prev => {
                    let before = point_time(cx, prev, end, pass)?;
                    let psize = prev["size"].as_u64().unwrap_or(u64::MAX);
                    if psize >= size {
                        return Err("the point shown before it is not before it".into());
                    }
                    if before >= want {
                        return Err(format!(
                            "the checkpoint before it (size {psize}) is already at or after {t}: it is not the first"
                        ));
                    }
                    (psize, before)
                }
            };
            // A checkpoint the auditor kept between the two shows whether one was skipped.
            for (file, cp) in trusted {
                if cp.size > psize && cp.size < size {
                    match pass.trusted_times.get(&cp.size) {
                        Some(&ct) if ct < want => {}
                        Some(&ct) => return Err(format!(
                            "the trusted checkpoint {file} (size {}) ends with a leaf received at {}, at or after {t}: it, not size {size}, is the first",
                            cp.size,
                            show(ct)
                        )),
                        None => return Err(format!(
                            "the trusted checkpoint {file} (size {}) lies between the checkpoint shown before the bound (size {psize}) and the bound, and this bundle cannot time it",
                            cp.size
                        )),
                    }
                }
            }
            Ok(format!(
                "size {size} is the first checkpoint at or after {t}: its last leaf was received at {}, that of the one before it (size {psize}) at {}",
                show(at),
                show(before)
            ))
        })();
        line(rep, &format!("period {name}"), r);
    }
}

/// The time of a bound shown in boundaries.json: its checkpoint verified (size matches), its
/// timing leaf proven into the end checkpoint (and equal to the population's copy).
fn point_time(cx: &Ctx, p: &Value, end: &Checkpoint, pass: &Pass) -> Result<i128, String> {
    let size = p["size"].as_u64().ok_or("a point without a size")?;
    match p["checkpoint"].as_str() {
        Some(note) => {
            let cp = open_checkpoint(note, &cx.verifier)
                .map_err(|e| format!("the checkpoint of size {size}: {e}"))?;
            if cp.size != size {
                return Err(format!(
                    "the checkpoint shown for size {size} signs size {}",
                    cp.size
                ));
            }
        }
        None if size == 0 => {}
        None => return Err(format!("no checkpoint shown for size {size}")),
    }
    let tl = &p["time_leaf"];
    let index = tl["index"].as_u64().ok_or("no timing leaf")?;
    if index != size.saturating_sub(1) {
        return Err(format!(
            "the timing leaf of size {size} must be leaf {}",
            size.saturating_sub(1)
        ));
    }
    let leaf = tl["leaf"].as_str().ok_or("the timing leaf has no bytes")?;
    let proof: Vec<Hash> = tl["proof"]
        .as_array()
        .ok_or("the timing leaf has no proof")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(Hash::from_base64)
                .ok_or("a proof hash is not base64")
        })
        .collect::<Result<_, _>>()?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(leaf.as_bytes()),
        index,
        end.size,
        &proof,
        &end.root,
    )
    .map_err(|e| format!("leaf {index} is not proven into the end checkpoint: {e}"))?;
    if let Some(pop) = pass.leaf_bytes_at.get(&index) {
        if pop.as_slice() != leaf.as_bytes() {
            return Err(format!("leaf {index} differs from the population's"));
        }
    }
    let h = event::parse_leaf(leaf.as_bytes()).map_err(|e| format!("leaf {index}: {e}"))?;
    received_nanos(index, &h.received_at)
}

fn check_records(
    cx: &mut Ctx,
    rep: &mut Report,
    end_note: &str,
    end_size: u64,
    pass: Option<&Pass>,
    proofs: &mut HashMap<u64, Vec<Hash>>,
) -> Result<Vec<LeafRow>, String> {
    let indexes = cx.indexed(RECORDS_DIR, ".json");
    let mut rows = Vec::with_capacity(indexes.len());
    let mut state = PolicyState::default();
    for i in indexes {
        let (ev, pf) = record_paths(i);
        let item = format!("record {i}");
        let r = (|| -> Result<(LeafRow, Vec<Hash>), String> {
            let bytes = cx.read(&ev)?;
            let proof = cx.read_text(&pf)?;
            let (row, path) = check_event_proof(&bytes, &proof, end_note, &cx.verifier)?;
            if row.leaf_index != i {
                return Err(format!("its proof is for leaf {}, not {i}", row.leaf_index));
            }
            if !STATE_KINDS.contains(&row.kind.as_str()) {
                return Err(format!(
                    "kind {} is not an inventory or policy record",
                    row.kind
                ));
            }
            Ok((row, path))
        })();
        match r {
            Ok((row, path)) => {
                let body: Value = serde_json::from_slice(row.body.as_deref().unwrap_or_default())
                    .unwrap_or(Value::Null);
                let _ = state.apply_record(&row.kind, &body);
                line(rep, &item, Ok(row.kind.clone()));
                proofs.insert(i, path);
                rows.push(row);
            }
            Err(e) => line(rep, &item, Err(e)),
        }
    }
    if let Some(p) = pass {
        let have: HashSet<u64> = rows.iter().map(|r| r.leaf_index).collect();
        let missing: Vec<u64> = p
            .records
            .iter()
            .copied()
            .filter(|i| !have.contains(i))
            .collect();
        line(
            rep,
            "records of the population",
            if missing.is_empty() {
                Ok(format!(
                    "all {} inventory and policy records of the population are here",
                    p.records.len()
                ))
            } else {
                Err(format!("the population has inventory or policy records at leaves {missing:?} that the bundle does not hold"))
            },
        );
    }
    // What was in force at the end, as the records make it.
    let mut files = Vec::new();
    let mut texts_ok = Ok(());
    for (path, text) in state.policies.files() {
        let sha = Hash::sha256(text.as_bytes()).to_hex();
        let f = policy_text_path(&sha);
        match cx.read(&f) {
            Ok(got) if got == text.as_bytes() => {}
            Ok(_) => texts_ok = Err(format!("{f} is not the text the records hold")),
            Err(e) => texts_ok = Err(e),
        }
        files.push(json!({"path": path, "sha256": sha, "file": f}));
    }
    let want = canonical(&json!({
        "at_size": end_size,
        "policy_set_hash": state.policies.hash(),
        "files": files,
        "records": rows.iter().map(|r| r.leaf_index).collect::<Vec<_>>(),
    }))
    .map_err(|e| e.to_string())?;
    line(
        rep,
        IN_FORCE,
        match (cx.read(IN_FORCE), texts_ok) {
            (Ok(got), Ok(())) if got == want => Ok(format!("policy set {}", state.policies.hash())),
            (Ok(_), Ok(())) => Err("is not what the policy records put in force".into()),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
    );
    let want = canonical(&state.inventory.to_json()).map_err(|e| e.to_string())?;
    line(
        rep,
        INVENTORY,
        match cx.read(INVENTORY) {
            Ok(got) if got == want => Ok(format!("{} agents", state.inventory.agents.len())),
            Ok(_) => Err("is not the inventory the records put in force".into()),
            Err(e) => Err(e),
        },
    );
    Ok(rows)
}

#[allow(clippy::too_many_arguments)]
fn check_session(
    cx: &mut Ctx,
    rep: &mut Report,
    id: &str,
    dir: &str,
    end_note: &str,
    pass: Option<&Pass>,
    start_size: u64,
    proofs: &mut HashMap<u64, Vec<Hash>>,
) -> Result<Vec<LeafRow>, String> {
    let indexes = cx.indexed(&format!("{dir}/events"), ".json");
    let mut rows = Vec::with_capacity(indexes.len());
    for i in &indexes {
        let (ev, pf) = event_paths(dir, *i);
        let item = format!("session {id} event {i}");
        let r = (|| -> Result<(LeafRow, Vec<Hash>), String> {
            let bytes = cx.read(&ev)?;
            let proof = cx.read_text(&pf)?;
            let (row, path) = check_event_proof(&bytes, &proof, end_note, &cx.verifier)?;
            if row.leaf_index != *i {
                return Err(format!("its proof is for leaf {}, not {i}", row.leaf_index));
            }
            if row.session_id != id {
                return Err(format!("it belongs to session {:?}", row.session_id));
            }
            if let Some(p) = pass {
                if *i >= start_size {
                    match p.sampled_leaves.get(i) {
                        Some(leaf) if *leaf == row.leaf => {}
                        Some(_) => {
                            return Err(
                                "its leaf differs from the population's leaf at this index".into()
                            )
                        }
                        None => {
                            return Err(
                                "the population has no leaf of this session at this index".into()
                            )
                        }
                    }
                }
            }
            Ok((row, path))
        })();
        match r {
            Ok((row, path)) => {
                line(rep, &item, Ok(row.kind.clone()));
                proofs.insert(*i, path);
                rows.push(row);
            }
            Err(e) => line(rep, &item, Err(e)),
        }
    }
    let stray: Vec<&String> = cx
        .manifest
        .keys()
        .filter(|p| p.starts_with(&format!("{dir}/")))
        .filter(|p| {
            let known = [
                format!("{dir}/narrative.md"),
                format!("{dir}/narrative.html"),
            ];
            !known.contains(p)
                && !indexes.iter().any(|i| {
                    let (a, b) = event_paths(dir, *i);
                    **p == a || **p == b
                })
        })
        .collect();
    let mut complete: Result<String, String> = if indexes.is_empty() {
        Err("the bundle holds no event of it".into())
    } else {
        Ok(format!("{} events", indexes.len()))
    };
    if let Some(p) = stray.first() {
        complete = Err(format!("{p} is not an event, proof or narrative of it"));
    }
    if let Some(p) = pass {
        let have: HashSet<u64> = indexes.iter().copied().collect();
        let mut missing: Vec<u64> = p
            .sampled_leaves
            .iter()
            .filter(|(i, leaf)| {
                !have.contains(i) && event::parse_leaf(leaf).is_ok_and(|h| h.session_id == id)
            })
            .map(|(i, _)| *i)
            .collect();
        missing.sort_unstable();
        if !missing.is_empty() {
            complete = Err(format!(
                "the population has events of it at leaves {missing:?} that the bundle does not hold"
            ));
        }
    }
    line(rep, &format!("session {id}"), complete);
    Ok(rows)
}
