//! The command line: argument parsing (one file per subcommand, each with an `XArgs` whose doc
//! comment is its `--help`), the one place that prints, and the error classifier that turns any
//! module's error into an exit code, a message and `hint:` lines.

mod apply;
mod bench;
mod destroy;
#[cfg(feature = "emulators")]
mod emulator;
mod force_unlock;
mod graph;
mod history;
mod import;
mod interrupt;
mod plan;
pub mod printer;
mod pull;
mod report;
mod rollback;
mod schema;
mod snapshot;
mod state;
mod status;
mod stop;
#[cfg(feature = "emulators")]
mod up;
mod validate;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

pub use printer::{ColorChoice, Printer, Verbosity};

use crate::app::connect::ConnectError;
use crate::app::session::{
    FindRootError, OpenSessionError, PlanError, RecoverError, Session, SessionArgs,
};

use crate::manifest::source::ReadSourceError;
use crate::manifest::{LoadManifestsError, ManifestError};
use crate::provider::ProviderError;
use crate::state::StateError;

/// lode: a declarative reconciler for Databricks and Ignition 8.3. Manifests in git describe the
/// desired state; `lode plan` shows what would change and `lode apply` makes it so.
#[derive(Debug, Parser)]
#[command(name = "lode", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The environment to work on (`environments/<name>.yaml`; `local` is built in).
    #[arg(long, global = true, default_value = "local", env = "LODE_ENV")]
    pub env: String,
    /// The manifest root (the folder with lode.yaml). Default: the current folder or an
    /// ancestor with lode.yaml, then ./manifests.
    #[arg(long, global = true, env = "LODE_DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// When to colour output: auto (a terminal without NO_COLOR; CLICOLOR_FORCE forces it),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Say less on stderr: errors and warnings only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: progress lines even when it is not a terminal, and info logs
    /// (RUST_LOG still decides the log filter when set).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl GlobalArgs {
    /// The `--dir` and `--env` of a session.
    pub fn session(&self) -> SessionArgs {
        SessionArgs {
            dir: self.dir.clone(),
            env: self.env.clone(),
        }
    }

    /// The printer these options ask for.
    pub fn printer(&self) -> Printer {
        let verbosity = if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        Printer::new(self.color, verbosity)
    }
}

/// The printer of this run, set once from the global options before any command runs.
static PRINTER: std::sync::OnceLock<Printer> = std::sync::OnceLock::new();

/// The one printer every command writes through.
pub fn printer() -> &'static Printer {
    PRINTER.get_or_init(|| Printer::new(ColorChoice::Auto, Verbosity::Normal))
}

/// Opens the session a command works on (the manifests at `rev`, the environment, its state
/// and providers), reporting through the printer.
pub fn open_session(global: &GlobalArgs, rev: Option<&str>) -> Result<Session, CommandError> {
    Ok(Session::open(
        &global.session(),
        rev,
        Arc::new(printer().clone()),
    )?)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(validate::ValidateArgs),
    Verify(verify::VerifyArgs),
    Plan(plan::PlanArgs),
    Apply(apply::ApplyArgs),
    Rollback(rollback::RollbackArgs),
    #[command(subcommand)]
    State(state::StateCommand),
    Schema(schema::SchemaArgs),
    Graph(graph::GraphArgs),
    #[cfg(feature = "emulators")]
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
    ForceUnlock(force_unlock::ForceUnlockArgs),
    History(history::HistoryArgs),
    Stop(stop::StopArgs),
    #[cfg(feature = "emulators")]
    Up(up::UpArgs),
    Snapshot(snapshot::SnapshotArgs),
    Snapshots(snapshot::SnapshotsArgs),
    Restore(snapshot::RestoreArgs),
    Destroy(destroy::DestroyArgs),
    Status(status::StatusArgs),
    #[command(subcommand)]
    Report(report::ReportCommand),
    Bench(bench::BenchArgs),
    Import(import::ImportArgs),
    Pull(pull::PullArgs),
}

/// The entry point: parse, run, classify errors, pick the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error, std::env::args().skip(1).collect()),
    };
    let _ = PRINTER.set(cli.global.printer());
    if prints_json(&cli.command) {
        printer().reserve_stdout_for_json();
    }
    init_logging(&cli.global);
    if changes_things(&cli.command) {
        interrupt::install();
    }
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Verify(args) => verify::run(&cli.global, args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Apply(args) => apply::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::State(command) => state::run(&cli.global, command),
        Command::Schema(args) => schema::run(args),
        Command::Graph(args) => graph::run(&cli.global, args),
        #[cfg(feature = "emulators")]
        Command::Emulator(command) => emulator::run(command),
        Command::ForceUnlock(args) => force_unlock::run(&cli.global, args),
        Command::History(args) => history::run(&cli.global, args),
        Command::Stop(args) => stop::run(&cli.global, args),
        #[cfg(feature = "emulators")]
        Command::Up(args) => up::run(&cli.global, args),
        Command::Snapshot(args) => snapshot::snapshot(&cli.global, args),
        Command::Snapshots(args) => snapshot::list(&cli.global, args),
        Command::Restore(args) => snapshot::restore(&cli.global, args),
        Command::Destroy(args) => destroy::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Report(command) => report::run(&cli.global, command),
        Command::Bench(args) => bench::run(args),
        Command::Import(args) => import::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            printer().error(&error.render());
            error.class.exit_code()
        }
    }
}

