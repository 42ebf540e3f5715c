//! Helpers shared by the tests that run `agentrail serve` as a child process.
#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const AGENTRAIL: &str = env!("CARGO_BIN_EXE_agentrail");
/// How long the server may take to start or to stop.
pub const STARTUP: Duration = Duration::from_secs(30);

/// A running `agentrail serve`, on a port the kernel chose. Its standard error is collected.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        let mut child = Command::new(AGENTRAIL)
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("AGENTRAIL_DATA")
            .env("AGENTRAIL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start agentrail serve");
        let stderr = child.stderr.take().expect("the server's stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let ready = line.contains("listening");
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
                if ready {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + STARTUP;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("the server did not start:\n{}", log.lock().unwrap());
                }
                Err(_) => {
                    if let Some(status) = child.try_wait().expect("poll the server") {
                        let _ = reader.join();
                        panic!("the server exited ({status}):\n{}", log.lock().unwrap());
                    }
                }
            }
        }
        let info = std::fs::read_to_string(data.join("server.json")).expect("read server.json");
        let info: Value = serde_json::from_str(&info).expect("server.json is JSON");
        let listen: std::net::SocketAddr = info["listen"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("server.json names no listen address: {info}"));
        assert!(listen.ip().is_loopback(), "{info}");
        Server {
            child: Some(child),
            port: listen.port(),
            log,
            reader: Some(reader),
        }
    }

    /// What the server wrote to standard error so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// SIGKILL: the process gets no chance to finish anything. Returns the log.
    pub fn kill(mut self) -> String {
        let mut child = self.child.take().expect("the server runs");
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.log()
    }

    /// SIGTERM, then waits for the exit; returns the exit status and the whole log.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("the server runs");
        let st = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM failed");
        let deadline = Instant::now() + STARTUP;
        let status = loop {
            if let Some(s) = child.try_wait().expect("poll the server") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not stop within {STARTUP:?} of SIGTERM:\n{}",
                    self.log.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Python of the virtualenv `.ci/run` prepares (`AGENTRAIL_INTEROP_PYTHON`), for the tests
/// that run an independent implementation or a real OpenTelemetry SDK. Without it such a test is
/// skipped, with instructions; under CI it must be there.
pub fn interop_python(test: &str) -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("AGENTRAIL_INTEROP_PYTHON") {
        return Some(PathBuf::from(python));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the {test} test needs AGENTRAIL_INTEROP_PYTHON; .ci/run sets it"
    );
    eprintln!(
        "skipping the {test} test: AGENTRAIL_INTEROP_PYTHON is not set. To run it: \
         python3 -m venv target/ci-venv && target/ci-venv/bin/pip install -r \
         tests/interop/requirements.txt && AGENTRAIL_INTEROP_PYTHON=target/ci-venv/bin/python \
         cargo test -p agentrail --test {test}"
    );
    None
}

/// Runs `agentrail --data DATA ARGS`, requires success, returns its standard output verbatim.
pub fn agentrail(data: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(AGENTRAIL)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("AGENTRAIL_DATA")
        .output()
        .expect("run the agentrail binary");
    assert!(
        out.status.success(),
        "agentrail {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Copies a directory tree (regular files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("list the directory") {
        let entry = entry.expect("read a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}
