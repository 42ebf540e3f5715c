//! `agentrail`: the binary. Parses the command line, runs one verb, maps the outcome to an exit
//! code:
//! - 0: success;
//! - 1: the input or the log is invalid (rejected events, failed verification, unknown ids);
//! - 2: usage or I/O error (bad flags, a data directory that will not open, a held lock), so an
//!   environment problem is never mistaken for tampering.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod exit;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("agentrail: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            exit::code_for(&err).into()
        }
    }
}