/// The commands that execute plans or write manifests and state, where a first Ctrl-C
/// finishes the running steps and records them instead of killing the process mid-step.
fn changes_things(command: &Command) -> bool {
    matches!(
        command,
        Command::Apply(_)
            | Command::Rollback(_)
            | Command::Restore(_)
            | Command::Destroy(_)
            | Command::Import(_)
            | Command::Pull(_)
    )
}

/// Whether the command was asked for `--format json`: its stdout is then exactly one JSON
/// document, and every line for people goes to stderr.
fn prints_json(command: &Command) -> bool {
    let plan_json = |format: plan::PlanFormat| format == plan::PlanFormat::Json;
    match command {
        Command::Validate(args) => args.format == TextOrJson::Json,
        Command::Verify(args) => args.format == TextOrJson::Json,
        Command::Plan(args) => plan_json(args.format),
        Command::Apply(args) => plan_json(args.apply.format),
        Command::Rollback(args) => plan_json(args.apply.format),
        Command::Restore(args) => plan_json(args.apply.format),
        Command::Destroy(args) => plan_json(args.apply.format),
        Command::State(state::StateCommand::List { format }) => *format == TextOrJson::Json,
        Command::History(args) => args.format == TextOrJson::Json,
        Command::Status(args) => args.format == TextOrJson::Json,
        Command::Snapshots(args) => args.format == TextOrJson::Json,
        Command::Import(args) => args.format == TextOrJson::Json,
        Command::Pull(args) => args.format == TextOrJson::Json,
        _ => false,
    }
}

/// A command line clap refused (or `--help`/`--version`, which it reports the same way).
/// Usage errors exit 1, never 2: 2 means "changes present" under `--detailed-exitcode`, and a
/// typo in a nightly drift job must not open a drift report.
fn usage_error(error: clap::Error, args: Vec<String>) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
    }
    let printer = Printer::new(ColorChoice::Auto, Verbosity::Normal);
    let rendered = error.render().to_string();
    printer.error(rendered.trim_end());
    printer.error("\n");
    for hint in single_dash_hints(&args) {
        printer.error(&format!("hint: {hint}\n"));
    }
    ExitCode::from(1)
}

/// Hints for Terraform-style single-dash flags (`-auto-approve`, `-target=x`): lode's flags
/// take two dashes. Only words that are lode flags get a hint (`-qv` is two short flags).
pub fn single_dash_hints(args: &[String]) -> Vec<String> {
    use clap::CommandFactory;
    let mut long_flags = std::collections::BTreeSet::new();
    collect_long_flags(&Cli::command(), &mut long_flags);
    let mut hints = Vec::new();
    for arg in args {
        if arg == "--" {
            break;
        }
        let Some(rest) = arg.strip_prefix('-') else {
            continue;
        };
        let name = rest.split('=').next().unwrap_or(rest);
        if !rest.starts_with('-') && long_flags.contains(name) {
            hints.push(format!(
                "lode's flags take two dashes: use `-{arg}` instead of `{arg}`"
            ));
        }
    }
    hints
}

fn collect_long_flags(command: &clap::Command, found: &mut std::collections::BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            found.insert(long.to_string());
        }
    }
    for sub in command.get_subcommands() {
        collect_long_flags(sub, found);
    }
}

fn init_logging(global: &GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error,buoyant_kernel=off,deltalake_core=off",
        (_, true) => "info,buoyant_kernel=off,deltalake_core=error",
        _ => "warn,buoyant_kernel=off,deltalake_core=error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(global.printer().stderr_color())
        .try_init();
}

/// Which kind of failure, for the message prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad input: manifests, arguments, a refused plan.
    User,
    /// The environment or local setup: state, locks, files.
    Config,
    /// A live system refused or failed.
    Remote,
    /// A bug in lode.
    Internal,
    /// The person pressed Ctrl-C: what ran is recorded, the rest did not start.
    Interrupted,
}

