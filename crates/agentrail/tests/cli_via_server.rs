//! While `agentrail serve` holds the data directory, the CLI's writing verbs go through it
//! (ingest, api-keys, checkpoint --new, prove) instead of failing, and say what they did.

mod common;

use common::{Server, AGENTRAIL};
use std::path::Path;
use std::process::{Command, Output};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/events.ndjson");

fn cli(data: &Path, args: &[&str]) -> Output {
    Command::new(AGENTRAIL)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("AGENTRAIL_DATA")
        .output()
        .expect("run agentrail")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn writing_verbs_go_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(cli(&data, &["init", "--origin", "via-server.test/log"])
        .status
        .success());
    let server = Server::start(&data);

    let n = std::fs::read_to_string(EXAMPLE).unwrap().lines().count();
    let ingest = cli(&data, &["ingest", "--batch", "20", EXAMPLE]);
    let out = text(&ingest.stdout);
    assert!(ingest.status.success(), "{out}{}", text(&ingest.stderr));
    assert!(
        text(&ingest.stderr).contains("through it"),
        "{}",
        text(&ingest.stderr)
    );
    assert!(
        out.contains("committed through line 20 (tree size 20)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("committed through line {n} (tree size {n})")),
        "{out}"
    );
    assert!(
        out.contains(&format!("accepted {n}, duplicate 0, rejected 0")),
        "{out}"
    );
    // The run ends with a checkpoint, as a local ingest does.
    let cp = cli(&data, &["checkpoint"]);
    assert!(
        text(&cp.stdout).starts_with(&format!("via-server.test/log\n{n}\n")),
        "{}",
        text(&cp.stdout)
    );
    let again = cli(&data, &["ingest", EXAMPLE]);
    assert!(text(&again.stdout).contains(&format!("accepted 0, duplicate {n}, rejected 0")));

    let create = cli(
        &data,
        &["api-keys", "create", "--role", "read", "--name", "auditor"],
    );
    assert!(create.status.success(), "{}", text(&create.stderr));
    let key = text(&create.stdout).trim().to_string();
    assert!(key.starts_with("ark_"), "{key}");
    let id = key[4..20].to_string();
    let list = text(&cli(&data, &["api-keys", "list"]).stdout);
    assert!(list.contains(&id) && list.contains("auditor"), "{list}");
    assert!(!list.contains(&key[21..]), "the list shows no secret");

    let cp = cli(&data, &["checkpoint", "--new"]);
    assert!(cp.status.success(), "{}", text(&cp.stderr));
    assert!(
        // One more leaf: the key's agentrail.apikey record.
        text(&cp.stdout).starts_with(&format!("via-server.test/log\n{}\n", n + 1)),
        "{}",
        text(&cp.stdout)
    );
    let proof = cli(&data, &["prove", "rd-47892-d01"]);
    assert!(proof.status.success(), "{}", text(&proof.stderr));

    let revoke = cli(&data, &["api-keys", "revoke", &id]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let unknown = cli(&data, &["api-keys", "revoke", "0000000000000000"]);
    assert_eq!(
        unknown.status.code(),
        Some(1),
        "an unknown id is invalid input, as locally"
    );

    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    let verify = cli(&data, &["verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    assert!(
        // The events, then the key's create and revoke records.
        text(&verify.stdout).contains(&format!("tree size {} ", n + 2)),
        "{}",
        text(&verify.stdout)
    );
}
