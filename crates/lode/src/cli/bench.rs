//! `lode bench`: runs the scale benchmark, the `lode-bench` program from the workspace's
//! `crates/lode-bench` (it depends on lode, so lode cannot link it; it is found beside this
//! binary, where `cargo build --release` puts both).

use std::process::{Command, ExitCode};

use super::{CommandError, ErrorClass};

/// Measure what plans and applies cost on a generated estate (runs `lode-bench` with these
/// arguments; `lode bench --help` shows them). See docs/performance.md.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// The arguments of `lode-bench`, e.g. `--tags 10000 --latency-ms 20 --format json`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode, CommandError> {
    let lode = std::env::current_exe().map_err(|e| {
        CommandError::user(format!("cannot find this program's path: {e}"))
            .with_class(ErrorClass::Internal)
    })?;
    let bench = lode.with_file_name(format!("lode-bench{}", std::env::consts::EXE_SUFFIX));
    if !bench.is_file() {
        return Err(CommandError::user(format!(
            "`lode bench` runs {}, which is not there",
            bench.display()
        ))
        .with_class(ErrorClass::Config)
        .hint("build it beside lode: `cargo build --release -p lode -p lode-bench`"));
    }
    // stdin, stdout and stderr are the bench's own: its report is the data.
    let status = Command::new(&bench)
        .args(&args.args)
        .arg("--lode")
        .arg(&lode)
        .status()
        .map_err(|e| {
            CommandError::user(format!("cannot run {}: {e}", bench.display()))
                .with_class(ErrorClass::Config)
        })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        // Its errors are 1 like lode's; a signal counts as a failure too.
        _ => ExitCode::from(1),
    })
}
