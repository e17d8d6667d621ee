//! The command line: argument parsing (one file per subcommand, each with an `XArgs` whose doc
//! comment is its `--help`), the one place that prints, and the error classifier that turns any
//! module's error into an exit code, a message and `hint:` lines.

mod apply;
mod bench;
mod destroy;
mod emulator;
mod force_unlock;
mod graph;
mod history;
mod plan;
mod report;
mod rollback;
mod schema;
mod snapshot;
mod state;
mod status;
mod stop;
mod validate;
mod verify;
pub mod workspace;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
    ForceUnlock(force_unlock::ForceUnlockArgs),
    History(history::HistoryArgs),
    Stop(stop::StopArgs),
    Snapshot(snapshot::SnapshotArgs),
    Snapshots(snapshot::SnapshotsArgs),
    Restore(snapshot::RestoreArgs),
    Destroy(destroy::DestroyArgs),
    Status(status::StatusArgs),
    #[command(subcommand)]
    Report(report::ReportCommand),
    Bench(bench::BenchArgs),
}

/// The entry point: parse, run, classify errors, pick the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Verify(args) => verify::run(&cli.global, args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Apply(args) => apply::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::State(command) => state::run(&cli.global, command),
        Command::Schema(args) => schema::run(args),
        Command::Graph(args) => graph::run(&cli.global, args),
        Command::Emulator(command) => emulator::run(command),
        Command::ForceUnlock(args) => force_unlock::run(&cli.global, args),
        Command::History(args) => history::run(&cli.global, args),
        Command::Stop(args) => stop::run(&cli.global, args),
        Command::Snapshot(args) => snapshot::snapshot(&cli.global, args),
        Command::Snapshots(args) => snapshot::list(&cli.global, args),
        Command::Restore(args) => snapshot::restore(&cli.global, args),
        Command::Destroy(args) => destroy::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Report(command) => report::run(&cli.global, command),
        Command::Bench(args) => bench::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            error.print();
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,buoyant_kernel=off,deltalake_core=error")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colors_enabled(&std::io::stderr()))
        .try_init();
}

/// Colour only on a terminal, never with `NO_COLOR` or `TERM=dumb`.
pub fn colors_enabled(stream: &impl IsTerminal) -> bool {
    stream.is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
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

    fn print(&self) {
        eprint!("{}", self.render());
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
        let class = match error {
            ProviderError::NotConfigured(_) => ErrorClass::Config,
            _ => ErrorClass::Remote,
        };
        CommandError::user(format!("reading the live environment failed: {error}"))
            .with_class(class)
    }
}
