//! `agentrail`: the binary. Parses the command line, runs one verb, maps the outcome to an exit
//! code:
//! - 0: success;
//! - 1: the input or the log is invalid (rejected events, failed verification, unknown ids);
//! - 2: usage or I/O error (bad flags, a data directory that will not open, a held lock), so an
//!   environment problem is never mistaken for tampering.
#![forbid(unsafe_code)]

/// `println!` that returns an I/O error instead of panicking (a closed pipe is not a crash).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?;
    }};
}

/// `print!` that returns an I/O error instead of panicking.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?;
    }};
}

mod cli;
mod cmd;
mod exit;

use clap::Parser;

// Ingest allocates on one thread and frees on another; glibc's allocator spends a quarter of
// the ingest time on that, mimalloc a fraction of it (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code.into(),
        // `agentrail ... | head`: the reader left; that is not an error of ours.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("agentrail: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            exit::code_for(&err).into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
