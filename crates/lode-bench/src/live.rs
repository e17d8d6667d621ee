//! `lode-bench --live`: the runbook's figures for the live stack (issue #16), measured on the
//! demo manifests rather than by hand. It copies the manifests into the work folder with the
//! active probe switched on, applies them, starts `lode up` and waits until every check passes.
//! Then it runs the flow checks K times: tag change → bronze and bronze → gold p95, Genie's
//! answer, and the probe's written value into bronze, gold and the answer. It runs the incident
//! drill once (a commit that points the Zerobus connector at a wrong table, then
//! `apply --verify --rollback-on-failure`). Last comes a soak of N minutes: every 30 s it samples
//! `lode up`'s resident memory, CPU time and data folder, and it counts the seconds in which
//! bronze received nothing. Each step is a `lode` child process. Every figure comes from what
//! lode printed, from /proc, or from the tables: nothing is estimated.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lode::cli::{CommandError, ErrorClass, TextOrJson};
use lode::manifest::kinds::CheckType;
use serde_json::{Value, json};

use super::{
    BenchArgs, Target, Verdict, Workdir, commit_all, config_error, git_error, internal,
    lode_binary, machine, round, wait_measured,
};

/// The built-in environment `lode up` runs live.
const ENV: &str = "local";
/// The checks each round runs, as the demo names them.
const LATENCY_CHECK: &str = "telemetry_latency";
const GENIE_CHECK: &str = "genie_answers";
const PROBE_CHECK: &str = "telemetry_probe";
/// How often the soak samples `lode up`.
const SAMPLE_EVERY: Duration = Duration::from_secs(30);
/// How long `lode up` has to stop after Ctrl-C before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);
/// The drill's harmless-looking change, as `examples/incident-drill.sh` makes it.
const ZEROBUS_FILE: &str = "ignition/zerobus.yaml";
const GOOD_TARGET: &str = "targetTable: ${ref.table.ot_telemetry_bronze.full_name}";
const BAD_TARGET: &str = "targetTable: ${var.catalog}.${var.schema}.ot_telemetry_raw";
/// The runbook's budget for the drill: detection to validated recovery.
const RECOVERY_BUDGET_S: f64 = 60.0;
const RECOVERY_MARK: &str = " s (detection to validated recovery)";

/// One figure a round reads from `lode verify --format json`, with the runbook's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Measure {
    TagToBronzeP95,
    BronzeToGoldP95,
    GenieAnswer,
    ProbeToBronze,
    ProbeToGold,
    ProbeToAnswer,
}

impl Measure {
    const ALL: [Measure; 6] = [
        Measure::TagToBronzeP95,
        Measure::BronzeToGoldP95,
        Measure::GenieAnswer,
        Measure::ProbeToBronze,
        Measure::ProbeToGold,
        Measure::ProbeToAnswer,
    ];

    fn key(self) -> &'static str {
        match self {
            Measure::TagToBronzeP95 => "tag_to_bronze_p95_s",
            Measure::BronzeToGoldP95 => "bronze_to_gold_p95_s",
            Measure::GenieAnswer => "genie_answer_s",
            Measure::ProbeToBronze => "probe_to_bronze_s",
            Measure::ProbeToGold => "probe_to_gold_s",
            Measure::ProbeToAnswer => "probe_to_answer_s",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Measure::TagToBronzeP95 => "tag change → bronze, p95",
            Measure::BronzeToGoldP95 => "bronze → gold, p95",
            Measure::GenieAnswer => "question → Genie's answer",
            Measure::ProbeToBronze => "probe: written → bronze",
            Measure::ProbeToGold => "probe: written → gold",
            Measure::ProbeToAnswer => "probe: written → answer (end to end)",
        }
    }

    fn check(self) -> &'static str {
        match self {
            Measure::TagToBronzeP95 | Measure::BronzeToGoldP95 => LATENCY_CHECK,
            Measure::GenieAnswer => GENIE_CHECK,
            Measure::ProbeToBronze | Measure::ProbeToGold | Measure::ProbeToAnswer => PROBE_CHECK,
        }
    }

    /// The runbook's budget in seconds (the probe's gold budget is bronze's 2 s plus gold's 3).
    fn budget_s(self) -> f64 {
        match self {
            Measure::TagToBronzeP95 | Measure::ProbeToBronze => 2.0,
            Measure::BronzeToGoldP95 => 3.0,
            Measure::GenieAnswer | Measure::ProbeToGold => 5.0,
            Measure::ProbeToAnswer => 15.0,
        }
    }

    fn target_name(self) -> &'static str {
        match self {
            Measure::TagToBronzeP95 => "tag_to_bronze_p95",
            Measure::BronzeToGoldP95 => "bronze_to_gold_p95",
            Measure::GenieAnswer => "genie_answer",
            Measure::ProbeToBronze => "probe_to_bronze",
            Measure::ProbeToGold => "probe_to_gold",
            Measure::ProbeToAnswer => "end_to_end",
        }
    }

    fn goal(self) -> &'static str {
        match self {
            Measure::TagToBronzeP95 => {
                "tag change → bronze p95 (telemetry_latency) within 2 s, in every round"
            }
            Measure::BronzeToGoldP95 => {
                "bronze → gold p95 (telemetry_latency) within 3 s, in every round"
            }
            Measure::GenieAnswer => "a Genie answer (genie_answers) within 5 s, in every round",
            Measure::ProbeToBronze => {
                "a written value in bronze (telemetry_probe) within 2 s, in every round"
            }
            Measure::ProbeToGold => {
                "a written value in gold (telemetry_probe) within 2 + 3 s, in every round"
            }
            Measure::ProbeToAnswer => {
                "end to end, a written value in Genie's answer (telemetry_probe) within 15 s, in every round"
            }
        }
    }

    /// This figure in the check's result, in seconds; `None` when the check did not measure it
    /// (an error, a stage not reached, an answer that did not complete).
    fn read(self, result: &Value) -> Option<f64> {
        let figures = &result["figures"];
        match self {
            Measure::TagToBronzeP95 => figures["tag_to_bronze"]["p95_seconds"].as_f64(),
            Measure::BronzeToGoldP95 => figures["bronze_to_gold"]["p95_seconds"].as_f64(),
            Measure::GenieAnswer => result["value"].as_str().and_then(genie_answer_s),
            Measure::ProbeToBronze => figures["to_bronze_seconds"].as_f64(),
            Measure::ProbeToGold => figures["to_gold_seconds"].as_f64(),
            Measure::ProbeToAnswer => figures["to_answer_seconds"].as_f64(),
        }
    }
}

/// Genie's answer time from the `genie` check's value, `COMPLETED in 842 ms`; an answer that
/// did not complete has none.
fn genie_answer_s(value: &str) -> Option<f64> {
    let millis = value.strip_prefix("COMPLETED in ")?.strip_suffix(" ms")?;
    millis.trim().parse::<f64>().ok().map(|ms| ms / 1000.0)
}

/// What one round measured.
#[derive(Debug, Clone)]
struct Round {
    wall_s: f64,
    figures: BTreeMap<Measure, f64>,
    checks: Vec<CheckOutcome>,
}

/// A check's result in a round: its status, and why when it did not pass.
#[derive(Debug, Clone, PartialEq)]
struct CheckOutcome {
    name: String,
    status: String,
    message: Option<String>,
}

