//! The gap report in a real browser: headless Chromium opens the HTML `agentrail assess` writes
//! for the demo data and must report no Content-Security-Policy violation (its inline style is
//! allowed by its hash, it loads nothing) while showing the summary. A copy whose style hash is
//! wrong must be reported, so the check is known to see violations.
//!
//! Chromium comes from `AGENTRAIL_CHROMIUM` or `chromium` on the PATH (`.ci/run` installs
//! Debian's). Without one the test says so and passes, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const AGENTRAIL: &str = env!("CARGO_BIN_EXE_agentrail");

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AGENTRAIL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

fn agentrail(data: &Path, args: &[&str]) {
    let out = Command::new(AGENTRAIL)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("AGENTRAIL_DATA")
        .env_remove("AGENTRAIL_AGENTS")
        .stdin(Stdio::null())
        .output()
        .expect("run agentrail");
    assert!(
        out.status.success(),
        "agentrail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Opens `page` headless; returns the DOM it rendered and the console lines it logged.
fn open(chromium: &Path, page: &Path, profile: &Path) -> (String, Vec<String>) {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed on {}",
        page.display()
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// Chromium, or None when there is none and this is not CI (where its absence fails).
fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the browser test: install chromium or set AGENTRAIL_CHROMIUM"
        );
        eprintln!("no chromium found (set AGENTRAIL_CHROMIUM): browser test skipped");
    }
    found
}

fn violations(console: &[String]) -> Vec<&String> {
    console
        .iter()
        .filter(|l| l.contains("Content Security Policy") || l.contains("Refused to"))
        .collect()
}

#[test]
fn the_gap_report_renders_under_its_csp_in_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    agentrail(&data, &["demo"]);
    let page = dir.path().join("gap-report.html");
    agentrail(
        &data,
        &[
            "assess",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ],
    );

    let (dom, console) = open(&chromium, &page, &dir.path().join("profile"));
    assert!(
        violations(&console).is_empty(),
        "the report broke its own policy: {console:#?}"
    );
    assert!(
        dom.contains("6 agents in scope (5 registered, 1 discovered)"),
        "{dom}"
    );
    assert!(
        dom.contains("no-payroll"),
        "the violation's policy is shown"
    );

    // The same page with a wrong style hash: the browser must report the blocked style, or the
    // check above proves nothing.
    let html = std::fs::read_to_string(&page).expect("read the report");
    let start = html.find("'sha256-").expect("a style hash") + "'sha256-".len();
    let end = start + html[start..].find('\'').expect("end of the hash");
    let broken = format!(
        "{}{}{}",
        &html[..start],
        "A".repeat(end - start - 1) + "=",
        &html[end..]
    );
    let bad = dir.path().join("broken.html");
    std::fs::write(&bad, broken).expect("write the broken copy");
    let (_, console) = open(&chromium, &bad, &dir.path().join("profile-2"));
    assert!(
        violations(&console)
            .iter()
            .any(|l| l.contains("inline style")),
        "a wrong hash went unnoticed: {console:#?}"
    );
}

#[test]
fn the_evidence_bundle_pages_render_under_their_csp_in_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    agentrail(&data, &["demo"]);
    let bundle = dir.path().join("bundle");
    agentrail(
        &data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    let (dom, console) = open(
        &chromium,
        &bundle.join("index.html"),
        &dir.path().join("p1"),
    );
    assert!(
        violations(&console).is_empty(),
        "index.html broke its own policy: {console:#?}"
    );
    assert!(dom.contains("Sampled sessions"), "{dom}");
    assert!(
        dom.contains("href=\"sessions/001/narrative.html\""),
        "the index links each narrative: {dom}"
    );
    // The session with the scope violation: its narrative shows the denying policy.
    let narrative = std::fs::read_dir(bundle.join("sessions"))
        .expect("sessions")
        .map(|e| e.expect("entry").path().join("narrative.html"))
        .find(|p| {
            std::fs::read_to_string(p)
                .expect("read")
                .contains("hr-payroll")
        })
        .expect("a sampled narrative shows the payroll read");
    let (dom, console) = open(&chromium, &narrative, &dir.path().join("p2"));
    assert!(
        violations(&console).is_empty(),
        "the narrative broke its own policy: {console:#?}"
    );
    assert!(dom.contains("no-payroll"), "{dom}");
    assert!(
        dom.contains("href=\"../../index.html\""),
        "a way back to the index"
    );
}
