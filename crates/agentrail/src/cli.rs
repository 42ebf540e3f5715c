//! The command line, as clap types. Verb and flag names here are contracts: scripts and other
//! tools are built against them.

use clap::{Args, Parser, Subcommand, ValueEnum};
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
    /// The agent inventory (default: agents.toml in the data directory). Policy files it names
    /// are read relative to its directory.
    #[arg(long, global = true, env = "AGENTRAIL_AGENTS")]
    pub agents: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Where the inventory is read from.
    pub fn inventory_path(&self) -> PathBuf {
        self.agents
            .clone()
            .unwrap_or_else(|| self.data.join("agents.toml"))
    }
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
    /// Run the collector: native JSON and OTLP/HTTP ingest, the one writer of the data directory.
    Serve(ServeArgs),
    /// Create, list and revoke API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// List agent runs (sessions), newest first, with filters.
    Sessions(SessionsArgs),
    /// Tell one agent run: intent, scope, decisions, outcome, with its inclusion verified.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Rebuild the session index (DATA/index.sqlite) from the ledger alone.
    Reindex,
    /// The agent inventory (agents.toml): list, show, add, import, export, and discover the
    /// agents and principals nobody registered.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Gap assessment: score each agent Yes/Partial/No on Intent, Scope, Decision trace and
    /// Outcome from the evidence in a period (docs/assessment.md).
    Assess(AssessArgs),
    /// Build an evidence bundle for auditors: a period's complete population, a fair sample of
    /// its runs with proofs and narratives, inventory, policies, assessment, all signed
    /// (docs/evidence.md).
    Evidence(EvidenceArgs),
    /// Check an evidence bundle offline: needs no data directory and no network.
    VerifyBundle(VerifyBundleArgs),
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
    /// A TOML file whose [redaction] table extends the default redaction policy.
    #[arg(long)]
    pub redaction: Option<PathBuf>,
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
    /// Also replay the log's inventory and policy records and re-evaluate every scope policy
    /// decision the session index holds (docs/policy.md).
    #[arg(long)]
    pub policies: bool,
}

/// How `sessions` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

/// How `session show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
    Md,
}

/// The filters of `sessions`: each is an exact match, except `--from` and `--to`, which bound
/// when a session started. Their names are the HTTP API's query parameters.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Sessions of this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Sessions started by this initiator (`trigger.initiator`).
    #[arg(long)]
    pub initiator: Option<String>,
    /// Sessions whose trigger type is this: user, schedule, system or agent.
    #[arg(long)]
    pub trigger: Option<String>,
    /// Sessions that ended so (succeeded, failed, cancelled, partial), or `open`.
    #[arg(long)]
    pub status: Option<String>,
    /// Sessions that started at or after this time (RFC 3339, or a date: midnight UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// Sessions that started before this time (RFC 3339, or a date: midnight UTC).
    #[arg(long)]
    pub to: Option<String>,
    /// Sessions that acted on this system.
    #[arg(long)]
    pub system: Option<String>,
    /// Sessions that touched this resource (or resource id).
    #[arg(long)]
    pub resource: Option<String>,
    /// Sessions that served this external request id.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Sessions of this conversation.
    #[arg(long)]
    pub conversation_id: Option<String>,
    /// Sessions that acted as this principal.
    #[arg(long)]
    pub principal: Option<String>,
    /// Only sessions with a scope violation (an action or start a scope policy denied).
    #[arg(long)]
    pub violations: bool,
    /// Sessions per page, 1 to 1000 (default 50).
    #[arg(long)]
    pub limit: Option<String>,
    /// The cursor a previous page printed: the next page.
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Tell one session, or every session that served a request id (newest first).
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The session id.
    #[arg(required_unless_present = "request", conflicts_with = "request")]
    pub id: Option<String>,
    /// Show the sessions that served this external request id instead.
    #[arg(long)]
    pub request: Option<String>,
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    /// Check checkpoints with your own copy of the log's verifier key rather than the key the
    /// data directory records.
    #[arg(long, conflicts_with = "key_file")]
    pub key: Option<String>,
    /// A file holding your copy of the log's verifier key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {}