/// The figures and check outcomes in the output of `lode verify --format json`.
fn read_round(stdout: &str) -> Result<(BTreeMap<Measure, f64>, Vec<CheckOutcome>), String> {
    let results: Vec<Value> = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("`lode verify --format json` did not print a JSON array: {e}"))?;
    let by_name = |name: &str| results.iter().find(|r| r["name"] == name);
    let mut figures = BTreeMap::new();
    for measure in Measure::ALL {
        if let Some(seconds) = by_name(measure.check()).and_then(|r| measure.read(r)) {
            figures.insert(measure, seconds);
        }
    }
    let checks = results
        .iter()
        .map(|r| CheckOutcome {
            name: r["name"].as_str().unwrap_or("?").to_string(),
            status: r["status"].as_str().unwrap_or("?").to_string(),
            message: (r["status"] != "PASS")
                .then(|| r["message"].as_str().map(str::to_string))
                .flatten(),
        })
        .collect();
    Ok((figures, checks))
}

/// The nearest-rank percentile of sorted values (as the `latency` check sums up its samples):
/// the smallest value that at least `percent` % of them do not exceed.
fn nearest_rank(sorted: &[f64], percent: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// p50 and max of one figure over the rounds that measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    p50: f64,
    max: f64,
    rounds: usize,
}

fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        p50: nearest_rank(&sorted, 50.0)?,
        max: *sorted.last()?,
        rounds: sorted.len(),
    })
}

/// The recovery time `lode apply --rollback-on-failure` prints on stderr after it rolls back:
/// `... rolled back to snapshot S and verified in 4.1 s (detection to validated recovery) ...`.
fn recovery_seconds(stderr: &str) -> Option<f64> {
    stderr.lines().find_map(|line| {
        let before = &line[..line.find(RECOVERY_MARK)?];
        let number = &before[before.rfind("verified in ")? + "verified in ".len()..];
        number.trim().parse().ok()
    })
}

/// The demo's `environments/local.yaml` with its commented-out `probe:` section switched on:
/// the line `# probe:` and the commented lines under it (`#   tag: ...`) lose their `# `. A file
/// whose probe is already on comes back unchanged.
fn switch_probe_on(text: &str) -> Option<String> {
    if text.lines().any(|line| line.starts_with("probe:")) {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut in_section = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end();
        if !found && body == "# probe:" {
            found = true;
            in_section = true;
            out.push_str(&line[2..]);
            continue;
        }
        if in_section && body.starts_with("#   ") {
            out.push_str(&line[2..]);
            continue;
        }
        in_section = false;
        out.push_str(line);
    }
    found.then_some(out)
}

/// Runs of missing seconds, `(first, last)` inclusive, between the first and the last of
/// `seconds` (the seconds in which bronze received at least one event).
fn gaps(seconds: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = seconds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .windows(2)
        .filter(|pair| pair[1] - pair[0] > 1)
        .map(|pair| (pair[0] + 1, pair[1] - 1))
        .collect()
}

fn missing_seconds(gaps: &[(i64, i64)]) -> i64 {
    gaps.iter().map(|(first, last)| last - first + 1).sum()
}

/// Resident memory, in kB, from the `VmRSS:` line of /proc/PID/status.
fn vm_rss_kb(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        line.strip_prefix("VmRSS:")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// User plus system CPU time, in clock ticks, from /proc/PID/stat (fields 14 and 15). The
/// command name (field 2) is in parentheses and may hold spaces, so fields count from the
/// last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the `)`: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Bytes of the files under `path`, symlinks not followed. Files that disappear while it
/// counts (a table's temporary files) are skipped.
fn folder_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.path().symlink_metadata() {
            Ok(meta) if meta.is_dir() => folder_bytes(&entry.path()),
            Ok(meta) if meta.is_file() => meta.len(),
            _ => 0,
        })
        .sum()
}

/// The load average from /proc/loadavg (what `uptime` prints).
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(", "))
}

/// One sample of `lode up` during the soak.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Seconds since the soak began.
    at_s: f64,
    rss_kb: u64,
    /// CPU seconds `lode up` has used since it started.
    cpu_s: f64,
    data_bytes: u64,
}

/// What bronze received during the soak.
#[derive(Debug, Clone)]
struct BronzeSeconds {
    table: String,
    events: u64,
    /// Each second (Unix time) with at least one event.
    seconds: Vec<i64>,
}

impl BronzeSeconds {
    fn span(&self) -> i64 {
        match (self.seconds.first(), self.seconds.last()) {
            (Some(first), Some(last)) => last - first + 1,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Soak {
    minutes: u64,
    samples: Vec<Sample>,
    bronze: Result<BronzeSeconds, String>,
}

impl Soak {
    fn growth(&self) -> Option<(Sample, Sample)> {
        Some((*self.samples.first()?, *self.samples.last()?))
    }
}

#[derive(Debug, Clone)]
struct Drill {
    wall_s: f64,
    code: Option<i32>,
    recovery_s: Option<f64>,
}

#[derive(Debug, Clone)]
struct Stopped {
    after_s: f64,
    code: Option<i32>,
    killed: bool,
}

/// Everything a live run measured, also when it stopped early.
#[derive(Debug, Clone, Default)]
struct LiveReport {
    manifests: PathBuf,
    rounds_wanted: u32,
    minutes_wanted: u64,
    /// Seconds from starting `lode up` to its `Gateway:` line, and to the first `lode verify`
    /// that passed; how many verify runs that took.
    gateway_s: Option<f64>,
    healthy_s: Option<f64>,
    verify_runs: u32,
    rounds: Vec<Round>,
    drill: Option<Drill>,
    soak: Option<Soak>,
    stopped: Option<Stopped>,
    load_before: Option<String>,
    load_after: Option<String>,
    error: Option<String>,
}

/// The entry point of `lode-bench --live`.
pub fn run(args: &BenchArgs) -> Result<ExitCode, CommandError> {
    let manifests = manifests_dir(args)?;
    let bench_exe = std::env::current_exe().map_err(internal)?;
    let lode_exe = lode_binary(args, &bench_exe)?;
    let workdir = Workdir::new(args.keep.as_deref())?;
    let mut report = LiveReport {
        manifests: manifests.clone(),
        rounds_wanted: args.rounds,
        minutes_wanted: args.minutes,
        load_before: load_average(),
        ..LiveReport::default()
    };
    let outcome = bench_live(args, &manifests, lode_exe, workdir.path(), &mut report);
    report.load_after = load_average();
    if let Err(error) = &outcome {
        report.error = Some(error.message.clone());
    }
    let targets = targets(&report);
    match args.format {
        TextOrJson::Json => println!("{}", render_json(&report, &targets)),
        TextOrJson::Text => print!("{}", render_text(&report, &targets)),
    }
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            let kept = workdir.keep_on_failure();
            Err(error.hint(format!(
                "everything the bench made is in {} (each lode run's output under logs/)",
                kept.display()
            )))
        }
    }
}

/// `--manifests`, or `manifests` under the current folder.
fn manifests_dir(args: &BenchArgs) -> Result<PathBuf, CommandError> {
    let (dir, named) = match &args.manifests {
        Some(dir) => (dir.clone(), true),
        None => (PathBuf::from("manifests"), false),
    };
    if !dir.join("lode.yaml").is_file() {
        let shown = std::path::absolute(&dir).unwrap_or(dir.clone());
        let message = if named {
            format!(
                "--manifests {}: there is no lode.yaml there",
                shown.display()
            )
        } else {
            format!(
                "the live bench runs the demo manifests, and {} has no lode.yaml",
                shown.display()
            )
        };
        return Err(CommandError::user(message)
            .with_class(ErrorClass::Config)
            .hint("run it from the repository's root, or pass --manifests DIR (a manifest root like the repository's `manifests/`)"));
    }
    dir.canonicalize().map_err(|e| config_error(&dir, e))
}

/// The `lode` runs of one live bench, in the copy of the manifests.
struct Live<'a> {
    args: &'a BenchArgs,
    lode_exe: PathBuf,
    root: PathBuf,
    logs: PathBuf,
}

