//! The command line, as clap types. Verb and flag names here are contracts: scripts and other
//! tools are built against them.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "agentrail",
    version,
    about = "The audit trail for AI agents: who or what did what, when and why, with proof.",
    after_help = "Exit codes: 0 success; 1 the input or the log is invalid; 2 usage or I/O error."
)]
pub struct Cli {
    /// The data directory.
    #[arg(
        long,
        global = true,
        env = "AGENTRAIL_DATA",
        default_value = "./agentrail-data"
    )]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: database, signing key (0600) and checkpoint origin.
    Init(InitArgs),
    /// Append NDJSON events from a file or standard input.
    Ingest(IngestArgs),
    /// Read stored events.
    #[command(subcommand)]
    Event(EventCommand),
    /// Print the latest signed checkpoint, verbatim.
    Checkpoint(CheckpointArgs),
    /// Print an inclusion proof (c2sp.org/tlog-proof@v1) or a consistency proof.
    Prove(ProveArgs),
    /// Check a proof offline: needs no data directory.
    VerifyProof(VerifyProofArgs),
    /// Check offline that a newer checkpoint extends an older one: needs no data directory.
    VerifyConsistency(VerifyConsistencyArgs),
    /// Re-derive the whole log from its leaves and report every problem.
    Verify(VerifyArgs),
    /// Print the log's verifier key (C2SP note format).
    Key,
    /// Ingest the bundled example agent events, verify them and show what to try next.
    Demo(DemoArgs),
    /// Benchmarks (docs/benchmarks.md).
    #[command(hide = true)]
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Checkpoint origin (the log's name); default: <hostname>/agentrail/<random log id>.
    #[arg(long)]
    pub origin: Option<String>,
    /// Also write every new checkpoint to this directory (remembered).
    #[arg(long)]
    pub publish: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// NDJSON file; `-` or nothing for standard input.
    pub file: Option<PathBuf>,
    /// Events per durable batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,
    /// The `source` recorded for these events: `cli` or `import:<name>`.
    #[arg(long, default_value = "cli")]
    pub source: String,
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Print a stored event as RFC 8785 bytes (no trailing newline).
    Get {
        /// The event id.
        id: String,
        /// Print the Merkle leaf bytes instead (the header with body_sha256).
        #[arg(long)]
        leaf: bool,
    },
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Sign a checkpoint of the current tree first (if it grew).
    #[arg(long)]
    pub new: bool,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The event id to prove inclusion of.
    #[arg(
        required_unless_present = "consistency",
        conflicts_with = "consistency"
    )]
    pub id: Option<String>,
    /// Prove consistency between two checkpointed sizes (NEW_SIZE default: the latest
    /// checkpoint); prints one base64 hash a line.
    #[arg(long, num_args = 1..=2, value_names = ["OLD_SIZE", "NEW_SIZE"])]
    pub consistency: Option<Vec<u64>>,
}

#[derive(Debug, Args)]
#[group(id = "keysource", required = true, multiple = false, args = ["key", "key_file"])]
pub struct KeyArgs {
    /// The log's verifier key, `name+keyhash+base64`.
    #[arg(long)]
    pub key: Option<String>,
    /// A file holding the verifier key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The stored event, as `agentrail event get` printed it.
    #[arg(long)]
    pub event: PathBuf,
    /// The tlog-proof, as `agentrail prove` printed it.
    pub proof: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyConsistencyArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The older signed checkpoint.
    pub old: PathBuf,
    /// The newer signed checkpoint.
    pub new: PathBuf,
    /// The proof, as `agentrail prove --consistency` printed it.
    pub proof: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Checkpoints kept elsewhere (signed notes) the log must be consistent with.
    #[arg(long, num_args = 1..)]
    pub trusted: Vec<PathBuf>,
    /// Check checkpoint signatures with this verifier key instead of the one in the store.
    #[arg(long, conflicts_with = "key_file")]
    pub key: Option<String>,
    /// A file holding that verifier key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Leaves per read transaction.
    #[arg(long, default_value_t = 10_000, hide = true)]
    pub chunk: usize,
}

#[derive(Debug, Args)]
pub struct DemoArgs {}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Where to create the benchmark's data directories (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable append throughput of ~1 KB events through the ingest pipeline.
    Append {
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        #[arg(long, default_value_t = 200_000)]
        events: usize,
    },
    /// Full verification throughput.
    Verify {
        #[arg(long, default_value_t = 200_000)]
        events: usize,
    },
}