/// How inventory and discovery verbs print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentsFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List the agents in the inventory.
    List {
        #[arg(long, value_enum, default_value_t = AgentsFormat::Text)]
        format: AgentsFormat,
    },
    /// Show one agent: its inventory entry and what the events show of it.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = AgentsFormat::Text)]
        format: AgentsFormat,
    },
    /// Add an agent to the inventory (appended to the file; its comments are kept) and record
    /// the change in the log.
    Add(Box<AddAgentArgs>),
    /// Add the agents of a TOML or JSON inventory file to this one, and record the change.
    Import {
        file: PathBuf,
        /// Replace agents whose id is already registered (the file is rewritten: its comments
        /// are not kept).
        #[arg(long)]
        replace: bool,
    },
    /// Print the inventory (as TOML or JSON).
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Toml)]
        format: ExportFormat,
        /// Export the inventory the log last recorded, not the file.
        #[arg(long)]
        recorded: bool,
    },
    /// List the agent ids and principals seen in agent events that the inventory does not
    /// register.
    Discover {
        #[arg(long, value_enum, default_value_t = AgentsFormat::Text)]
        format: AgentsFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Toml,
    Json,
}

#[derive(Debug, Args)]
pub struct AddAgentArgs {
    /// The agent id, as its events' `agent_id`.
    pub id: String,
    /// llm-agent, api-integration, scheduled-job, service-account, internal-automation or
    /// third-party-ai-tool.
    #[arg(long)]
    pub kind: String,
    /// Who answers for it (a team or a person).
    #[arg(long)]
    pub owner: String,
    #[arg(long, default_value = "")]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// A service account or key id it acts under (a reference, never a secret); repeatable.
    #[arg(long = "principal")]
    pub principals: Vec<String>,
    /// A system it may touch; repeatable.
    #[arg(long = "system")]
    pub systems: Vec<String>,
    /// An allowed trigger (user, schedule, system, agent); repeatable.
    #[arg(long = "trigger")]
    pub triggers: Vec<String>,
    /// public, internal, confidential, customer or restricted.
    #[arg(long)]
    pub classification: Option<String>,
    /// It holds elevated permissions.
    #[arg(long)]
    pub elevated: bool,
    /// Its Cedar policy file, relative to the inventory's directory.
    #[arg(long)]
    pub policy: Option<String>,
}

/// How `assess` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssessFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct AssessArgs {
    /// Sessions that started at or after this time (RFC 3339, or a date: midnight UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// Sessions that started before this time (RFC 3339, or a date: midnight UTC).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value_t = AssessFormat::Md)]
    pub format: AssessFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

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
    /// Load on a collector: concurrent clients posting batches, durable acknowledgements timed.
    Load(LoadArgs),
    /// Reconstruction latency through the HTTP API on a realistic store (10 million events).
    Sessions(SessionsBenchArgs),
    /// Session index catch-up with and without scope policies to evaluate.
    Policies {
        #[arg(long, default_value_t = 500_000)]
        events: u64,
    },
    /// Building an evidence bundle of a whole log, and verifying it.
    Evidence {
        #[arg(long, default_value_t = 200_000)]
        events: usize,
    },
}

