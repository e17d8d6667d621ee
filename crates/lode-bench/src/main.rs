//! `lode-bench`: what a plan and an apply cost at scale (issue #7). It generates a synthetic
//! estate (a git repository of manifests: N tags with their UDTs, 500 Perspective views, 200
//! gateway scripts, 100 seeded tables, 50 pipelines with their sources, 50 Genie spaces), runs
//! both emulators in this process with the requested latency, and runs each scenario as a child
//! `lode` process so that its wall time and peak memory are its own. Requests are counted by the
//! emulators (their fault layer's counter) and, per route, by a layer this module puts around
//! each emulator's router. Beside every measurement it prints what a per-object refresh at
//! parallelism 10 would cost (the baseline model in `docs/performance.md`) and the issue's
//! targets, PASS or MISS, from the numbers measured: nothing here is estimated.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use clap::Parser;
use lode::cli::{CommandError, ErrorClass, TextOrJson};
use lode_emulators::faults::Faults;
use lode_emulators::{databricks, ignition, server};

mod live;

/// Measure what plans and applies cost on a generated estate: N tags (UDT instances of
/// ten-member UDTs plus atomic tags) and 500 views, 200 gateway scripts, 100 seeded tables,
/// 50 pipelines and 50 Genie spaces, against both emulators run in this process with a fixed
/// latency per request. Prints, per scenario (validate, full_apply, noop_plan, import,
/// change_plan, change_apply, rollback, manifests_at_revision), the wall time, the HTTP requests the
/// emulators served, the peak memory of that lode run, a per-object baseline, and the
/// targets of issue #7 with PASS or MISS. See docs/performance.md.
#[derive(Debug, clap::Parser)]
#[command(name = "lode-bench", version)]
pub struct BenchArgs {
    /// How many tags the estate has, counted as the gateway counts them: every member of a UDT
    /// instance is a tag, folders are not.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=2_000_000))]
    pub tags: u64,
    /// Latency the emulators add to every request, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// text (a table) or json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
    /// Build everything in DIR (new or empty) and keep it: the estate repository, the
    /// emulators' data, each run's output under `logs/`. By default a temporary folder is used
    /// and removed (kept, and named, when a scenario fails).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// How lode reaches the gateway emulator: `api` (every read and write over HTTP) or
    /// `files` (the data directory, with a scan over HTTP after each change).
    #[arg(long, value_enum, default_value = "api")]
    pub ignition_transport: BenchTransport,
    /// Give up on a scenario after this many seconds (the child is killed and the bench stops
    /// with what it measured so far).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub timeout_s: u64,
    /// The lode binary to measure. Default: `lode` beside this program (the same cargo
    /// target folder: `cargo build --release` builds both).
    #[arg(long, value_name = "PATH")]
    pub lode: Option<PathBuf>,
    /// Measure the live stack instead (issue #16): the demo manifests applied and run with
    /// `lode up`, the flow checks' figures over --rounds, the incident drill, and a soak of
    /// --minutes (memory, CPU, data, gaps in bronze). See docs/performance.md.
    #[arg(long, conflicts_with_all = ["tags", "latency_ms", "ignition_transport"])]
    pub live: bool,
    /// With --live: the manifest root to run (copied; the original is not touched).
    /// Default: `manifests` under the current folder.
    #[arg(long, value_name = "DIR", requires = "live")]
    pub manifests: Option<PathBuf>,
    /// With --live: minutes of the soak, during which `lode up` is sampled every 30 s (0: no
    /// soak).
    #[arg(long, default_value_t = 10, requires = "live", value_parser = clap::value_parser!(u64).range(0..=1440))]
    pub minutes: u64,
    /// With --live: how many times the flow checks are measured.
    #[arg(long, default_value_t = 5, requires = "live", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// With --live: how long the stack may take, from `lode up`, until every check passes.
    #[arg(long, default_value_t = 300, value_name = "SECONDS", requires = "live")]
    pub healthy_within_s: u64,
    /// Internal: time reading the manifests of ROOT at --rev (the `manifests_at_revision`
    /// scenario runs this in a child process).
    #[arg(long, hide = true, value_name = "ROOT", requires = "rev")]
    pub read_revision_of: Option<PathBuf>,
    /// Internal: the revision for --read-revision-of.
    #[arg(long, hide = true)]
    pub rev: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTransport {
    Api,
    Files,
}

/// Sizes the issue fixes besides the tags.
const VIEWS: usize = 500;
const SCRIPTS: usize = 200;
const TABLES: usize = 100;
const PIPELINES: usize = 50;
const GENIE_SPACES: usize = 50;
/// UDT definitions, and members (atomic tags) in each.
const UDTS: usize = 10;
const MEMBERS: usize = 10;
/// Tag resources per area folder (and per manifest file).
const PER_AREA: usize = 100;
/// Seed rows per table.
const SEED_ROWS: usize = 5;
/// The baseline: a per-object refresh at this parallelism.
const BASELINE_PARALLELISM: u64 = 10;
/// Commits of the repository `manifests_at_revision` reads an old revision of.
const HISTORY_COMMITS: usize = 1000;
/// The revision read: 900 commits back from the tip.
const HISTORY_REV: &str = "HEAD~900";

const ENV: &str = "bench";
const DATABRICKS_TOKEN_ENV: &str = "LODE_BENCH_DATABRICKS_TOKEN";
const GATEWAY_TOKEN_ENV: &str = "LODE_BENCH_GATEWAY_TOKEN";
const DATABRICKS_TOKEN: &str = "dapi-lode-bench";
const GATEWAY_TOKEN: &str = "lode-bench:bench-secret";

fn main() -> ExitCode {
    // Usage errors exit 1 like lode's (2 would read as "changes present" to a script).
    let args = match BenchArgs::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprint!("{}", error.render());
            ExitCode::from(1)
        }
    }
}