/// A finished `lode` run.
struct LodeRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    wall_s: f64,
}

impl LodeRun {
    /// The last lines of its stderr, for an error message.
    fn stderr_tail(&self) -> String {
        tail(&self.stderr, 12)
    }
}

fn tail(text: &str, lines: usize) -> String {
    let last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.into_iter().rev().collect::<Vec<_>>().join("\n")
}

impl Live<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.lode_exe);
        command
            .arg("--env")
            .arg(ENV)
            .arg("--dir")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1")
            .env_remove(lode_emulators::faults::FAULTS_VARIABLE)
            .env_remove("LODE_ENV")
            .env_remove("LODE_DIR")
            .stdin(Stdio::null());
        command
    }

    /// Runs `lode ARGS` to the end (at most `--timeout-s`), its output kept in
    /// `logs/NAME.stdout` and `.stderr`.
    fn lode(&self, name: &str, args: &[&str]) -> Result<LodeRun, CommandError> {
        let stdout_path = self.logs.join(format!("{name}.stdout"));
        let stderr_path = self.logs.join(format!("{name}.stderr"));
        let stdout =
            std::fs::File::create(&stdout_path).map_err(|e| config_error(&stdout_path, e))?;
        let stderr =
            std::fs::File::create(&stderr_path).map_err(|e| config_error(&stderr_path, e))?;
        let start = Instant::now();
        let child = self
            .command(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| internal(format!("cannot run {}: {e}", self.lode_exe.display())))?;
        let run = wait_measured(child, start, Duration::from_secs(self.args.timeout_s));
        if run.timed_out {
            return Err(CommandError::user(format!(
                "`lode {}` did not finish within {} s (--timeout-s) and was stopped",
                args.join(" "),
                self.args.timeout_s
            ))
            .with_class(ErrorClass::Remote));
        }
        Ok(LodeRun {
            code: run.code,
            stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            wall_s: run.wall.as_secs_f64(),
        })
    }

    /// Like [`Live::lode`], and a failure unless it exits 0.
    fn lode_ok(&self, name: &str, args: &[&str]) -> Result<LodeRun, CommandError> {
        let run = self.lode(name, args)?;
        if run.code != Some(0) {
            return Err(CommandError::user(format!(
                "`lode {}` exited with {} after {:.1} s; its last lines:\n{}",
                args.join(" "),
                exit_text(run.code),
                run.wall_s,
                run.stderr_tail()
            ))
            .with_class(ErrorClass::Remote));
        }
        Ok(run)
    }
}

fn exit_text(code: Option<i32>) -> String {
    code.map(|c| c.to_string())
        .unwrap_or_else(|| "a signal".into())
}

fn bench_live(
    args: &BenchArgs,
    manifests: &Path,
    lode_exe: PathBuf,
    workdir: &Path,
    report: &mut LiveReport,
) -> Result<(), CommandError> {
    let root = workdir.join("demo");
    let logs = workdir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| config_error(&logs, e))?;
    eprintln!(
        "bench: live: the manifests of {} in {}",
        manifests.display(),
        root.display()
    );
    copy_manifests(manifests, &root)?;
    let environment = root.join("environments").join(format!("{ENV}.yaml"));
    let text = std::fs::read_to_string(&environment).map_err(|e| config_error(&environment, e))?;
    let allowed = switch_probe_on(&text).ok_or_else(|| {
        CommandError::user(format!(
            "{}: no `probe:` section, commented out or not",
            manifests.join("environments/local.yaml").display()
        ))
        .with_class(ErrorClass::Config)
        .hint("the live bench times the `telemetry_probe` check, which writes only where the environment allows it: add the demo's `probe:` section (docs/manifests.md, \"The active probe\")")
    })?;
    std::fs::write(&environment, allowed).map_err(|e| config_error(&environment, e))?;
    let bronze_table = bronze_table(&root, manifests)?;
    let repo = git2::Repository::init(&root).map_err(git_error)?;
    commit_all(&repo, "the demo, with the active probe allowed")?;

    let live = Live {
        args,
        lode_exe,
        root: root.clone(),
        logs,
    };
    eprintln!("bench: lode apply --auto-approve");
    live.lode_ok("apply", &["apply", "--auto-approve"])?;

    let mut stack = start_stack(&live, report)?;
    let healthy = wait_until_healthy(&live, &mut stack, report);
    let measured = healthy.and_then(|()| {
        rounds(&live, &mut stack, report)?;
        drill(&live, &repo, &mut stack, report)?;
        if args.minutes > 0 {
            soak(&live, &mut stack, &bronze_table, report)?;
        }
        Ok(())
    });
    eprintln!("bench: stopping lode up (Ctrl-C)");
    report.stopped = Some(stack.stop());
    measured
}