#[derive(Debug, Args)]
pub struct SessionsBenchArgs {
    /// Events in the generated store (about 38 per session).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Reuse the store an earlier run built under --dir instead of building it again.
    #[arg(long)]
    pub reuse: bool,
    /// Timed requests per kind of question.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Run the server with read auditing off (for the comparison only).
    #[arg(long)]
    pub no_audit: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// A running collector; default: start `agentrail serve` on a fresh data directory.
    #[arg(long)]
    pub url: Option<String>,
    /// An API key for --url.
    #[arg(long)]
    pub key: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Events (or spans) per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Send OTLP protobuf spans to /v1/traces instead of native events.
    #[arg(long)]
    pub otlp: bool,
    /// Target events a second across all clients (paced, open loop); default: as fast as acknowledged.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Start the collector with this inventory (its policies are then evaluated by the indexer).
    #[arg(long)]
    pub inventory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (the OTLP/HTTP port by default, so exporters' defaults work).
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub listen: std::net::SocketAddr,
    /// Largest request body as sent, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Largest request body after gzip decompression, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_decompressed_bytes: usize,
    /// Most events (or spans) in one request.
    #[arg(long, default_value_t = 10_000)]
    pub max_events_per_request: usize,
    /// Largest single event, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_event_bytes: usize,
    /// Batches that may wait for the writer before requests are refused with 503.
    #[arg(long, default_value_t = 1024)]
    pub queue: usize,
    /// Requests handled at once before further ones are refused with 503.
    #[arg(long, default_value_t = 64)]
    pub max_inflight: usize,
    /// A TOML file whose [redaction] table extends the default redaction policy.
    #[arg(long)]
    pub redaction: Option<PathBuf>,
    /// Requests a second allowed per API key (429 beyond); unlimited by default.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Minimum milliseconds between two checkpoints while the log grows.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_interval_ms: u64,
    /// Seconds a client may take to send a request body (408 beyond).
    #[arg(long, default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// After SIGTERM, seconds to let requests in flight finish before closing them.
    #[arg(long, default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// Do not record reads in the log: only for `bench sessions --no-audit`, which measures
    /// what auditing costs. Hidden, and the server warns when it is set.
    #[arg(long, hide = true)]
    pub no_read_audit: bool,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        #[arg(long, value_parser = ["ingest", "read", "admin"])]
        role: String,
        /// Bind an ingest key to one agent: it may write only that agent's events.
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// The period's start (RFC 3339 or a date): the period begins at the first checkpoint whose
    /// last leaf was received at or after it (docs/evidence.md).
    #[arg(long, required_unless_present = "session", conflicts_with = "session")]
    pub from: Option<String>,
    /// The period's end: it ends at the first checkpoint whose last leaf was received at or
    /// after it. Without it, the period ends at the last checkpoint.
    #[arg(long, requires = "from", conflicts_with = "session")]
    pub to: Option<String>,
    /// Draw the sample only from sessions with an event by this agent (repeatable).
    // Its own id: `agents` is the global `--agents` (the inventory file).
    #[arg(long = "agent", id = "agent", requires = "from", conflicts_with_all = ["session", "sessions"])]
    pub agents: Vec<String>,
    /// How many sessions to sample.
    #[arg(long, default_value_t = 25, requires = "from", conflicts_with_all = ["session", "sessions"],
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub sample: u64,
    /// The sample's seed (its UTF-8 bytes); default: the end checkpoint's root.
    #[arg(long, requires = "from", conflicts_with_all = ["sessions", "session"])]
    pub seed: Option<String>,
    /// The auditor's own sample: a file with one session id per line.
    #[arg(long, requires = "from", conflicts_with = "session")]
    pub sessions: Option<PathBuf>,
    /// A bundle for this one session instead of a period.
    #[arg(long)]
    pub session: Option<String>,
    /// Checkpoints the auditor kept (signed notes): the bundle carries a consistency proof
    /// between each and its end checkpoint, for `verify-bundle --trusted`.
    #[arg(long, num_args = 1..)]
    pub trusted: Vec<PathBuf>,
    /// Where to write the bundle: a new directory, or a file ending in .zip.
    #[arg(long)]
    pub out: PathBuf,
}

impl EvidenceArgs {
    /// A period from `from` to the last checkpoint, 25 sessions drawn from the end root.
    pub fn since(from: &str, out: PathBuf) -> EvidenceArgs {
        EvidenceArgs {
            from: Some(from.to_string()),
            to: None,
            agents: Vec::new(),
            sample: 25,
            seed: None,
            sessions: None,
            session: None,
            trusted: Vec::new(),
            out,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle: a directory or a .zip file.
    pub path: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Checkpoints kept from earlier (signed notes): the bundle's log must extend each.
    #[arg(long, num_args = 1..)]
    pub trusted: Vec<PathBuf>,
    /// The seed you gave `evidence --seed`: the sample must have been drawn with it.
    #[arg(long, conflicts_with = "sessions")]
    pub seed: Option<String>,
    /// Your own list of sessions (as given to `evidence --sessions`): the sample must be it.
    #[arg(long)]
    pub sessions: Option<PathBuf>,
}