fn run(args: &BenchArgs) -> Result<ExitCode, CommandError> {
    if let Some(root) = &args.read_revision_of {
        return read_revision(root, args.rev.as_deref().unwrap_or("HEAD"));
    }
    if args.live {
        return live::run(args);
    }
    let workdir = Workdir::new(args.keep.as_deref())?;
    let outcome = bench(args, workdir.path());
    match outcome {
        Ok(report) => {
            print_report(&report, args.format);
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure { report, error }) => {
            let kept = workdir.keep_on_failure();
            if let Some(report) = report {
                print_report(&report, args.format);
            }
            Err(error.hint(format!(
                "everything the bench made is in {} (each run's output under logs/)",
                kept.display()
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The estate

/// Which resources a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Udt,
    Tag,
    View,
    Script,
    Table,
    SourceFile,
    Pipeline,
    Genie,
}

impl Part {
    const ALL: [Part; 8] = [
        Part::Udt,
        Part::Tag,
        Part::View,
        Part::Script,
        Part::Table,
        Part::SourceFile,
        Part::Pipeline,
        Part::Genie,
    ];

    fn label(self) -> &'static str {
        match self {
            Part::Udt => "udt",
            Part::Tag => "tag",
            Part::View => "perspective_view",
            Part::Script => "gateway_script",
            Part::Table => "table",
            Part::SourceFile => "workspace_file",
            Part::Pipeline => "pipeline",
            Part::Genie => "genie_space",
        }
    }
}

/// The generated estate: sizes, and which resources the second revision changes.
#[derive(Debug, Clone)]
struct Estate {
    tags: usize,
    /// UDT instances, each `MEMBERS` tags.
    instances: usize,
    /// Atomic tags outside any UDT.
    atomics: usize,
    changed: BTreeMap<Part, BTreeSet<usize>>,
}

impl Estate {
    /// About 95 % of the tags in UDT instances, the rest (and the remainder) atomic.
    fn new(tags: usize) -> Estate {
        let instances = (tags - tags / 20) / MEMBERS;
        Estate {
            tags,
            instances,
            atomics: tags - instances * MEMBERS,
            changed: BTreeMap::new(),
        }
    }

    fn tag_resources(&self) -> usize {
        self.instances + self.atomics
    }

    fn areas(&self) -> usize {
        self.tag_resources().div_ceil(PER_AREA)
    }

    fn count(&self, part: Part) -> usize {
        match part {
            Part::Udt => UDTS,
            Part::Tag => self.tag_resources(),
            Part::View => VIEWS,
            Part::Script => SCRIPTS,
            Part::Table => TABLES,
            Part::SourceFile | Part::Pipeline => PIPELINES,
            Part::Genie => GENIE_SPACES,
        }
    }

    /// Every resource the manifests declare: the parts plus the project, the schema and the
    /// tag folders (`Bench` and one per area).
    fn resources(&self) -> usize {
        Part::ALL.iter().map(|p| self.count(*p)).sum::<usize>() + 1 + 1 + 1 + self.areas()
    }

    /// Picks 1 % of the resources (rounded up), shared among the kinds in proportion to their
    /// numbers with at least one of each, spread evenly within each kind.
    fn choose_changes(&mut self) {
        let goal = self.resources().div_ceil(100);
        let changeable: usize = Part::ALL.iter().map(|p| self.count(*p)).sum();
        for part in Part::ALL {
            let count = self.count(part);
            let share = ((goal * count) as f64 / changeable as f64).round() as usize;
            let n = share.clamp(1, count);
            let picked = (0..n).map(|j| (j * count) / n + count / n / 2).collect();
            self.changed.insert(part, picked);
        }
    }

    fn changes(&self) -> usize {
        self.changed.values().map(BTreeSet::len).sum()
    }

    fn is_changed(&self, part: Part, index: usize, revised: bool) -> bool {
        revised && self.changed.get(&part).is_some_and(|s| s.contains(&index))
    }

    /// Every file of the manifest root at revision 1 (`revised == false`) or 2.
    fn files(&self, environment: &str, revised: bool) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        files.insert(
            "lode.yaml".into(),
            "# Generated by `lode-bench`: a synthetic estate for measuring plans and applies.\n\
             project: bench\nvariables:\n  catalog: main\n  schema: bench\n  \
             workspace_root: /Workspace/Shared/bench\n  ignition_project: bench\n  \
             tag_provider: default\n"
                .to_string(),
        );
        files.insert(".gitignore".into(), ".lode/\nsnapshots/\n".into());
        files.insert(format!("environments/{ENV}.yaml"), environment.to_string());
        files.insert(
            "checks/tags.yaml".into(),
            format!(
                "kind: check\nname: bench_tags\nspec:\n  type: tag_count\n  description: Every \
                 tag of the estate, counted as the gateway counts them.\n  provider: \
                 ${{var.tag_provider}}\n  path: Bench\n  expect: {{equals: {}}}\n",
                self.tags
            ),
        );
        self.ignition_files(&mut files, revised);
        self.databricks_files(&mut files, revised);
        files
    }

    fn ignition_files(&self, files: &mut BTreeMap<String, String>, revised: bool) {
        files.insert(
            "ignition/project.yaml".into(),
            "kind: project\nname: bench\nspec:\n  title: lode bench\n  description: Generated \
             by lode bench\n"
                .into(),
        );
        let mut udts = Vec::new();
        for u in 0..UDTS {
            udts.push(udt_document(u, self.is_changed(Part::Udt, u, revised)));
        }
        files.insert("ignition/udts.yaml".into(), udts.join("---\n"));
        files.insert(
            "ignition/tags/root.yaml".into(),
            "kind: tag\nname: Bench\nspec:\n  provider: ${var.tag_provider}\n  tagType: Folder\n"
                .into(),
        );
        for area in 0..self.areas() {
            let mut documents = vec![format!(
                "kind: tag\nname: Bench/Area_{area:04}\nspec:\n  provider: ${{var.tag_provider}}\n  tagType: Folder\n"
            )];
            let end = ((area + 1) * PER_AREA).min(self.tag_resources());
            for t in area * PER_AREA..end {
                let changed = self.is_changed(Part::Tag, t, revised);
                documents.push(if t < self.instances {
                    instance_document(area, t, changed)
                } else {
                    atomic_document(area, t - self.instances, changed)
                });
            }
            files.insert(
                format!("ignition/tags/area_{area:04}.yaml"),
                documents.join("---\n"),
            );
        }
        let mut views = Vec::new();
        for v in 0..VIEWS {
            views.push(format!(
                "kind: perspective_view\nname: Bench/Group_{:02}/View_{v:03}\nspec:\n  project: ${{var.ignition_project}}\n  view: views/view_{v:03}.view.json\n",
                v / 50
            ));
            files.insert(
                format!("ignition/views/view_{v:03}.view.json"),
                view_json(v, self.is_changed(Part::View, v, revised)),
            );
        }
        files.insert("ignition/views.yaml".into(), views.join("---\n"));
        let mut scripts = Vec::new();
        for s in 0..SCRIPTS {
            scripts.push(format!(
                "kind: gateway_script\nname: bench_script_{s:03}\nspec:\n  project: ${{var.ignition_project}}\n  type: timer\n  delay_ms: {}\n  script: scripts/bench_script_{s:03}.py\n",
                1000 + 10 * s
            ));
            let limit = if self.is_changed(Part::Script, s, revised) {
                101
            } else {
                100
            };
            files.insert(
                format!("ignition/scripts/bench_script_{s:03}.py"),
                format!(
                    "# Bench timer script {s}: keeps a setpoint under its limit.\nLIMIT = {limit}\npath = \"[default]Bench/Area_0000/Point_{s:05}\"\nvalue = system.tag.readBlocking([path])[0].value\nif value > LIMIT:\n    system.tag.writeBlocking([path], [LIMIT])\n"
                ),
            );
        }
        files.insert("ignition/scripts.yaml".into(), scripts.join("---\n"));
    }

    fn databricks_files(&self, files: &mut BTreeMap<String, String>, revised: bool) {
        files.insert(
            "databricks/schema.yaml".into(),
            "kind: schema\nname: bench\nspec:\n  catalog: ${var.catalog}\n  name: ${var.schema}\n  comment: Tables of the lode bench estate\n"
                .into(),
        );
        let mut tables = Vec::new();
        for t in 0..TABLES {
            tables.push(format!(
                "kind: table\nname: bench_t_{t:03}\nspec:\n  catalog: ${{var.catalog}}\n  schema: ${{var.schema}}\n  comment: Bench table {t}\n  columns:\n    - {{name: id, type: string, nullable: false}}\n    - {{name: label, type: string}}\n    - {{name: value, type: double}}\n    - {{name: active, type: boolean}}\n  primary_key: [id]\n  seed: seeds/bench_t_{t:03}.csv\n"
            ));
            let mut csv = String::from("id,label,value,active\n");
            for r in 0..SEED_ROWS {
                let value = if r == 0 && self.is_changed(Part::Table, t, revised) {
                    2.5
                } else {
                    1.5 + r as f64
                };
                let _ = writeln!(csv, "r{r},row {r} of table {t},{value:.1},{}", r % 2 == 0);
            }
            files.insert(format!("databricks/seeds/bench_t_{t:03}.csv"), csv);
        }
        files.insert("databricks/tables.yaml".into(), tables.join("---\n"));
        let mut pipelines = Vec::new();
        for p in 0..PIPELINES {
            let table = p * (TABLES / PIPELINES);
            pipelines.push(format!(
                "kind: workspace_file\nname: bench_src_{p:02}\nspec:\n  path: ${{var.workspace_root}}/pipelines/bench_p_{p:02}.sql\n  source: pipelines/bench_p_{p:02}.sql\n"
            ));
            let revision = if self.is_changed(Part::Pipeline, p, revised) {
                2
            } else {
                1
            };
            pipelines.push(format!(
                "kind: pipeline\nname: bench_p_{p:02}\ndepends_on:\n  - table/bench_t_{table:03}\nspec:\n  name: bench-p-{p:02}\n  catalog: ${{var.catalog}}\n  schema: ${{var.schema}}\n  libraries:\n    - file:\n        path: ${{var.workspace_root}}/pipelines/bench_p_{p:02}.sql\n  configuration:\n    bench.source: ${{var.catalog}}.${{var.schema}}.bench_t_{table:03}\n    bench.revision: \"{revision}\"\n  development: true\n  serverless: true\n"
            ));
            let note = if self.is_changed(Part::SourceFile, p, revised) {
                "totals per label (revised)"
            } else {
                "totals per label"
            };
            files.insert(
                format!("databricks/pipelines/bench_p_{p:02}.sql"),
                format!(
                    "-- Bench pipeline {p}: {note}.\nCREATE OR REFRESH MATERIALIZED VIEW bench_p_{p:02}_totals AS\nSELECT label, sum(value) AS total FROM bench_t_{table:03} GROUP BY label;\n"
                ),
            );
        }
        files.insert("databricks/pipelines.yaml".into(), pipelines.join("---\n"));
        let mut spaces = Vec::new();
        for g in 0..GENIE_SPACES {
            let (a, b) = (g % TABLES, (g + TABLES / 2) % TABLES);
            let description = if self.is_changed(Part::Genie, g, revised) {
                format!("Questions about bench tables {a} and {b}, revised.")
            } else {
                format!("Questions about bench tables {a} and {b}.")
            };
            spaces.push(format!(
                "kind: genie_space\nname: bench_g_{g:02}\nspec:\n  title: Bench space {g}\n  description: {description}\n  parent_path: ${{var.workspace_root}}/genie\n  tables:\n    - ${{var.catalog}}.${{var.schema}}.bench_t_{a:03}\n    - ${{var.catalog}}.${{var.schema}}.bench_t_{b:03}\n  instructions: Values are in the value column; active rows only unless asked.\n  sample_questions:\n    - What is the total value of bench table {a}?\n"
            ));
        }
        files.insert("databricks/genie.yaml".into(), spaces.join("---\n"));
    }
}

fn udt_document(u: usize, changed: bool) -> String {
    let mut out = format!(
        "kind: udt\nname: BenchType_{u:02}\nspec:\n  provider: ${{var.tag_provider}}\n  parameters:\n    AssetId: {{dataType: String, value: A00000}}\n  tags:\n"
    );
    let status_doc = if changed {
        "Operating status (revised)"
    } else {
        "Operating status"
    };
    let _ = write!(
        out,
        "    - name: Status\n      tagType: AtomicTag\n      valueSource: memory\n      dataType: String\n      value: RUNNING\n      documentation: {status_doc}\n    - name: Running\n      tagType: AtomicTag\n      valueSource: memory\n      dataType: Boolean\n      value: true\n    - name: Count\n      tagType: AtomicTag\n      valueSource: memory\n      dataType: Int4\n      value: 0\n"
    );
    for m in 0..MEMBERS - 3 {
        let _ = write!(
            out,
            "    - name: Value_{m:02}\n      tagType: AtomicTag\n      valueSource: memory\n      dataType: Float4\n      value: {}.5\n      engUnit: \"%\"\n      engLow: 0\n      engHigh: 100\n      documentation: Measurement {m} of type {u}\n",
            10 + m
        );
        if m % 3 == 0 {
            let _ = write!(
                out,
                "      alarms:\n        - {{name: High, mode: AboveValue, setpointA: 90, priority: Medium}}\n"
            );
        }
    }
    out
}

fn instance_document(area: usize, t: usize, changed: bool) -> String {
    let suffix = if changed { "_r2" } else { "" };
    format!(
        "kind: tag\nname: Bench/Area_{area:04}/Asset_{t:06}\nspec:\n  provider: ${{var.tag_provider}}\n  tagType: UdtInstance\n  typeId: BenchType_{:02}\n  parameters:\n    AssetId: {{dataType: String, value: A{t:06}{suffix}}}\n",
        t % UDTS
    )
}

fn atomic_document(area: usize, a: usize, changed: bool) -> String {
    let (value, doc) = if changed {
        (a as f64 / 10.0 + 1.0, "Bench setpoint (revised)")
    } else {
        (a as f64 / 10.0, "Bench setpoint")
    };
    format!(
        "kind: tag\nname: Bench/Area_{area:04}/Point_{a:06}\nspec:\n  provider: ${{var.tag_provider}}\n  tagType: AtomicTag\n  valueSource: memory\n  dataType: Float4\n  value: {value:.1}\n  engUnit: \"%\"\n  documentation: {doc} {a}\n"
    )
}

fn view_json(v: usize, changed: bool) -> String {
    let text = if changed {
        format!("Bench view {v} (revised)")
    } else {
        format!("Bench view {v}")
    };
    let view = json!({
        "custom": {},
        "params": {},
        "props": {"defaultSize": {"height": 600, "width": 800}},
        "root": {
            "type": "ia.container.flex",
            "meta": {"name": "root"},
            "props": {"direction": "column"},
            "children": [
                {"type": "ia.display.label", "meta": {"name": "Title"}, "props": {"text": text}},
                {
                    "type": "ia.display.label",
                    "meta": {"name": "Value"},
                    "props": {"text": ""},
                    "propConfig": {"props.text": {"binding": {"type": "tag", "config": {
                        "mode": "direct",
                        "tagPath": format!("[default]Bench/Area_0000/Point_{:06}", v % 100)
                    }}}}
                }
            ]
        }
    });
    let mut text = serde_json::to_string_pretty(&view).expect("a view serialises");
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------------
// The work folder, the emulators and the git repository

struct Workdir {
    temp: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Workdir {
    fn new(keep: Option<&Path>) -> Result<Workdir, CommandError> {
        match keep {
            Some(dir) => {
                if dir.exists()
                    && std::fs::read_dir(dir)
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(true)
                {
                    return Err(CommandError::user(format!(
                        "--keep {}: the folder is not empty",
                        dir.display()
                    ))
                    .hint("name a new or empty folder"));
                }
                std::fs::create_dir_all(dir).map_err(|e| config_error(dir, e))?;
                let path = dir.canonicalize().map_err(|e| config_error(dir, e))?;
                Ok(Workdir { temp: None, path })
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("lode-bench-")
                    .tempdir()
                    .map_err(|e| config_error(&std::env::temp_dir(), e))?;
                let path = temp.path().canonicalize().unwrap_or(temp.path().into());
                Ok(Workdir {
                    temp: Some(temp),
                    path,
                })
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps a temporary folder for inspection; returns where everything is.
    fn keep_on_failure(mut self) -> PathBuf {
        if let Some(temp) = self.temp.take() {
            return temp.keep();
        }
        self.path.clone()
    }
}

fn config_error(path: &Path, error: impl std::fmt::Display) -> CommandError {
    CommandError::user(format!("{}: {error}", path.display())).with_class(ErrorClass::Config)
}

fn internal(message: impl std::fmt::Display) -> CommandError {
    CommandError::user(message.to_string()).with_class(ErrorClass::Internal)
}

/// Requests per route and the time the emulator spent answering them (injected latency
/// included), counted by a layer around an emulator's router.
#[derive(Default)]
struct RouteCounts(
    Mutex<BTreeMap<String, RouteStat>>,
    std::sync::atomic::AtomicI64,
);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RouteStat {
    requests: u64,
    /// Seconds from the request's arrival to its response's headers, summed.
    server_s: f64,
}

impl RouteCounts {
    fn snapshot(&self) -> BTreeMap<String, RouteStat> {
        self.0.lock().expect("route counts").clone()
    }

    /// Requests being answered now.
    fn in_flight(&self) -> i64 {
        self.1.load(Ordering::Relaxed)
    }
}

/// Counts a request as in flight until it is answered or abandoned.
struct InFlight(Arc<RouteCounts>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.1.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn count_route(
    axum::extract::State(counts): axum::extract::State<Arc<RouteCounts>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = format!("{} {}", request.method(), route_of(request.uri().path()));
    let start = Instant::now();
    counts.1.fetch_add(1, Ordering::Relaxed);
    let in_flight = InFlight(counts.clone());
    let response = next.run(request).await;
    drop(in_flight);
    let elapsed = start.elapsed().as_secs_f64();
    let mut counts = counts.0.lock().expect("route counts");
    let stat = counts.entry(route).or_default();
    stat.requests += 1;
    stat.server_s += elapsed;
    response
}

/// A path with its ids and names replaced, so requests group by route:
/// `/api/2.0/pipelines/0b5…/updates` → `/api/2.0/pipelines/{id}/updates`.
fn route_of(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/workspace-files/") {
        return format!(
            "/workspace-files/{}",
            if rest.is_empty() { "" } else { "{path}" }
        );
    }
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| segments[p]).unwrap_or("");
        let id_like =
            segment.len() >= 16 && segment.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        let named = segment.contains('.') && i > 2
            || segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() && i > 2
            || matches!(previous, "export" | "import") && previous != *segment && i > 4
            || previous == "projects"
                && !matches!(*segment, "export" | "import" | "list" | "")
                && i > 3;
        out.push(if id_like || named { "{id}" } else { segment });
    }
    out.join("/")
}

/// One emulator running in this process, with its counters.
struct Emulator<S> {
    url: String,
    faults: Arc<Faults>,
    routes: Arc<RouteCounts>,
    _server: server::BackgroundServer,
    _shared: S,
}

impl<S> Emulator<S> {
    fn requests(&self) -> u64 {
        self.faults.counts.requests.load(Ordering::Relaxed)
    }
}

fn faults(latency_ms: u64) -> Result<Arc<Faults>, CommandError> {
    Faults::parse(&format!("latency_ms={latency_ms}"))
        .map(Arc::new)
        .map_err(internal)
}

fn serve(
    name: &str,
    router: axum::Router,
    routes: &Arc<RouteCounts>,
    listener: std::net::TcpListener,
) -> server::BackgroundServer {
    let app = router.layer(axum::middleware::from_fn_with_state(
        routes.clone(),
        count_route,
    ));
    server::serve_in_background(name, listener, app)
}

fn start_databricks(
    data_dir: PathBuf,
    latency_ms: u64,
) -> Result<Emulator<databricks::Shared>, CommandError> {
    let faults = faults(latency_ms)?;
    let workspace = databricks::Workspace::open(databricks::EmulatorConfig {
        data_dir,
        token: DATABRICKS_TOKEN.into(),
        oauth_client: None,
        port: 0,
        faults: Some(faults.clone()),
    })
    .map(Arc::new)
    .map_err(|e| internal(format!("the Databricks emulator did not start: {e}")))?;
    let (listener, url) = server::bind_loopback(0).map_err(internal)?;
    let _ = workspace.base_url.set(url.clone());
    let routes = Arc::new(RouteCounts::default());
    let server = serve(
        "bench-databricks",
        databricks::router(workspace.clone()),
        &routes,
        listener,
    );
    Ok(Emulator {
        url,
        faults,
        routes,
        _server: server,
        _shared: workspace,
    })
}

fn start_gateway(
    data_dir: PathBuf,
    latency_ms: u64,
) -> Result<Emulator<ignition::Shared>, CommandError> {
    let faults = faults(latency_ms)?;
    let (listener, url) = server::bind_loopback(0).map_err(internal)?;
    let gateway = ignition::Gateway::open(ignition::GatewayConfig {
        data_dir,
        token: GATEWAY_TOKEN.into(),
        read_only_token: None,
        port: 0,
        faults: Some(faults.clone()),
        ..Default::default()
    })
    .map(Arc::new)
    .map_err(|e| internal(format!("the gateway emulator did not start: {e}")))?;
    let _ = gateway.base_url.set(url.clone());
    let routes = Arc::new(RouteCounts::default());
    let server = serve(
        "bench-gateway",
        ignition::router(gateway.clone()),
        &routes,
        listener,
    );
    Ok(Emulator {
        url,
        faults,
        routes,
        _server: server,
        _shared: gateway,
    })
}

fn write_files(root: &Path, files: &BTreeMap<String, String>) -> Result<(), CommandError> {
    for (relative, content) in files {
        let path = root.join(relative);
        if std::fs::read(&path).is_ok_and(|old| old == content.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| config_error(parent, e))?;
        }
        std::fs::write(&path, content).map_err(|e| config_error(&path, e))?;
    }
    Ok(())
}

fn git_error(error: git2::Error) -> CommandError {
    internal(format!("git: {}", error.message()))
}

fn signature() -> Result<git2::Signature<'static>, CommandError> {
    git2::Signature::now("lode bench", "bench@lode.invalid").map_err(git_error)
}

/// Commits the whole work tree (what .gitignore allows); returns the commit id.
fn commit_all(repo: &git2::Repository, message: &str) -> Result<String, CommandError> {
    let mut index = repo.index().map_err(git_error)?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .map_err(git_error)?;
    index.write().map_err(git_error)?;
    commit_index(repo, &mut index, message)
}

fn commit_index(
    repo: &git2::Repository,
    index: &mut git2::Index,
    message: &str,
) -> Result<String, CommandError> {
    let tree_id = index.write_tree().map_err(git_error)?;
    let tree = repo.find_tree(tree_id).map_err(git_error)?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let signature = signature()?;
    let id = repo
        .commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .map_err(git_error)?;
    Ok(id.to_string())
}

// ---------------------------------------------------------------------------------------------
// Running and measuring

/// One scenario's figures.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    wall_s: f64,
    requests: u64,
    peak_rss_mb: Option<f64>,
    baseline_requests: u64,
    baseline_wall_s: f64,
    /// Requests per route (both emulators), for the breakdown.
    routes: BTreeMap<String, RouteStat>,
    /// Requests per emulator: (Databricks, gateway).
    per_system: (u64, u64),
}

/// A finished child run.
struct ChildRun {
    wall: Duration,
    code: Option<i32>,
    peak_rss_kb: Option<i64>,
    timed_out: bool,
}

/// Waits for `child` and reads its peak resident set size from `wait4`, which reports the
/// rusage of exactly that child. A child that outlives `timeout` is killed (by its pid).
#[cfg(unix)]
fn wait_measured(child: std::process::Child, start: Instant, timeout: Duration) -> ChildRun {
    let pid = child.id() as libc::pid_t;
    // The child is reaped by wait4 below; std's handle must not wait for it too.
    drop(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data; wait4 fills it for our own child `pid`.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let result = loop {
            // SAFETY: valid pointers to locals; pid is a child of this process.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            break r;
        };
        let wall = start.elapsed();
        let code = (result == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status));
        let _ = sender.send((wall, code, (result == pid).then_some(usage.ru_maxrss)));
    });
    let (timed_out, received) = match receiver.recv_timeout(timeout) {
        Ok(received) => (false, received),
        Err(_) => {
            // SAFETY: signalling our own, not yet reaped, child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let received = receiver.recv().unwrap_or((start.elapsed(), None, None));
            (true, received)
        }
    };
    let (wall, code, maxrss) = received;
    // Linux reports kilobytes, macOS bytes.
    let peak_rss_kb = maxrss.map(|v| {
        // `c_long` is i32 on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let v = i64::from(v);
        if cfg!(target_os = "macos") {
            v / 1024
        } else {
            v
        }
    });
    ChildRun {
        wall,
        code,
        peak_rss_kb,
        timed_out,
    }
}

#[cfg(not(unix))]
fn wait_measured(mut child: std::process::Child, start: Instant, timeout: Duration) -> ChildRun {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return ChildRun {
                wall: start.elapsed(),
                code: status.code(),
                peak_rss_kb: None,
                timed_out: false,
            };
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return ChildRun {
                wall: start.elapsed(),
                code: None,
                peak_rss_kb: None,
                timed_out: true,
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The lode binary to measure: `--lode`, else `lode` beside this program.
fn lode_binary(args: &BenchArgs, bench_exe: &Path) -> Result<PathBuf, CommandError> {
    let path = match &args.lode {
        Some(path) => path.clone(),
        None => bench_exe.with_file_name(format!("lode{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        return Err(CommandError::user(format!(
            "there is no lode binary at {}",
            path.display()
        ))
        .with_class(ErrorClass::Config)
        .hint("build it beside lode-bench (`cargo build --release -p lode -p lode-bench`) or pass --lode PATH"));
    }
    Ok(path)
}

/// What went wrong, with the figures measured up to then.
struct Failure {
    report: Option<Box<Report>>,
    error: CommandError,
}

impl From<CommandError> for Failure {
    fn from(error: CommandError) -> Failure {
        Failure {
            report: None,
            error,
        }
    }
}

struct Bench<'a> {
    args: &'a BenchArgs,
    estate_dir: PathBuf,
    logs: PathBuf,
    databricks: Emulator<databricks::Shared>,
    gateway: Emulator<ignition::Shared>,
    /// The lode binary the scenarios run.
    lode_exe: PathBuf,
    /// This program, for the scenario that times a manifest read in a fresh process.
    bench_exe: PathBuf,
}

impl Drop for Bench<'_> {
    /// Lets the emulators finish what a stopped child left running (a SQL statement) before
    /// they shut down; at most 30 seconds.
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while (self.databricks.routes.in_flight() > 0 || self.gateway.routes.in_flight() > 0)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Bench<'_> {
    fn routes(&self) -> BTreeMap<String, RouteStat> {
        let mut all = BTreeMap::new();
        for (prefix, counts) in [
            ("databricks", &self.databricks.routes),
            ("gateway", &self.gateway.routes),
        ] {
            for (route, n) in counts.snapshot() {
                all.insert(format!("{prefix} {route}"), n);
            }
        }
        all
    }

    /// Runs `lode ARGS` in the estate as a child process and measures it. `expect` lists the
    /// exit codes that count as success.
    fn lode(
        &self,
        name: &'static str,
        args: &[&str],
        expect: &[i32],
        baseline_requests: u64,
    ) -> Result<(Scenario, i32), CommandError> {
        self.lode_in(&self.estate_dir, name, args, expect, baseline_requests)
    }

    /// `lode` run in the manifest root `dir` (the estate, or the import's fresh root).
    fn lode_in(
        &self,
        dir: &Path,
        name: &'static str,
        args: &[&str],
        expect: &[i32],
        baseline_requests: u64,
    ) -> Result<(Scenario, i32), CommandError> {
        eprintln!("bench: {name} (lode {})", args.join(" "));
        let stdout = std::fs::File::create(self.logs.join(format!("{name}.stdout")))
            .map_err(|e| config_error(&self.logs, e))?;
        let stderr = std::fs::File::create(self.logs.join(format!("{name}.stderr")))
            .map_err(|e| config_error(&self.logs, e))?;
        let before = (self.databricks.requests(), self.gateway.requests());
        let routes_before = self.routes();
        let start = Instant::now();
        let child = Command::new(&self.lode_exe)
            .arg("--env")
            .arg(ENV)
            .arg("--dir")
            .arg(dir)
            .args(args)
            .current_dir(dir)
            .env(DATABRICKS_TOKEN_ENV, DATABRICKS_TOKEN)
            .env(GATEWAY_TOKEN_ENV, GATEWAY_TOKEN)
            .env("NO_COLOR", "1")
            .env_remove(lode_emulators::faults::FAULTS_VARIABLE)
            .env_remove("LODE_ENV")
            .env_remove("LODE_DIR")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| internal(format!("cannot run {}: {e}", self.lode_exe.display())))?;
        let run = wait_measured(child, start, Duration::from_secs(self.args.timeout_s));
        let after = (self.databricks.requests(), self.gateway.requests());
        let per_system = (after.0 - before.0, after.1 - before.1);
        let mut routes = self.routes();
        for (route, stat) in routes.iter_mut() {
            let before = routes_before.get(route).copied().unwrap_or_default();
            stat.requests -= before.requests;
            stat.server_s -= before.server_s;
        }
        routes.retain(|_, stat| stat.requests > 0);
        let scenario = Scenario {
            name,
            wall_s: run.wall.as_secs_f64(),
            requests: per_system.0 + per_system.1,
            peak_rss_mb: run.peak_rss_kb.map(|kb| kb as f64 / 1024.0),
            baseline_requests,
            baseline_wall_s: baseline_wall_s(baseline_requests, self.args.latency_ms),
            routes,
            per_system,
        };
        if run.timed_out {
            return Err(CommandError::user(format!(
                "{name} did not finish within {} s (--timeout-s); it was stopped after {:.0} s and {} requests",
                self.args.timeout_s, scenario.wall_s, scenario.requests
            ))
            .with_class(ErrorClass::Remote));
        }
        let code = run.code.unwrap_or(-1);
        if !expect.contains(&code) {
            let log = std::fs::read_to_string(self.logs.join(format!("{name}.stderr")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(CommandError::user(format!(
                "{name}: `lode {}` exited with {} after {:.1} s; its last lines:\n{}",
                args.join(" "),
                run.code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "a signal".into()),
                scenario.wall_s,
                tail.join("\n")
            ))
            .with_class(ErrorClass::Internal));
        }
        eprintln!(
            "bench: {name}: {:.2} s, {} requests, {} MB",
            scenario.wall_s,
            scenario.requests,
            scenario
                .peak_rss_mb
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "?".into())
        );
        Ok((scenario, code))
    }
}