/// Copies a manifest root, leaving out its state (`.lode`) and any git metadata.
fn copy_manifests(from: &Path, to: &Path) -> Result<(), CommandError> {
    std::fs::create_dir_all(to).map_err(|e| config_error(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| config_error(from, e))? {
        let entry = entry.map_err(|e| config_error(from, e))?;
        let name = entry.file_name();
        if name == ".lode" || name == ".git" {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().map_err(|e| config_error(&source, e))?;
        if kind.is_dir() {
            copy_manifests(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| config_error(&source, e))?;
        }
    }
    Ok(())
}

/// Loads the copied manifests as lode does (so a broken manifest stops the bench here, with
/// file and line), makes sure the checks the rounds run are there, and returns the bronze
/// table the latency check reads, which the soak counts the gaps of.
fn bronze_table(root: &Path, manifests: &Path) -> Result<String, CommandError> {
    let files = lode::manifest::ManifestFiles::from_work_tree(root)?;
    let loaded = lode::manifest::load_desired(&files, ENV, &|name| std::env::var(name).ok())?;
    for (name, kind) in [
        (LATENCY_CHECK, CheckType::Latency),
        (GENIE_CHECK, CheckType::Genie),
        (PROBE_CHECK, CheckType::Probe),
    ] {
        if !loaded
            .desired
            .checks
            .iter()
            .any(|c| c.name == name && c.spec.check_type == kind)
        {
            return Err(CommandError::user(format!(
                "{} has no check `{name}` of type {}: the live bench runs the demo's flow checks",
                manifests.display(),
                serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ))
            .with_class(ErrorClass::Config)
            .hint("pass --manifests with the repository's `manifests/` (or a copy that keeps its checks)"));
        }
    }
    let table = loaded
        .desired
        .checks
        .iter()
        .find(|c| c.name == LATENCY_CHECK)
        .and_then(|c| c.spec.table.clone())
        .ok_or_else(|| internal(format!("the check `{LATENCY_CHECK}` has no table")))?;
    Ok(table)
}

/// `lode up`, stopped with Ctrl-C (SIGINT) however the bench ends, and killed if it does not
/// stop within [`STOP_WITHIN`].
struct Stack {
    child: Option<Child>,
    pid: u32,
    started: Instant,
    /// The workspace emulator's URL (the chat page's without its path).
    workspace_url: String,
}

impl Stack {
    /// Fails when `lode up` has exited.
    fn still_running(&mut self, logs: &Path) -> Result<(), CommandError> {
        let Some(child) = self.child.as_mut() else {
            return Err(internal("lode up was already stopped"));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(CommandError::user(format!(
                    "lode up exited ({status}) while the bench ran; its last lines:\n{}",
                    tail(
                        &std::fs::read_to_string(logs.join("up.stderr")).unwrap_or_default(),
                        12
                    )
                ))
                .with_class(ErrorClass::Remote))
            }
            Err(error) => Err(internal(format!("waiting for lode up: {error}"))),
        }
    }

    fn stop(&mut self) -> Stopped {
        let Some(mut child) = self.child.take() else {
            return Stopped {
                after_s: 0.0,
                code: None,
                killed: false,
            };
        };
        let start = Instant::now();
        // SAFETY: signalling our own child, which `child` has not reaped yet.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGINT);
        }
        while start.elapsed() < STOP_WITHIN {
            if let Ok(Some(status)) = child.try_wait() {
                return Stopped {
                    after_s: start.elapsed().as_secs_f64(),
                    code: status.code(),
                    killed: false,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let status = child.wait().ok();
        Stopped {
            after_s: start.elapsed().as_secs_f64(),
            code: status.and_then(|s| s.code()),
            killed: true,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `lode up` and waits for its `Gateway:` line (printed once both emulators serve).
fn start_stack(live: &Live, report: &mut LiveReport) -> Result<Stack, CommandError> {
    eprintln!("bench: lode up");
    let stderr_path = live.logs.join("up.stderr");
    let stdout_path = live.logs.join("up.stdout");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| config_error(&stderr_path, e))?;
    let mut log = std::fs::File::create(&stdout_path).map_err(|e| config_error(&stdout_path, e))?;
    let started = Instant::now();
    let mut child = live
        .command(&["up"])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| internal(format!("cannot run {}: {e}", live.lode_exe.display())))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stack = Stack {
        pid: child.id(),
        child: Some(child),
        started,
        workspace_url: String::new(),
    };
    // The reader drains `lode up`'s stdout for its whole life, so the pipe never fills.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log, "{line}");
            let _ = sender.send(line);
        }
    });
    let within = Duration::from_secs(live.args.healthy_within_s);
    let mut chat = None;
    loop {
        let left = within.saturating_sub(started.elapsed());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("Chat page: ") {
                    chat = Some(url.trim().to_string());
                }
                if line.starts_with("Gateway:") {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(CommandError::user(format!(
                    "lode up printed no `Gateway:` line within {} s (--healthy-within-s)",
                    within.as_secs()
                ))
                .with_class(ErrorClass::Remote));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                stack.still_running(&live.logs)?;
                return Err(internal("lode up closed its stdout"));
            }
        }
    }
    report.gateway_s = Some(started.elapsed().as_secs_f64());
    let chat = chat.ok_or_else(|| {
        internal("lode up printed no `Chat page:` line, which the bench reads the workspace emulator's URL from (the demo applies a chat page)")
    })?;
    stack.workspace_url = chat
        .split("/workspace-files/")
        .next()
        .unwrap_or(&chat)
        .to_string();
    eprintln!(
        "bench: lode up serves (after {:.1} s); the workspace emulator is at {}",
        started.elapsed().as_secs_f64(),
        stack.workspace_url
    );
    Ok(stack)
}

/// Runs `lode verify` until every check passes, at most `--healthy-within-s` after `lode up`
/// started: data needs a moment to flow through bronze, silver and gold.
fn wait_until_healthy(
    live: &Live,
    stack: &mut Stack,
    report: &mut LiveReport,
) -> Result<(), CommandError> {
    eprintln!("bench: waiting until `lode verify` passes");
    let within = Duration::from_secs(live.args.healthy_within_s);
    loop {
        stack.still_running(&live.logs)?;
        let run = live.lode("verify-healthy", &["verify"])?;
        report.verify_runs += 1;
        if run.code == Some(0) {
            let healthy = stack.started.elapsed().as_secs_f64();
            report.healthy_s = Some(healthy);
            eprintln!(
                "bench: every check passes, {healthy:.1} s after lode up started ({} runs of lode verify)",
                report.verify_runs
            );
            return Ok(());
        }
        if stack.started.elapsed() >= within {
            let failing: Vec<&str> = run
                .stdout
                .lines()
                .filter(|l| l.starts_with("FAIL") || l.starts_with("ERROR"))
                .collect();
            return Err(CommandError::user(format!(
                "the live stack did not pass `lode verify` within {} s of `lode up` ({} runs); the last run:\n{}",
                within.as_secs(),
                report.verify_runs,
                if failing.is_empty() { run.stderr_tail() } else { failing.join("\n") }
            ))
            .with_class(ErrorClass::Remote)
            .hint("a slow or busy machine may need more: --healthy-within-s SECONDS"));
        }
    }
}

fn rounds(live: &Live, stack: &mut Stack, report: &mut LiveReport) -> Result<(), CommandError> {
    let args = [
        "verify",
        "--check",
        LATENCY_CHECK,
        "--check",
        GENIE_CHECK,
        "--check",
        PROBE_CHECK,
        "--format",
        "json",
    ];
    for k in 1..=live.args.rounds {
        stack.still_running(&live.logs)?;
        let run = live.lode(&format!("round-{k:02}"), &args)?;
        if !matches!(run.code, Some(0 | 1)) {
            return Err(CommandError::user(format!(
                "round {k}: `lode {}` exited with {}; its last lines:\n{}",
                args.join(" "),
                exit_text(run.code),
                run.stderr_tail()
            ))
            .with_class(ErrorClass::Remote));
        }
        let (figures, checks) = read_round(&run.stdout).map_err(|why| {
            internal(format!(
                "round {k}: {why}; see logs/round-{k:02}.stdout and its last lines:\n{}",
                run.stderr_tail()
            ))
        })?;
        eprintln!(
            "bench: round {k}: {} ({:.1} s)",
            Measure::ALL
                .iter()
                .map(|m| format!(
                    "{} {}",
                    m.key(),
                    figures
                        .get(m)
                        .map(|s| format!("{s:.3}"))
                        .unwrap_or_else(|| "-".into())
                ))
                .collect::<Vec<_>>()
                .join(", "),
            run.wall_s
        );
        report.rounds.push(Round {
            wall_s: run.wall_s,
            figures,
            checks,
        });
    }
    Ok(())
}