impl ErrorClass {
    /// The exit code of an error of this class. Every failure class exits 1: CI scripts treat
    /// any code but 0 and `--detailed-exitcode`'s 2 as a failure, as they do for Terraform,
    /// and a code per class would be a new contract. The class decides the message prefix and
    /// the hints; this is the one place to change if codes per class are wanted. An
    /// interrupted apply exits 130, as a shell reports a command ended by Ctrl-C.
    pub fn exit_code(self) -> ExitCode {
        match self {
            ErrorClass::User | ErrorClass::Config | ErrorClass::Remote | ErrorClass::Internal => {
                ExitCode::from(1)
            }
            ErrorClass::Interrupted => ExitCode::from(130),
        }
    }
}

/// `--format` of the commands that print either lines for people or JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// An error ready to print: message, hints, and manifest problems with their source lines.
#[derive(Debug)]
pub struct CommandError {
    pub class: ErrorClass,
    pub message: String,
    pub hints: Vec<String>,
    pub manifest_errors: Vec<ManifestError>,
}

impl CommandError {
    pub fn user(message: impl Into<String>) -> CommandError {
        CommandError {
            class: ErrorClass::User,
            message: message.into(),
            hints: Vec::new(),
            manifest_errors: Vec::new(),
        }
    }

    pub fn with_class(mut self, class: ErrorClass) -> CommandError {
        self.class = class;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hints.push(hint.into());
        self
    }

    /// Everything as it will be printed (stderr), without colour.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for error in &self.manifest_errors {
            out.push_str(&render_manifest_error(error));
            out.push('\n');
        }
        let prefix = match self.class {
            ErrorClass::Internal => "internal error",
            _ => "error",
        };
        out.push_str(&format!("{prefix}: {}\n", self.message));
        for hint in &self.hints {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
}

/// One manifest problem with its source line, rustc style.
pub fn render_manifest_error(error: &ManifestError) -> String {
    let mut out = format!(
        "error: {}\n  --> {}:{}:{}\n",
        error.message, error.file, error.line, error.column
    );
    if let Some(line) = &error.source_line {
        let number = error.line.to_string();
        let pad = " ".repeat(number.len());
        let caret_pad: String = line
            .chars()
            .take(error.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!(
            "{pad} |\n{number} | {line}\n{pad} | {caret_pad}^\n"
        ));
    }
    if let Some(hint) = &error.hint {
        out.push_str(&format!("  = hint: {hint}\n"));
    }
    out
}

impl From<LoadManifestsError> for CommandError {
    fn from(error: LoadManifestsError) -> CommandError {
        match error {
            LoadManifestsError::Invalid(errors) => CommandError {
                class: ErrorClass::User,
                message: format!(
                    "{} problem{} in the manifests; lode changed nothing",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                ),
                hints: vec![
                    "`lode validate` checks the manifests; `lode schema` describes every kind"
                        .into(),
                ],
                manifest_errors: errors,
            },
            LoadManifestsError::Source(error) => error.into(),
        }
    }
}

impl From<ReadSourceError> for CommandError {
    fn from(error: ReadSourceError) -> CommandError {
        let hint = match &error {
            ReadSourceError::NoRoot(_) => {
                Some("run lode in the folder with lode.yaml, or pass --dir")
            }
            ReadSourceError::ShallowClone { .. } => Some(
                "fetch the history: `git fetch --unshallow` (in GitHub Actions: actions/checkout with fetch-depth: 0)",
            ),
            ReadSourceError::UnknownRevision { .. } => {
                Some("check the revision with `git log --oneline`")
            }
            ReadSourceError::NotARepository(_) => {
                Some("--rev reads manifests from git; run inside a repository or drop --rev")
            }
            _ => None,
        };
        let mut command = CommandError::user(error.to_string());
        if let Some(hint) = hint {
            command = command.hint(hint);
        }
        command
    }
}

impl From<StateError> for CommandError {
    fn from(error: StateError) -> CommandError {
        let hint = match &error {
            StateError::Locked { .. } => Some(
                "wait for the other run to finish; a local lock is released when its process exits, a workspace lock whose holder died is removed with `lode force-unlock ID`",
            ),
            StateError::Corrupt { .. } => {
                Some("restore state.json from a backup; lode never writes a partial state file")
            }
            StateError::WrongLockId { .. } => {
                Some("the current lock's id is in the \"locked by\" error of the run it blocked")
            }
            StateError::UnsupportedFormat {
                found, supported, ..
            } if found > supported => Some(
                "it was written by a newer lode: upgrade lode to work on this environment (this lode leaves the file untouched)",
            ),
            StateError::UnsupportedFormat { .. } => Some(
                "no lode writes that version: restore state.json from a backup (this lode leaves the file untouched)",
            ),
            StateError::UnreadableLog { .. } => Some(
                "the state file is intact, but the changes the interrupted apply logged cannot be trusted: move wal.jsonl aside and run `lode plan`, which reads the live systems again (what that apply changed shows as drift or adoption)",
            ),
            StateError::Storage { .. } => None,
        };
        let mut command = CommandError::user(error.to_string()).with_class(ErrorClass::Config);
        if let Some(hint) = hint {
            command = command.hint(hint);
        }
        command
    }
}