/// The modelled wall time of `requests` object reads and writes, `BASELINE_PARALLELISM` at a
/// time, each taking the injected latency.
fn baseline_wall_s(requests: u64, latency_ms: u64) -> f64 {
    requests.div_ceil(BASELINE_PARALLELISM) as f64 * latency_ms as f64 / 1000.0
}

/// Everything a run of the bench produced.
#[derive(Debug, Clone)]
struct Report {
    tags: u64,
    latency_ms: u64,
    transport: BenchTransport,
    /// `DATABRICKS_RATE_LIMIT` as the children see it (`None`: lode's default, 15 per second).
    rate_limit: Option<String>,
    estate: Estate,
    scenarios: Vec<Scenario>,
    /// The in-process load (parse and validate) time at the old revision, seconds.
    revision_load_s: Option<f64>,
    notes: Vec<String>,
    error: Option<String>,
}

fn bench(args: &BenchArgs, workdir: &Path) -> Result<Report, Failure> {
    let tags = usize::try_from(args.tags).map_err(internal)?;
    let mut estate = Estate::new(tags);
    estate.choose_changes();
    let estate_dir = workdir.join("estate");
    let logs = workdir.join("logs");
    for dir in [&estate_dir, &logs] {
        std::fs::create_dir_all(dir).map_err(|e| config_error(dir, e))?;
    }
    eprintln!(
        "bench: {} tags ({} UDT instances of {UDTS} UDTs, {} atomic tags), {VIEWS} views, {SCRIPTS} scripts, {TABLES} tables, {PIPELINES} pipelines, {GENIE_SPACES} Genie spaces: {} resources; latency {} ms; in {}",
        estate.tags,
        estate.instances,
        estate.atomics,
        estate.resources(),
        args.latency_ms,
        workdir.display()
    );
    let databricks = start_databricks(workdir.join("live/databricks"), args.latency_ms)?;
    let gateway_data = workdir.join("live/ignition");
    let gateway = start_gateway(gateway_data.clone(), args.latency_ms)?;
    let ignition = match args.ignition_transport {
        BenchTransport::Api => format!(
            "ignition:\n  transport: api\n  gateway_url: {}\n  token_env: {GATEWAY_TOKEN_ENV}\n",
            gateway.url
        ),
        BenchTransport::Files => format!(
            "ignition:\n  transport: files\n  data_dir: {}\n  gateway_url: {}\n  token_env: {GATEWAY_TOKEN_ENV}\n",
            gateway_data.display(),
            gateway.url
        ),
    };
    let environment = format!(
        "# The emulators `lode-bench` runs in its own process.\ndatabricks:\n  host: {}\n  token_env: {DATABRICKS_TOKEN_ENV}\n{ignition}",
        databricks.url
    );

    let repo = git2::Repository::init(&estate_dir).map_err(git_error)?;
    write_files(&estate_dir, &estate.files(&environment, false))?;
    let first = commit_all(&repo, "bench: revision 1")?;
    let bench_exe = std::env::current_exe().map_err(internal)?;
    let lode_exe = lode_binary(args, &bench_exe)?;
    let bench = Bench {
        args,
        estate_dir: estate_dir.clone(),
        logs,
        databricks,
        gateway,
        lode_exe,
        bench_exe,
    };
    let mut report = Report {
        tags: args.tags,
        latency_ms: args.latency_ms,
        transport: args.ignition_transport,
        rate_limit: std::env::var("DATABRICKS_RATE_LIMIT")
            .ok()
            .filter(|v| !v.trim().is_empty()),
        estate: estate.clone(),
        scenarios: Vec::new(),
        revision_load_s: None,
        notes: Vec::new(),
        error: None,
    };
    let steps = run_scenarios(&bench, &repo, &estate, &environment, &first, &mut report);
    if let Err(error) = steps {
        report.error = Some(error.message.clone());
        return Err(Failure {
            report: Some(Box::new(report)),
            error,
        });
    }

    // Reading the manifests at an old revision of a long history, through lode's own code.
    let history = workdir.join("history");
    eprintln!("bench: building a repository of {HISTORY_COMMITS} commits");
    build_history(&estate.files(&environment, false), &history)?;
    match manifests_at_revision(&bench, &history) {
        Ok((scenario, load_s)) => {
            report.scenarios.push(scenario);
            report.revision_load_s = load_s;
        }
        Err(error) => {
            report.error = Some(error.message.clone());
            return Err(Failure {
                report: Some(Box::new(report)),
                error,
            });
        }
    }
    Ok(report)
}