/// The runbook's incident drill: a commit that points the Zerobus connector at a table that
/// does not exist, applied with `--verify --rollback-on-failure`. lode has to notice that no
/// event arrives, roll back, and see the data flow again.
fn drill(
    live: &Live,
    repo: &git2::Repository,
    stack: &mut Stack,
    report: &mut LiveReport,
) -> Result<(), CommandError> {
    stack.still_running(&live.logs)?;
    let path = live.root.join(ZEROBUS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| config_error(&path, e))?;
    if !text.contains(GOOD_TARGET) {
        return Err(CommandError::user(format!(
            "{}: no line `{GOOD_TARGET}`, which the incident drill breaks",
            report.manifests.join(ZEROBUS_FILE).display()
        ))
        .with_class(ErrorClass::Config)
        .hint("the live bench drills on the demo's Zerobus connector: pass --manifests with the repository's `manifests/`"));
    }
    std::fs::write(&path, text.replacen(GOOD_TARGET, BAD_TARGET, 1))
        .map_err(|e| config_error(&path, e))?;
    commit_all(repo, "zerobus: write to the raw telemetry table")?;
    eprintln!("bench: incident drill (lode apply --auto-approve --verify --rollback-on-failure)");
    let run = live.lode(
        "drill-apply",
        &[
            "apply",
            "--auto-approve",
            "--verify",
            "--rollback-on-failure",
        ],
    )?;
    let recovery_s = recovery_seconds(&run.stderr);
    report.drill = Some(Drill {
        wall_s: run.wall_s,
        code: run.code,
        recovery_s,
    });
    match (run.code, recovery_s) {
        (Some(0), _) => Err(CommandError::user(
            "the incident drill's broken change was not detected: `lode apply --verify --rollback-on-failure` exited 0 with the connector pointed at a wrong table",
        )
        .with_class(ErrorClass::Remote)),
        (_, None) => Err(CommandError::user(format!(
            "the incident drill did not recover: `lode apply --verify --rollback-on-failure` exited with {} and printed no recovery time; its last lines:\n{}",
            exit_text(run.code),
            run.stderr_tail()
        ))
        .with_class(ErrorClass::Remote)),
        (_, Some(seconds)) => {
            eprintln!("bench: detection to validated recovery: {seconds} s");
            Ok(())
        }
    }
}

fn sample(stack: &Stack, data: &Path, at_s: f64, ticks: f64) -> Result<Sample, CommandError> {
    let proc = PathBuf::from(format!("/proc/{}", stack.pid));
    let read = |name: &str| {
        let path = proc.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            config_error(&path, e).hint("the soak reads Linux's /proc; elsewhere use --minutes 0")
        })
    };
    let status = read("status")?;
    let stat = read("stat")?;
    let rss_kb = vm_rss_kb(&status)
        .ok_or_else(|| internal(format!("/proc/{}/status has no VmRSS line", stack.pid)))?;
    let cpu = cpu_ticks(&stat)
        .ok_or_else(|| internal(format!("/proc/{}/stat: no utime and stime", stack.pid)))?;
    Ok(Sample {
        at_s,
        rss_kb,
        cpu_s: cpu as f64 / ticks,
        data_bytes: folder_bytes(data),
    })
}

fn unix_now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Leaves `lode up` alone for `--minutes`, sampling it every 30 s, then counts the seconds of
/// the soak in which bronze received nothing.
fn soak(
    live: &Live,
    stack: &mut Stack,
    bronze_table: &str,
    report: &mut LiveReport,
) -> Result<(), CommandError> {
    let minutes = live.args.minutes;
    eprintln!(
        "bench: soak of {minutes} min, a sample every {} s",
        SAMPLE_EVERY.as_secs()
    );
    let data = live.root.join(".lode").join(ENV);
    let ticks = clock_ticks_per_second();
    let duration = Duration::from_secs(minutes * 60);
    let start = Instant::now();
    let start_unix = unix_now_s();
    let mut soak = Soak {
        minutes,
        samples: Vec::new(),
        bronze: Err("not counted".into()),
    };
    let mut next = Duration::ZERO;
    let outcome = loop {
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        if let Err(error) = stack.still_running(&live.logs) {
            break Err(error);
        }
        match sample(stack, &data, start.elapsed().as_secs_f64(), ticks) {
            Ok(s) => {
                eprintln!(
                    "bench: soak {:>5.0} s: RSS {:.0} MB, CPU {:.0} s, data {:.1} MB",
                    s.at_s,
                    s.rss_kb as f64 / 1024.0,
                    s.cpu_s,
                    s.data_bytes as f64 / 1e6
                );
                soak.samples.push(s);
            }
            Err(error) => break Err(error),
        }
        if next >= duration {
            break Ok(());
        }
        next = (next + SAMPLE_EVERY).min(duration);
    };
    let end_unix = unix_now_s();
    if outcome.is_ok() {
        soak.bronze = bronze_seconds(&stack.workspace_url, bronze_table, start_unix, end_unix);
        match &soak.bronze {
            Ok(bronze) => eprintln!(
                "bench: bronze: {} events in {} of {} seconds",
                bronze.events,
                bronze.seconds.len(),
                bronze.span()
            ),
            Err(why) => eprintln!("bench: bronze's seconds were not counted: {why}"),
        }
    }
    report.soak = Some(soak);
    outcome
}

/// The seconds from `from` to `to` (Unix time, inclusive) in which `table` received events,
/// by their ingestion time (microseconds from current connector builds, milliseconds from
/// early ones, as the demo's silver.sql reads it), through the workspace's statement API.
fn bronze_seconds(
    workspace: &str,
    table: &str,
    from: i64,
    to: i64,
) -> Result<BronzeSeconds, String> {
    let second = "CAST(floor(CASE WHEN ingestion_timestamp >= 100000000000000 \
                  THEN ingestion_timestamp / 1000000 ELSE ingestion_timestamp / 1000 END) AS BIGINT)";
    let statement = format!(
        "SELECT s, count(*) AS events FROM (SELECT {second} AS s FROM {table}) t \
         WHERE s BETWEEN {from} AND {to} GROUP BY s ORDER BY s"
    );
    let rows = statement_rows(workspace, &statement)?;
    let mut seconds = Vec::with_capacity(rows.len());
    let mut events = 0;
    for row in &rows {
        let cell = |i: usize| -> Result<i64, String> {
            row.get(i)
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| format!("unexpected row {row:?} from `{statement}`"))
        };
        seconds.push(cell(0)?);
        events += cell(1)? as u64;
    }
    seconds.sort_unstable();
    Ok(BronzeSeconds {
        table: table.to_string(),
        events,
        seconds,
    })
}