impl From<ProviderError> for CommandError {
    fn from(error: ProviderError) -> CommandError {
        use crate::provider::databricks::client::ApiError;
        use crate::provider::ignition::client::GatewayError;
        use crate::provider::retry::Unrecoverable;
        let class = match error {
            ProviderError::NotConfigured(_) => ErrorClass::Config,
            _ => ErrorClass::Remote,
        };
        let hint = match &error {
            ProviderError::Databricks(ApiError::Http { status: 401, .. }) => Some(
                "the workspace refused the credentials: check DATABRICKS_TOKEN, the profile in ~/.databrickscfg, or the OAuth client",
            ),
            ProviderError::Databricks(ApiError::Http { status: 403, .. }) => {
                Some("the credentials lack a permission this change needs; ask a workspace admin")
            }
            ProviderError::Databricks(ApiError::Http { status: 429, .. }) => Some(
                "the workspace is rate limiting lode; lower DATABRICKS_RATE_LIMIT or retry later",
            ),
            ProviderError::Databricks(ApiError::Transport { .. }) => Some(
                "the workspace did not answer: check the host and the network, then run the command again",
            ),
            ProviderError::Gateway(GatewayError::Unauthorized { .. }) => Some(
                "set IGNITION_API_TOKEN (or the environment's token_env) to a valid `name:secret` API key",
            ),
            ProviderError::Databricks(ApiError::Unrecoverable { cause, .. })
            | ProviderError::Gateway(GatewayError::Unrecoverable { cause, .. }) => {
                Some(match cause {
                    Unrecoverable::DiskFull => {
                        "free disk space on that system (or ask its administrator to), then run the command again"
                    }
                    Unrecoverable::QuotaExceeded => {
                        "free space within the quota or have it raised, then run the command again"
                    }
                    Unrecoverable::TooLarge => {
                        "make the file or the seed smaller, or raise the server's request size limit"
                    }
                })
            }
            _ => None,
        };
        let command = CommandError::user(format!("reading the live environment failed: {error}"))
            .with_class(class);
        match hint {
            Some(hint) => command.hint(hint),
            None => command,
        }
    }
}

impl From<FindRootError> for CommandError {
    fn from(error: FindRootError) -> CommandError {
        let command = CommandError::user(error.to_string());
        match error {
            FindRootError::NotFound => {
                command.hint("run lode in the manifest root, or pass --dir PATH")
            }
            FindRootError::CurrentDir(_) => command.with_class(ErrorClass::Config),
        }
    }
}

impl From<ConnectError> for CommandError {
    fn from(error: ConnectError) -> CommandError {
        let command = CommandError::user(error.to_string());
        match error {
            ConnectError::EmulatorsNotBuilt { .. } => command
                .with_class(ErrorClass::Config)
                .hint("use an environment file for real systems (`--env NAME`), or build lode with its default features"),
            ConnectError::Config(_) | ConnectError::Faults(_) => {
                command.with_class(ErrorClass::Config)
            }
            ConnectError::EmulatorFolderBusy { .. } => command
                .with_class(ErrorClass::Config)
                .hint("one process at a time serves an emulator's data folder, on the folder's own port; wait for the other one or stop it")
                .hint("`lode emulator serve --data .lode/<env>` (without --databricks-port or tokens) serves the folder to every lode command at once"),
            _ => command.with_class(ErrorClass::Remote),
        }
    }
}

impl From<OpenSessionError> for CommandError {
    fn from(error: OpenSessionError) -> CommandError {
        match error {
            OpenSessionError::Root(error) => error.into(),
            OpenSessionError::Source(error) => error.into(),
            OpenSessionError::Manifests(error) => error.into(),
            OpenSessionError::Connect(error) => error.into(),
            OpenSessionError::StateWithoutDatabricks { .. } => CommandError::user(
                error.to_string(),
            )
            .with_class(ErrorClass::Config)
            .hint("add `databricks:` to the environment file, or use `state: {backend: local}`"),
        }
    }
}

impl From<PlanError> for CommandError {
    fn from(error: PlanError) -> CommandError {
        match error {
            PlanError::NoTargetMatch(_) => CommandError::user(error.to_string()).hint(
                "targets are addresses (udt/Crusher), kinds (gateway_script), systems (ignition) or address prefixes (tag/Mining/Equipment)",
            ),
            PlanError::Refresh(error) => error.into(),
        }
    }
}

impl From<RecoverError> for CommandError {
    fn from(error: RecoverError) -> CommandError {
        match error {
            RecoverError::State(error) => error.into(),
            RecoverError::Provider(error) => {
                CommandError::user(RecoverError::Provider(error).to_string())
                    .with_class(ErrorClass::Remote)
            }
        }
    }
}