fn run_scenarios(
    bench: &Bench,
    repo: &git2::Repository,
    estate: &Estate,
    environment: &str,
    first: &str,
    report: &mut Report,
) -> Result<(), CommandError> {
    let resources = estate.resources() as u64;
    let changes = estate.changes() as u64;
    let (validate, _) = bench.lode("validate", &["validate"], &[0], 0)?;
    report.scenarios.push(validate);
    let (apply, _) = bench.lode(
        "full_apply",
        &["apply", "--auto-approve"],
        &[0],
        2 * resources,
    )?;
    report.scenarios.push(apply);
    let (noop, code) = bench.lode(
        "noop_plan",
        &["plan", "--detailed-exitcode"],
        &[0, 2],
        resources,
    )?;
    if code == 2 {
        report.notes.push(
            "the plan right after the full apply was not empty (a perpetual diff): see logs/noop_plan.stdout"
                .into(),
        );
    }
    report.scenarios.push(noop);

    // `lode import` of the applied estate into a fresh root holding only the estate's
    // lode.yaml and environment file (and so a state of its own); its plan must be empty.
    let fresh = bench.estate_dir.with_file_name("import");
    std::fs::create_dir_all(&fresh).map_err(|e| config_error(&fresh, e))?;
    let settings: BTreeMap<String, String> = estate
        .files(environment, false)
        .into_iter()
        .filter(|(path, _)| {
            path == "lode.yaml" || path == ".gitignore" || path.starts_with("environments/")
        })
        .collect();
    write_files(&fresh, &settings)?;
    let (import, _) = bench.lode_in(&fresh, "import", &["import"], &[0], resources)?;
    report.scenarios.push(import);
    let (_, code) = bench.lode_in(
        &fresh,
        "import_plan",
        &["plan", "--detailed-exitcode"],
        &[0, 2],
        resources,
    )?;
    if code == 2 {
        report.notes.push(
            "the plan after `lode import` into a fresh root was not empty: see logs/import_plan.stdout"
                .into(),
        );
    }

    write_files(&bench.estate_dir, &estate.files(environment, true))?;
    commit_all(repo, "bench: revision 2, 1 % of the resources changed")?;
    let (change_plan, code) = bench.lode(
        "change_plan",
        &["plan", "--detailed-exitcode"],
        &[0, 2],
        resources,
    )?;
    if code == 0 {
        report
            .notes
            .push("the plan of revision 2 showed no changes".into());
    }
    report.scenarios.push(change_plan);
    let (change_apply, _) = bench.lode(
        "change_apply",
        &["apply", "--auto-approve"],
        &[0],
        resources + changes,
    )?;
    report.scenarios.push(change_apply);
    let (rollback, _) = bench.lode(
        "rollback",
        &["rollback", "--to", first, "--auto-approve"],
        &[0],
        resources + changes,
    )?;
    report.scenarios.push(rollback);
    Ok(())
}