/// Runs one statement on the workspace (its first warehouse) and returns every row, following
/// the result's chunks.
fn statement_rows(workspace: &str, statement: &str) -> Result<Vec<Vec<Value>>, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let auth = format!("Bearer {}", lode::app::connect::LOCAL_EMULATOR_TOKEN);
    let get = |url: String| -> Result<Value, String> {
        client
            .get(&url)
            .header("Authorization", &auth)
            .send()
            .and_then(|r| r.json::<Value>())
            .map_err(|e| format!("GET {url}: {e}"))
    };
    let warehouses = get(format!("{workspace}/api/2.0/sql/warehouses"))?;
    let warehouse = warehouses["warehouses"][0]["id"].clone();
    if warehouse.is_null() {
        return Err(format!("the workspace has no SQL warehouse: {warehouses}"));
    }
    let mut answer: Value = client
        .post(format!("{workspace}/api/2.0/sql/statements"))
        .header("Authorization", &auth)
        .json(&json!({
            "statement": statement,
            "warehouse_id": warehouse,
            "wait_timeout": "50s",
            "on_wait_timeout": "CONTINUE",
        }))
        .send()
        .and_then(|r| r.json::<Value>())
        .map_err(|e| format!("POST /api/2.0/sql/statements: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while matches!(
        answer["status"]["state"].as_str(),
        Some("PENDING" | "RUNNING")
    ) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(500));
        let id = answer["statement_id"].as_str().unwrap_or_default();
        answer = get(format!("{workspace}/api/2.0/sql/statements/{id}"))?;
    }
    if answer["status"]["state"] != "SUCCEEDED" {
        return Err(format!("`{statement}`: {}", answer["status"]));
    }
    let mut rows: Vec<Vec<Value>> =
        serde_json::from_value(answer["result"]["data_array"].clone()).unwrap_or_default();
    let mut link = answer["result"]["next_chunk_internal_link"]
        .as_str()
        .map(str::to_string);
    while let Some(path) = link {
        let chunk = get(format!("{workspace}{path}"))?;
        rows.extend(
            serde_json::from_value::<Vec<Vec<Value>>>(chunk["data_array"].clone())
                .unwrap_or_default(),
        );
        link = chunk["next_chunk_internal_link"]
            .as_str()
            .map(str::to_string);
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Targets and output

fn values(report: &LiveReport, measure: Measure) -> Vec<f64> {
    report
        .rounds
        .iter()
        .filter_map(|r| r.figures.get(&measure).copied())
        .collect()
}

/// Why a round has no figure for `measure`: its check's status and message.
fn why_missing(round: &Round, measure: Measure) -> String {
    round
        .checks
        .iter()
        .find(|c| c.name == measure.check())
        .map(|c| match &c.message {
            Some(message) => format!("{} {}: {message}", c.name, c.status),
            None => format!("{} {}", c.name, c.status),
        })
        .unwrap_or_else(|| format!("{} has no result", measure.check()))
}

fn targets(report: &LiveReport) -> Vec<Target> {
    let mut targets = Vec::new();
    for measure in Measure::ALL {
        let values = values(report, measure);
        let missing: Vec<(usize, &Round)> = report
            .rounds
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.figures.contains_key(&measure))
            .collect();
        let (measured, verdict) = match summarize(&values) {
            None => ("not measured".to_string(), Verdict::Miss),
            Some(summary) => {
                let mut text = format!(
                    "p50 {:.3} s, max {:.3} s (rounds: {})",
                    summary.p50, summary.max, summary.rounds
                );
                if let Some((k, round)) = missing.first() {
                    let rounds: Vec<String> =
                        missing.iter().map(|(k, _)| (k + 1).to_string()).collect();
                    let _ = write!(
                        text,
                        "; no figure in rounds {} (round {}: {})",
                        rounds.join(", "),
                        k + 1,
                        why_missing(round, measure)
                    );
                }
                let ok = missing.is_empty() && summary.max <= measure.budget_s();
                (text, Verdict::of(ok))
            }
        };
        targets.push(Target {
            name: measure.target_name(),
            goal: measure.goal(),
            measured,
            verdict,
        });
    }
    let (measured, verdict) = match &report.drill {
        Some(Drill {
            recovery_s: Some(seconds),
            wall_s,
            ..
        }) => (
            format!("{seconds:.1} s (the apply took {wall_s:.1} s in all)"),
            Verdict::of(*seconds < RECOVERY_BUDGET_S),
        ),
        Some(drill) => (
            format!(
                "no recovery: the apply exited with {} after {:.1} s",
                exit_text(drill.code),
                drill.wall_s
            ),
            Verdict::Miss,
        ),
        None => ("not measured".into(), Verdict::Miss),
    };
    targets.push(Target {
        name: "incident_drill",
        goal: "incident drill: detection to validated recovery within 60 s",
        measured,
        verdict,
    });
    if report.minutes_wanted == 0 {
        return targets;
    }
    let soak = report.soak.as_ref();
    let (measured, verdict) = match soak.and_then(Soak::growth) {
        Some((first, last)) if soak.is_some_and(|s| s.samples.len() > 1) => {
            let rss = (last.rss_kb as f64 - first.rss_kb as f64) / 1024.0;
            let data = (last.data_bytes as f64 - first.data_bytes as f64) / 1e6;
            (
                format!(
                    "RSS {:.0} → {:.0} MB ({rss:+.0} MB), data folder {:.1} → {:.1} MB ({data:+.1} MB) over {:.1} min",
                    first.rss_kb as f64 / 1024.0,
                    last.rss_kb as f64 / 1024.0,
                    first.data_bytes as f64 / 1e6,
                    last.data_bytes as f64 / 1e6,
                    (last.at_s - first.at_s) / 60.0
                ),
                Verdict::of(rss <= data),
            )
        }
        _ => ("not measured".into(), Verdict::Miss),
    };
    targets.push(Target {
        name: "soak_memory",
        goal: "soak: lode up's resident memory grows no more than its data folder",
        measured,
        verdict,
    });
    let (measured, verdict) = match soak.map(|s| &s.bronze) {
        Some(Ok(bronze)) if !bronze.seconds.is_empty() => {
            let gaps = gaps(&bronze.seconds);
            let missing = missing_seconds(&gaps);
            let mut text = format!(
                "{} events in {} of the {} seconds from the first to the last event; {missing} s without any",
                bronze.events,
                bronze.seconds.len(),
                bronze.span()
            );
            if !gaps.is_empty() {
                let shown: Vec<String> = gaps
                    .iter()
                    .take(5)
                    .map(|(a, b)| {
                        if a == b {
                            format!("{a}")
                        } else {
                            format!("{a}–{b}")
                        }
                    })
                    .collect();
                let _ = write!(text, " (Unix seconds {})", shown.join(", "));
            }
            (text, Verdict::of(missing == 0))
        }
        Some(Ok(bronze)) => (
            format!("{} received no event during the soak", bronze.table),
            Verdict::Miss,
        ),
        Some(Err(why)) => (why.clone(), Verdict::Miss),
        None => ("not measured".into(), Verdict::Miss),
    };
    targets.push(Target {
        name: "soak_bronze_gaps",
        goal: "soak: bronze receives events in every second",
        measured,
        verdict,
    });
    let (measured, verdict) = match soak.and_then(Soak::growth) {
        Some((first, last)) if last.at_s > first.at_s => (
            format!(
                "{:.2} CPU seconds per second ({:.0} s over {:.0} s)",
                (last.cpu_s - first.cpu_s) / (last.at_s - first.at_s),
                last.cpu_s - first.cpu_s,
                last.at_s - first.at_s
            ),
            Verdict::NotApplicable,
        ),
        _ => ("not measured".into(), Verdict::NotApplicable),
    };
    targets.push(Target {
        name: "soak_cpu",
        goal: "soak: the CPU lode up uses (printed; no budget)",
        measured,
        verdict,
    });
    targets
}