/// A repository of `HISTORY_COMMITS` commits: the estate, then one commit per edit, each
/// appending a comment line to one manifest file (in turn). Built in memory with git2.
fn build_history(files: &BTreeMap<String, String>, dir: &Path) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir).map_err(|e| config_error(dir, e))?;
    write_files(dir, files)?;
    let repo = git2::Repository::init(dir).map_err(git_error)?;
    commit_all(&repo, "history: the estate")?;
    let mut index = repo.index().map_err(git_error)?;
    let manifests: Vec<&String> = files
        .keys()
        .filter(|p| p.ends_with(".yaml") && *p != "lode.yaml" && !p.starts_with("environments/"))
        .collect();
    let mut contents: BTreeMap<&String, String> = BTreeMap::new();
    for i in 1..HISTORY_COMMITS {
        let path = manifests[i % manifests.len()];
        let content = contents.entry(path).or_insert_with(|| files[path].clone());
        let _ = writeln!(content, "# edit {i}");
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: content.len() as u32,
            id: git2::Oid::ZERO_SHA1,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index
            .add_frombuffer(&entry, content.as_bytes())
            .map_err(git_error)?;
        commit_index(&repo, &mut index, &format!("history: edit {i} of {path}"))?;
    }
    index.write().map_err(git_error)?;
    // The work tree as at the tip, so the folder is a plain checkout.
    let tip: BTreeMap<String, String> = contents
        .into_iter()
        .map(|(path, content)| (path.clone(), content))
        .collect();
    write_files(dir, &tip)?;
    Ok(())
}

/// Times `ManifestFiles::from_git_revision` (what `--rev` uses) at `HISTORY_REV` in a child
/// process, so its memory is measured alone.
fn manifests_at_revision(
    bench: &Bench,
    history: &Path,
) -> Result<(Scenario, Option<f64>), CommandError> {
    let name = "manifests_at_revision";
    eprintln!("bench: {name} ({HISTORY_REV} of {HISTORY_COMMITS} commits)");
    let stdout_path = bench.logs.join(format!("{name}.stdout"));
    let stdout = std::fs::File::create(&stdout_path).map_err(|e| config_error(&bench.logs, e))?;
    let stderr = std::fs::File::create(bench.logs.join(format!("{name}.stderr")))
        .map_err(|e| config_error(&bench.logs, e))?;
    let start = Instant::now();
    let child = Command::new(&bench.bench_exe)
        .arg("--read-revision-of")
        .arg(history)
        .arg("--rev")
        .arg(HISTORY_REV)
        .env_remove("LODE_ENV")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| internal(format!("cannot run {}: {e}", bench.bench_exe.display())))?;
    let run = wait_measured(child, start, Duration::from_secs(bench.args.timeout_s));
    let answer: Value = std::fs::read_to_string(&stdout_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let Some(read_s) = answer["read_s"].as_f64().filter(|_| run.code == Some(0)) else {
        let log =
            std::fs::read_to_string(bench.logs.join(format!("{name}.stderr"))).unwrap_or_default();
        return Err(internal(format!(
            "{name}: reading the manifests at {HISTORY_REV} failed: {}",
            log.trim()
        )));
    };
    eprintln!(
        "bench: {name}: read in {:.1} ms, loaded and validated in {:.1} ms",
        read_s * 1000.0,
        answer["load_s"].as_f64().unwrap_or(0.0) * 1000.0
    );
    Ok((
        Scenario {
            name,
            wall_s: read_s,
            requests: 0,
            peak_rss_mb: run.peak_rss_kb.map(|kb| kb as f64 / 1024.0),
            baseline_requests: 0,
            baseline_wall_s: 0.0,
            routes: BTreeMap::new(),
            per_system: (0, 0),
        },
        answer["load_s"].as_f64(),
    ))
}