fn render_json(report: &LiveReport, targets: &[Target]) -> String {
    let figure = |v: Option<f64>| v.map(|v| round(v, 3));
    let rounds: Vec<Value> = report
        .rounds
        .iter()
        .map(|r| {
            let mut object = serde_json::Map::new();
            for measure in Measure::ALL {
                object.insert(
                    measure.key().into(),
                    json!(figure(r.figures.get(&measure).copied())),
                );
            }
            object.insert("wall_s".into(), json!(round(r.wall_s, 3)));
            object.insert(
                "checks".into(),
                json!(
                    r.checks
                        .iter()
                        .map(|c| json!({"name": c.name, "status": c.status, "message": c.message}))
                        .collect::<Vec<_>>()
                ),
            );
            Value::Object(object)
        })
        .collect();
    let summary: serde_json::Map<String, Value> = Measure::ALL
        .iter()
        .map(|m| {
            let s = summarize(&values(report, *m));
            (
                m.key().to_string(),
                json!({
                    "p50": figure(s.map(|s| s.p50)),
                    "max": figure(s.map(|s| s.max)),
                    "rounds": s.map(|s| s.rounds).unwrap_or(0),
                    "budget_s": m.budget_s(),
                }),
            )
        })
        .collect();
    let soak = report.soak.as_ref().map(|soak| {
        let samples: Vec<Value> = soak
            .samples
            .iter()
            .map(|s| {
                json!({
                    "at_s": round(s.at_s, 1),
                    "rss_mb": round(s.rss_kb as f64 / 1024.0, 1),
                    "cpu_s": round(s.cpu_s, 2),
                    "data_mb": round(s.data_bytes as f64 / 1e6, 2),
                })
            })
            .collect();
        let bronze = match &soak.bronze {
            Ok(b) => {
                let gaps = gaps(&b.seconds);
                json!({
                    "table": b.table,
                    "events": b.events,
                    "seconds_with_events": b.seconds.len(),
                    "span_s": b.span(),
                    "missing_s": missing_seconds(&gaps),
                    "gaps": gaps.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
                })
            }
            Err(why) => json!({"error": why}),
        };
        json!({"minutes": soak.minutes, "samples": samples, "bronze": bronze})
    });
    let targets: Vec<Value> = targets
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "target": t.goal,
                "measured": t.measured,
                "status": t.verdict.label(),
            })
        })
        .collect();
    let mut out = json!({
        "mode": "live",
        "manifests": report.manifests.display().to_string(),
        "up": {
            "gateway_s": figure(report.gateway_s),
            "healthy_s": figure(report.healthy_s),
            "verify_runs": report.verify_runs,
            "stopped": report.stopped.as_ref().map(|s| json!({
                "after_s": round(s.after_s, 1),
                "exit_code": s.code,
                "killed": s.killed,
            })),
        },
        "rounds": rounds,
        "summary": summary,
        "drill": report.drill.as_ref().map(|d| json!({
            "recovery_s": d.recovery_s,
            "apply_wall_s": round(d.wall_s, 1),
            "apply_exit_code": d.code,
        })),
        "soak": soak,
        "targets": targets,
        "machine": machine(),
        "load_average": {"before": report.load_before, "after": report.load_after},
    });
    if let Some(error) = &report.error {
        out["error"] = json!(error);
    }
    serde_json::to_string_pretty(&out).expect("the report serialises")
}

fn render_text(report: &LiveReport, targets: &[Target]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lode-bench --live: the manifests of {} on the `{ENV}` stack, the active probe allowed; rounds: {}, soak: {} min",
        report.manifests.display(),
        report.rounds_wanted,
        report.minutes_wanted
    );
    let seconds = |v: Option<f64>| v.map(|v| format!("{v:.1} s")).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "lode up: serving after {}, every check passing after {} ({} runs of lode verify)\n",
        seconds(report.gateway_s),
        seconds(report.healthy_s),
        report.verify_runs
    );
    if !report.rounds.is_empty() {
        let _ = writeln!(
            out,
            "rounds: lode verify --check {LATENCY_CHECK} --check {GENIE_CHECK} --check {PROBE_CHECK} (seconds)"
        );
        let _ = write!(
            out,
            "{:<38} {:>7} {:>7} {:>7} ",
            "figure", "p50", "max", "budget"
        );
        for k in 1..=report.rounds.len() {
            let _ = write!(out, " {:>7}", format!("#{k}"));
        }
        out.push('\n');
        for measure in Measure::ALL {
            let summary = summarize(&values(report, measure));
            let cell = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
            let _ = write!(
                out,
                "{:<38} {:>7} {:>7} {:>7} ",
                measure.label(),
                cell(summary.map(|s| s.p50)),
                cell(summary.map(|s| s.max)),
                format!("{}", measure.budget_s())
            );
            for round in &report.rounds {
                let _ = write!(out, " {:>7}", cell(round.figures.get(&measure).copied()));
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "{:<38} {:>7} {:>7} {:>7} ",
            "round wall time", "", "", ""
        );
        for round in &report.rounds {
            let _ = write!(out, " {:>7.1}", round.wall_s);
        }
        out.push_str("\n\n");
    }
    if let Some(drill) = &report.drill {
        let _ = writeln!(
            out,
            "incident drill: detection to validated recovery {}; `lode apply --verify --rollback-on-failure` exited with {} after {:.1} s\n",
            seconds(drill.recovery_s),
            exit_text(drill.code),
            drill.wall_s
        );
    }
    if let Some(soak) = &report.soak {
        let _ = writeln!(
            out,
            "soak: {} min, lode up sampled every {} s (CPU: user + system since it started)",
            soak.minutes,
            SAMPLE_EVERY.as_secs()
        );
        let _ = writeln!(
            out,
            "{:>8} {:>8} {:>9} {:>9}",
            "at_s", "rss_mb", "cpu_s", "data_mb"
        );
        for s in &soak.samples {
            let _ = writeln!(
                out,
                "{:>8.0} {:>8.1} {:>9.1} {:>9.2}",
                s.at_s,
                s.rss_kb as f64 / 1024.0,
                s.cpu_s,
                s.data_bytes as f64 / 1e6
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "targets (issue #16)");
    for t in targets {
        let _ = writeln!(
            out,
            "  {:<4}  {}\n        measured: {}",
            t.verdict.label(),
            t.goal,
            t.measured
        );
    }
    let machine = machine();
    let _ = writeln!(
        out,
        "\nmachine: {} x {}, {} GB RAM, {} {} ({} build); load average before {}, after {}",
        machine["nproc"],
        machine["cpu"].as_str().unwrap_or("?"),
        machine["ram_gb"],
        machine["os"].as_str().unwrap_or("?"),
        machine["arch"].as_str().unwrap_or("?"),
        machine["profile"].as_str().unwrap_or("?"),
        report.load_before.as_deref().unwrap_or("?"),
        report.load_after.as_deref().unwrap_or("?"),
    );
    if let Some(stopped) = &report.stopped {
        let _ = writeln!(
            out,
            "lode up {} after {:.1} s (exit code {})",
            if stopped.killed {
                "did not stop on Ctrl-C and was killed"
            } else {
                "stopped on Ctrl-C"
            },
            stopped.after_s,
            exit_text(stopped.code)
        );
    }
    if let Some(error) = &report.error {
        let _ = writeln!(out, "\nstopped: {error}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_summaries_take_the_worst_round() {
        assert_eq!(nearest_rank(&[], 50.0), None);
        assert_eq!(nearest_rank(&[3.0], 50.0), Some(3.0));
        assert_eq!(nearest_rank(&[1.0, 2.0], 50.0), Some(1.0));
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0, 5.0], 50.0), Some(3.0));
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0, 5.0], 95.0), Some(5.0));
        let summary = summarize(&[0.9, 0.2, 4.5, 0.3, 0.4]).unwrap();
        assert_eq!(
            summary,
            Summary {
                p50: 0.4,
                max: 4.5,
                rounds: 5
            }
        );
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn gaps_are_the_runs_of_seconds_without_an_event() {
        assert_eq!(gaps(&[]), vec![]);
        assert_eq!(gaps(&[100]), vec![]);
        assert_eq!(gaps(&[100, 101, 102, 103]), vec![]);
        // Unsorted and repeated seconds are fine; 102 and 105–107 are missing.
        let found = gaps(&[108, 100, 101, 103, 104, 101]);
        assert_eq!(found, vec![(102, 102), (105, 107)]);
        assert_eq!(missing_seconds(&found), 4);
        let bronze = BronzeSeconds {
            table: "t".into(),
            events: 9,
            seconds: vec![100, 101, 103, 104, 108],
        };
        assert_eq!(bronze.span(), 9);
    }

    #[test]
    fn proc_lines_give_resident_memory_and_cpu_ticks() {
        let status =
            "Name:\tlode\nVmPeak:\t  900000 kB\nVmRSS:\t  412345 kB\nRssAnon:\t 400000 kB\n";
        assert_eq!(vm_rss_kb(status), Some(412_345));
        assert_eq!(vm_rss_kb("Name:\tlode\n"), None);
        // A command name with a space and a parenthesis does not shift the fields.
        let stat = "4242 (lode (up) x) S 1 4242 4242 0 -1 4194560 12345 0 0 0 6000 1500 0 0 20 0 40 0 123 456 789";
        assert_eq!(cpu_ticks(stat), Some(7_500));
        assert_eq!(cpu_ticks("4242 (lode) S 1 2"), None);
    }

    #[test]
    fn the_demo_probe_section_is_switched_on() {
        let demo = "extends: local\n# The active probe, off until you uncomment it:\n# its tag.\n# probe:\n#   tag: \"[default]Mining/Equipment/CR_002/Vibration_MM_S\"\n#   value: 45\n#   write: emulator\n# A comment after it.\n";
        let on = switch_probe_on(demo).unwrap();
        assert_eq!(
            on,
            "extends: local\n# The active probe, off until you uncomment it:\n# its tag.\nprobe:\n  tag: \"[default]Mining/Equipment/CR_002/Vibration_MM_S\"\n  value: 45\n  write: emulator\n# A comment after it.\n"
        );
        // Already on: unchanged; no section at all: nothing to switch on.
        assert_eq!(switch_probe_on(&on).as_deref(), Some(on.as_str()));
        assert_eq!(switch_probe_on("extends: local\n"), None);
        // The repository's own file.
        let shipped = include_str!("../../../manifests/environments/local.yaml");
        let on = switch_probe_on(shipped).unwrap();
        assert!(on.contains("\nprobe:\n  tag: "), "{on}");
        assert!(on.contains("\n  write: emulator\n"), "{on}");
    }

    #[test]
    fn recovery_seconds_are_read_from_the_apply_s_stderr() {
        let stderr = "Applying 1 change\nerror: verification failed: 2 checks failed; rolled back to snapshot 20261207-1 and verified in 4.1 s (detection to validated recovery); the change is not live\n";
        assert_eq!(recovery_seconds(stderr), Some(4.1));
        assert_eq!(recovery_seconds("error: rollback failed\n"), None);
    }

    #[test]
    fn a_round_reads_each_figure_from_its_check() {
        let stdout = r#"[
          {"name": "genie_answers", "status": "PASS", "value": "COMPLETED in 842 ms", "duration_ms": 850},
          {"name": "telemetry_latency", "status": "PASS", "value": "p95 0.8 s to bronze, 1.9 s to gold",
           "figures": {"window_minutes": 5,
                       "tag_to_bronze": {"p50_seconds": 0.4, "p95_seconds": 0.8, "samples": 6300},
                       "bronze_to_gold": {"p50_seconds": 0.0, "p95_seconds": 1.9, "samples": 98}}},
          {"name": "telemetry_probe", "status": "FAIL", "message": "47.1 written to T did not reach Genie's answer within 30 s",
           "figures": {"to_bronze_seconds": 0.54, "to_gold_seconds": 2.28}}
        ]"#;
        let (figures, checks) = read_round(stdout).unwrap();
        assert_eq!(figures[&Measure::TagToBronzeP95], 0.8);
        assert_eq!(figures[&Measure::BronzeToGoldP95], 1.9);
        assert_eq!(figures[&Measure::GenieAnswer], 0.842);
        assert_eq!(figures[&Measure::ProbeToBronze], 0.54);
        assert_eq!(figures[&Measure::ProbeToGold], 2.28);
        assert!(!figures.contains_key(&Measure::ProbeToAnswer));
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[2].status, "FAIL");
        assert!(
            checks[2]
                .message
                .as_deref()
                .unwrap()
                .contains("Genie's answer")
        );
        assert_eq!(checks[0].message, None);
        // An answer that did not complete has no answer time.
        assert_eq!(genie_answer_s("FAILED in 120 ms"), None);
        assert!(read_round("error: no stack").is_err());
    }

    #[test]
    fn targets_miss_a_figure_over_budget_or_missing_in_a_round() {
        let round = |probe_answer: Option<f64>| {
            let mut figures: BTreeMap<Measure, f64> =
                Measure::ALL.iter().map(|m| (*m, 0.5)).collect();
            match probe_answer {
                Some(s) => figures.insert(Measure::ProbeToAnswer, s),
                None => figures.remove(&Measure::ProbeToAnswer),
            };
            Round {
                wall_s: 10.0,
                figures,
                checks: vec![CheckOutcome {
                    name: PROBE_CHECK.into(),
                    status: if probe_answer.is_some() {
                        "PASS"
                    } else {
                        "FAIL"
                    }
                    .into(),
                    message: probe_answer.is_none().then(|| "no answer".to_string()),
                }],
            }
        };
        let verdict = |report: &LiveReport, name: &str| {
            targets(report)
                .into_iter()
                .find(|t| t.name == name)
                .map(|t| (t.verdict, t.measured))
                .unwrap()
        };
        let mut report = LiveReport {
            rounds: vec![round(Some(3.0)), round(Some(14.0))],
            ..LiveReport::default()
        };
        assert_eq!(verdict(&report, "end_to_end").0, Verdict::Pass);
        assert_eq!(verdict(&report, "tag_to_bronze_p95").0, Verdict::Pass);
        report.rounds.push(round(Some(16.0)));
        assert_eq!(verdict(&report, "end_to_end").0, Verdict::Miss);
        report.rounds = vec![round(Some(3.0)), round(None)];
        let (status, measured) = verdict(&report, "end_to_end");
        assert_eq!(status, Verdict::Miss);
        assert!(
            measured.contains("round 2: telemetry_probe FAIL: no answer"),
            "{measured}"
        );
        // No drill and no soak measured: misses, not passes.
        assert_eq!(verdict(&report, "incident_drill").0, Verdict::Miss);
        report.minutes_wanted = 10;
        assert_eq!(verdict(&report, "soak_bronze_gaps").0, Verdict::Miss);
        report.drill = Some(Drill {
            wall_s: 40.0,
            code: Some(1),
            recovery_s: Some(4.1),
        });
        assert_eq!(verdict(&report, "incident_drill").0, Verdict::Pass);
    }
}