/// The child side of `manifests_at_revision`: one read of the revision in a fresh process
/// (as `lode plan --rev` does it), then the load and validation of what was read.
fn read_revision(root: &Path, rev: &str) -> Result<ExitCode, CommandError> {
    let start = Instant::now();
    let files = lode::manifest::ManifestFiles::from_git_revision(root, rev)?;
    let read_s = start.elapsed().as_secs_f64();
    let bytes: usize = files.files.values().map(Vec::len).sum();
    let start = Instant::now();
    let loaded = lode::manifest::load_desired(&files, ENV, &|name| std::env::var(name).ok())?;
    let load_s = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "read_s": read_s,
            "load_s": load_s,
            "files": files.files.len(),
            "bytes": bytes,
            "resources": loaded.desired.resources.len(),
        })
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Targets and output

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Miss,
    NotApplicable,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::NotApplicable => "N/A",
        }
    }

    fn of(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Miss }
    }
}

struct Target {
    name: &'static str,
    goal: &'static str,
    measured: String,
    verdict: Verdict,
}

fn scenario<'a>(report: &'a Report, name: &str) -> Option<&'a Scenario> {
    report.scenarios.iter().find(|s| s.name == name)
}

fn targets(report: &Report) -> Vec<Target> {
    let mut targets = Vec::new();
    let noop = scenario(report, "noop_plan");
    let change = scenario(report, "change_plan");
    let missing = || {
        (
            "not measured (an earlier scenario failed)".to_string(),
            Verdict::Miss,
        )
    };

    let (measured, verdict) = match noop {
        Some(noop) => {
            let text = format!("{:.2} s, {} requests", noop.wall_s, noop.requests);
            if report.tags == 10_000 && report.latency_ms == 20 {
                (text, Verdict::of(noop.wall_s < 2.0 && noop.requests < 100))
            } else {
                (
                    format!(
                        "{text} (at {} tags, {} ms; the target is for --tags 10000 --latency-ms 20)",
                        report.tags, report.latency_ms
                    ),
                    Verdict::NotApplicable,
                )
            }
        }
        None => missing(),
    };
    targets.push(Target {
        name: "noop_plan_10k",
        goal: "no-op plan of 10,000 tags + the other resources at 20 ms: < 2 s and < 100 requests",
        measured,
        verdict,
    });

    let (measured, verdict) = match (noop, change) {
        (Some(noop), Some(change)) => {
            let ratio = change.wall_s / noop.wall_s.max(f64::EPSILON);
            (
                format!(
                    "{:.2} s vs {:.2} s = {ratio:.2}x; requests {} vs {}",
                    change.wall_s, noop.wall_s, change.requests, noop.requests
                ),
                Verdict::of(ratio <= 1.5),
            )
        }
        _ => missing(),
    };
    targets.push(Target {
        name: "change_plan_vs_noop",
        goal: "1 % change plan within 1.5x the no-op plan (wall time)",
        measured,
        verdict,
    });

    let (measured, verdict) = match (noop, change) {
        (Some(noop), Some(change)) => {
            let wall = noop.wall_s.max(change.wall_s);
            let rss = noop
                .peak_rss_mb
                .unwrap_or(f64::NAN)
                .max(change.peak_rss_mb.unwrap_or(f64::NAN));
            let text = format!(
                "slowest plan {wall:.2} s, peak RSS {}",
                if rss.is_nan() {
                    "unknown".to_string()
                } else {
                    format!("{rss:.0} MB")
                }
            );
            if report.tags >= 100_000 {
                (text, Verdict::of(wall < 10.0 && rss < 500.0))
            } else {
                (
                    format!(
                        "{text} (at {} tags; the target is for --tags 100000)",
                        report.tags
                    ),
                    Verdict::NotApplicable,
                )
            }
        }
        _ => missing(),
    };
    targets.push(Target {
        name: "plan_100k",
        goal: "100,000 tags planned (no-op and 1 % change plans) in < 10 s with peak RSS < 500 MB",
        measured,
        verdict,
    });

    let (measured, verdict) = match scenario(report, "import") {
        Some(import) => {
            let text = format!("{:.2} s, {} requests", import.wall_s, import.requests);
            if report.tags == 10_000 && report.latency_ms == 20 {
                (
                    text,
                    Verdict::of(
                        import.wall_s < 30.0
                            && !report
                                .notes
                                .iter()
                                .any(|n| n.contains("after `lode import`")),
                    ),
                )
            } else {
                (
                    format!(
                        "{text} (at {} tags, {} ms; the target is for --tags 10000 --latency-ms 20)",
                        report.tags, report.latency_ms
                    ),
                    Verdict::NotApplicable,
                )
            }
        }
        None => missing(),
    };
    targets.push(Target {
        name: "import_10k",
        goal: "`lode import` of the applied estate (10,000 tags + the other resources at 20 ms) into a fresh root: < 30 s, then a plan with no changes",
        measured,
        verdict,
    });

    let (measured, verdict) = match scenario(report, "manifests_at_revision") {
        Some(read) => (
            format!(
                "{:.1} ms ({HISTORY_REV} of {HISTORY_COMMITS} commits){}",
                read.wall_s * 1000.0,
                report
                    .revision_load_s
                    .map(|l| format!(
                        "; parsing and validating them took {:.0} ms more",
                        l * 1000.0
                    ))
                    .unwrap_or_default()
            ),
            Verdict::of(read.wall_s < 0.1),
        ),
        None => missing(),
    };
    targets.push(Target {
        name: "manifests_at_revision",
        goal: "reading the manifests at a revision of a repository with 1,000 commits: < 100 ms",
        measured,
        verdict,
    });
    targets
}

/// The machine the figures come from.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_gb = meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0)
    });
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "lode_version": env!("CARGO_PKG_VERSION"),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

fn transport_name(transport: BenchTransport) -> &'static str {
    match transport {
        BenchTransport::Api => "api",
        BenchTransport::Files => "files",
    }
}

fn print_report(report: &Report, format: TextOrJson) {
    let targets = targets(report);
    match format {
        TextOrJson::Json => println!("{}", render_json(report, &targets)),
        TextOrJson::Text => print!("{}", render_text(report, &targets)),
    }
}

fn render_json(report: &Report, targets: &[Target]) -> String {
    let scenarios: Vec<Value> = report
        .scenarios
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "wall_s": round(s.wall_s, 3),
                "requests": s.requests,
                "peak_rss_mb": s.peak_rss_mb.map(|m| round(m, 1)),
                "baseline_requests": s.baseline_requests,
                "baseline_wall_s": round(s.baseline_wall_s, 3),
            })
        })
        .collect();
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
    let routes: serde_json::Map<String, Value> = report
        .scenarios
        .iter()
        .filter(|s| !s.routes.is_empty())
        .map(|s| {
            let routes: serde_json::Map<String, Value> = s
                .routes
                .iter()
                .map(|(route, stat)| {
                    (
                        route.clone(),
                        json!({"requests": stat.requests, "server_s": round(stat.server_s, 3)}),
                    )
                })
                .collect();
            (s.name.to_string(), Value::Object(routes))
        })
        .collect();
    let estate = &report.estate;
    let mut out = json!({
        "scenarios": scenarios,
        "targets": targets,
        "machine": machine(),
        "estate": {
            "tags": report.tags,
            "udts": UDTS,
            "udt_instances": estate.instances,
            "atomic_tags": estate.atomics,
            "perspective_views": VIEWS,
            "gateway_scripts": SCRIPTS,
            "tables": TABLES,
            "pipelines": PIPELINES,
            "genie_spaces": GENIE_SPACES,
            "resources": estate.resources(),
            "changed_resources": estate.changes(),
            "latency_ms": report.latency_ms,
            "ignition_transport": transport_name(report.transport),
            "databricks_rate_limit": report.rate_limit.as_deref().unwrap_or("default (15 per second)"),
        },
        "routes": routes,
    });
    if !report.notes.is_empty() {
        out["notes"] = json!(report.notes);
    }
    if let Some(error) = &report.error {
        out["error"] = json!(error);
    }
    serde_json::to_string_pretty(&out).expect("the report serialises")
}

fn render_text(report: &Report, targets: &[Target]) -> String {
    let estate = &report.estate;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lode-bench: {} tags ({} instances of {UDTS} UDTs x {MEMBERS} members, {} atomic tags), {VIEWS} views, {SCRIPTS} gateway scripts, {TABLES} tables, {PIPELINES} pipelines, {GENIE_SPACES} Genie spaces",
        report.tags, estate.instances, estate.atomics
    );
    let _ = writeln!(
        out,
        "{} resources, {} changed in revision 2 ({}); {} ms per request; gateway over the {} transport; Databricks client rate limit: {}\n",
        estate.resources(),
        estate.changes(),
        estate
            .changed
            .iter()
            .map(|(part, set)| format!("{} {}", set.len(), part.label()))
            .collect::<Vec<_>>()
            .join(", "),
        report.latency_ms,
        transport_name(report.transport),
        report
            .rate_limit
            .as_deref()
            .unwrap_or("default (15 per second)"),
    );
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>9} {:>12} {:>18} {:>16}",
        "scenario", "wall_s", "requests", "peak_rss_mb", "baseline_requests", "baseline_wall_s"
    );
    for s in &report.scenarios {
        let _ = writeln!(
            out,
            "{:<22} {:>9.3} {:>9} {:>12} {:>18} {:>16.2}",
            s.name,
            s.wall_s,
            s.requests,
            s.peak_rss_mb
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "?".into()),
            s.baseline_requests,
            s.baseline_wall_s
        );
    }
    let _ = writeln!(out, "\ntargets (issue #7)");
    for t in targets {
        let _ = writeln!(
            out,
            "  {:<4}  {}\n        measured: {}",
            t.verdict.label(),
            t.goal,
            t.measured
        );
    }
    let _ = writeln!(
        out,
        "\nrequests by route (Databricks + gateway = total; server_s: time the emulator spent answering, injected latency included, summed over concurrent requests)"
    );
    for s in report.scenarios.iter().filter(|s| s.requests > 0) {
        let _ = writeln!(
            out,
            "  {}: {} + {} = {}",
            s.name, s.per_system.0, s.per_system.1, s.requests
        );
        let mut routes: Vec<(&String, &RouteStat)> = s.routes.iter().collect();
        routes.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
        for (route, stat) in routes.iter().take(10) {
            let _ = writeln!(
                out,
                "    {:>7}  {:>8.2} s  {route}",
                stat.requests, stat.server_s
            );
        }
        if routes.len() > 10 {
            let rest: u64 = routes[10..].iter().map(|(_, stat)| stat.requests).sum();
            let rest_s: f64 = routes[10..].iter().map(|(_, stat)| stat.server_s).sum();
            let _ = writeln!(
                out,
                "    {rest:>7}  {rest_s:>8.2} s  ({} other routes)",
                routes.len() - 10
            );
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    let machine = machine();
    let _ = writeln!(
        out,
        "\nmachine: {} x {}, {} GB RAM, {} {} ({} build)",
        machine["nproc"],
        machine["cpu"].as_str().unwrap_or("?"),
        machine["ram_gb"],
        machine["os"].as_str().unwrap_or("?"),
        machine["arch"].as_str().unwrap_or("?"),
        machine["profile"].as_str().unwrap_or("?"),
    );
    if let Some(error) = &report.error {
        let _ = writeln!(out, "\nstopped: {error}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_counted_as_the_gateway_counts_them() {
        for tags in [10, 200, 10_000, 100_000, 12_345] {
            let estate = Estate::new(tags);
            assert_eq!(estate.instances * MEMBERS + estate.atomics, tags);
            assert!(estate.atomics >= tags / 20);
        }
    }

    #[test]
    fn one_percent_of_the_resources_change_spread_over_every_kind() {
        let mut estate = Estate::new(10_000);
        estate.choose_changes();
        let goal = estate.resources().div_ceil(100);
        assert!(estate.changes() >= goal, "{} < {goal}", estate.changes());
        assert!(estate.changes() <= goal + Part::ALL.len());
        for part in Part::ALL {
            let picked = &estate.changed[&part];
            assert!(!picked.is_empty());
            assert!(picked.iter().all(|i| *i < estate.count(part)));
        }
    }

    #[test]
    fn routes_group_ids_and_names() {
        assert_eq!(
            route_of("/api/2.0/pipelines/0b5e7c1e-1111-2222-3333-444455556666/updates"),
            "/api/2.0/pipelines/{id}/updates"
        );
        assert_eq!(
            route_of("/api/2.1/unity-catalog/tables/main.bench.bench_t_001"),
            "/api/2.1/unity-catalog/tables/{id}"
        );
        assert_eq!(
            route_of("/api/2.0/genie/spaces/0123456789abcdef0123456789abcdef"),
            "/api/2.0/genie/spaces/{id}"
        );
        assert_eq!(
            route_of("/data/api/v1/projects/export/bench"),
            "/data/api/v1/projects/export/{id}"
        );
        assert_eq!(
            route_of("/data/api/v1/projects/bench"),
            "/data/api/v1/projects/{id}"
        );
        assert_eq!(
            route_of("/data/api/v1/projects/list"),
            "/data/api/v1/projects/list"
        );
        assert_eq!(
            route_of("/api/2.0/sql/statements"),
            "/api/2.0/sql/statements"
        );
        assert_eq!(
            route_of("/data/api/v1/tags/export"),
            "/data/api/v1/tags/export"
        );
    }

    #[test]
    fn the_baseline_is_rounds_of_ten_requests() {
        assert_eq!(baseline_wall_s(0, 20), 0.0);
        assert_eq!(baseline_wall_s(1, 20), 0.02);
        assert_eq!(baseline_wall_s(2_431, 20), 4.88);
    }
}
