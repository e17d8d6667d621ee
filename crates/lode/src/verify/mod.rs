//! Verification: running the `kind: check` manifests against an environment's live systems and
//! saying, for each, what was measured, what was expected, how long it took and whether it
//! passed. It reads only: SQL statements, pipeline and Genie calls, an HTTP GET, tag files or
//! tag exports. The CLI (`lode verify`) and `apply --verify` both call [`run_checks`].
//!
//! Using it from a workflow that has a `Session` and its state:
//!
//! ```ignore
//! let checks = &session.loaded.desired.checks;
//! let live = session.refresh(&state, verify::referenced_addresses(checks))?;
//! let context = VerifyContext::new(&session.loaded.environment, &session.root,
//!                                  &session.providers, live);
//! let results = verify::run_checks(checks, &context, &VerifyOptions::default());
//! if !verify::all_passed(&results) { /* roll back, exit 1 */ }
//! ```
//!
//! `app::verify::verify_session` wraps exactly that; `cli/verify.rs` renders the results.

mod databricks;
mod expect;
mod http;
mod latency;
mod probe;
mod tags;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::engine::refs;
use crate::manifest::environment::IgnitionTransport;
use crate::manifest::kinds::{CheckSeverity, CheckSpec, CheckType};
use crate::manifest::{Address, Check, EnvironmentConfig};
use crate::provider::databricks::client::DatabricksClient;
use crate::provider::ignition::client::GatewayClient;
use crate::provider::{LiveObject, Providers};

pub use expect::describe as expected_text;
pub use tags::{TagTree, count_atomic_tags, count_instances};

/// How long one check may take when its manifest does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CheckStatus {
    /// Measured, and the measurement meets the expectation.
    Pass,
    /// Measured (or the system did not answer), and it does not meet the expectation.
    Fail,
    /// Could not be measured: an API error, an unresolvable reference, no such provider.
    Error,
    /// Not run, by design: a `probe` check where the environment allows no probe.
    Skip,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Error => "ERROR",
            CheckStatus::Skip => "SKIP",
        }
    }
}

/// One check's result: the JSON object `lode verify --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    #[serde(rename = "type")]
    pub check_type: CheckType,
    pub status: CheckStatus,
    /// `error` (a failure fails verification) or `warning` (reported only).
    pub severity: CheckSeverity,
    /// What was measured: a number (counts, ages in minutes), a text (states), or null.
    pub value: Value,
    /// The expectation in words, e.g. `= 105`, `IDLE|RUNNING`, `<= 30 min old`.
    pub expected: String,
    pub duration_ms: u64,
    /// Why it failed or errored, or a detail of the measurement.
    pub message: Option<String>,
    /// The figures of a check that measures several (`latency`: p50 and p95 per stage, in
    /// seconds, and how many samples each stands on); absent for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figures: Option<Value>,
}

impl CheckResult {
    /// Whether this result fails verification (a failing or erroring check of severity
    /// `error`; a skipped check measured nothing and fails nothing).
    pub fn is_blocking(&self) -> bool {
        matches!(self.status, CheckStatus::Fail | CheckStatus::Error)
            && self.severity == CheckSeverity::Error
    }
}

/// Whether verification passed: no check of severity `error` failed or errored.
pub fn all_passed(results: &[CheckResult]) -> bool {
    !results.iter().any(CheckResult::is_blocking)
}

/// How checks run.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Checks measured at once (default 8; at least 1).
    pub parallelism: usize,
    /// Verifying a change that just ended at this instant (milliseconds since the epoch): each
    /// failing check with `settle_seconds` is measured again until it passes or its time is
    /// up, and flow checks want data that arrived after the change.
    pub after_change_ms: Option<i64>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            parallelism: 8,
            after_change_ms: None,
        }
    }
}

impl VerifyOptions {
    /// The options for verifying a change that ends now (an apply, a rollback, a restore).
    pub fn after_change() -> VerifyOptions {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        VerifyOptions {
            after_change_ms: Some(now_ms),
            ..VerifyOptions::default()
        }
    }
}

/// Where an environment's tags are read from.
#[derive(Clone)]
pub enum TagSource {
    /// A gateway data directory (`files` transport): `config/resources/<collection>/...`.
    Files {
        data_dir: PathBuf,
        collection: String,
    },
    /// The gateway's tag export (`api` transport).
    Api(Arc<GatewayClient>),
}

/// The live systems checks measure, and the live objects `${ref...}` resolve from.
pub struct VerifyContext {
    pub databricks: Option<Arc<DatabricksClient>>,
    /// The configured SQL warehouse; otherwise the first the workspace lists.
    pub warehouse_id: Option<String>,
    pub tags: Option<TagSource>,
    /// Live objects by address, for `${ref.kind.name.field}`.
    pub live: BTreeMap<Address, LiveObject>,
    /// Why `live` could not be read, if it could not; checks with references then error.
    pub live_error: Option<String>,
    /// When the change being verified ended (milliseconds since the epoch), if a change is
    /// being verified: flow checks then want data that arrived after it.
    pub since_ms: Option<i64>,
    /// The active probe the environment allows (`None`: none, and `probe` checks are skipped;
    /// `Err`: one that cannot run here, and why).
    pub probe: Option<Result<probe::ProbeAccess, String>>,
    warehouse: OnceLock<String>,
    tag_trees: Mutex<BTreeMap<String, Arc<TagTree>>>,
}

impl VerifyContext {
    /// The context for an environment: its Databricks client, its tag source, and the live
    /// objects read for the checks' references (see [`referenced_addresses`]).
    pub fn new(
        environment: &EnvironmentConfig,
        root: &Path,
        providers: &Providers,
        live: BTreeMap<Address, LiveObject>,
    ) -> VerifyContext {
        let tags = environment
            .ignition
            .as_ref()
            .and_then(|ignition| match ignition.transport {
                IgnitionTransport::Files => {
                    ignition.data_dir.as_ref().map(|dir| TagSource::Files {
                        data_dir: root.join(dir),
                        collection: ignition.collection.clone(),
                    })
                }
                IgnitionTransport::Api => providers.ignition_gateway().map(TagSource::Api),
            });
        let probe =
            probe::ProbeAccess::of(environment.probe.as_ref(), providers.ignition_gateway());
        VerifyContext {
            probe,
            databricks: providers.databricks_client(),
            warehouse_id: providers.databricks_warehouse_id(),
            tags,
            live,
            live_error: None,
            since_ms: None,
            warehouse: OnceLock::new(),
            tag_trees: Mutex::new(BTreeMap::new()),
        }
    }

    fn databricks(&self) -> Result<&DatabricksClient, Measured> {
        self.databricks.as_deref().ok_or_else(|| {
            Measured::error("this environment has no Databricks workspace (`databricks:` section)")
        })
    }

    /// The warehouse statements run on: configured, or the first the workspace lists.
    fn warehouse(&self) -> Result<String, Measured> {
        if let Some(id) = self.warehouse.get() {
            return Ok(id.clone());
        }
        let id = match &self.warehouse_id {
            Some(id) => id.clone(),
            None => {
                let warehouses: Vec<Value> = self
                    .databricks()?
                    .list_all("/api/2.0/sql/warehouses", &[], "warehouses")
                    .map_err(|e| Measured::error(format!("listing SQL warehouses: {e}")))?;
                warehouses
                    .iter()
                    .find_map(|w| w.get("id").and_then(Value::as_str).map(str::to_string))
                    .ok_or_else(|| {
                        Measured::error(
                            "the workspace has no SQL warehouse; set `databricks.warehouse_id`",
                        )
                    })?
            }
        };
        let _ = self.warehouse.set(id.clone());
        Ok(id)
    }

    /// One provider's tags and UDT definitions, read once per run.
    fn tag_tree(&self, provider: &str) -> Result<Arc<TagTree>, Measured> {
        let source = self.tags.as_ref().ok_or_else(|| {
            Measured::error("this environment has no Ignition gateway (`ignition:` section)")
        })?;
        let mut trees = self.tag_trees.lock().expect("tag cache lock");
        if let Some(tree) = trees.get(provider) {
            return Ok(tree.clone());
        }
        let tree = Arc::new(tags::read_tree(source, provider).map_err(Measured::error)?);
        trees.insert(provider.to_string(), tree.clone());
        Ok(tree)
    }
}

/// What measuring one check found.
struct Measured {
    status: CheckStatus,
    value: Value,
    message: Option<String>,
    /// Boxed: most checks have none, and every `Result<_, Measured>` carries the room.
    figures: Option<Box<Value>>,
}

impl Measured {
    fn error(message: impl Into<String>) -> Measured {
        Measured {
            status: CheckStatus::Error,
            value: Value::Null,
            message: Some(message.into()),
            figures: None,
        }
    }

    fn skip(message: impl Into<String>) -> Measured {
        Measured {
            status: CheckStatus::Skip,
            value: Value::Null,
            message: Some(message.into()),
            figures: None,
        }
    }

    /// The message, for a caller that reports it inside its own.
    fn message_text(&self) -> String {
        self.message.clone().unwrap_or_default()
    }

    fn fail(value: Value, message: impl Into<String>) -> Measured {
        Measured {
            status: CheckStatus::Fail,
            value,
            message: Some(message.into()),
            figures: None,
        }
    }

    fn with_figures(self, figures: Value) -> Measured {
        Measured {
            figures: Some(Box::new(figures)),
            ..self
        }
    }

    /// Pass or fail by `ok`, with an optional detail.
    fn judged(ok: bool, value: Value, message: Option<String>) -> Measured {
        Measured {
            status: if ok {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            value,
            message,
            figures: None,
        }
    }
}

/// The resources the checks' `${ref...}` placeholders name: what to read before running them.
pub fn referenced_addresses(checks: &[Check]) -> Vec<Address> {
    let mut addresses: Vec<Address> = checks
        .iter()
        .flat_map(|c| c.references.iter().cloned())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// Runs `checks` (up to `options.parallelism` at once, on std threads) and returns one result
/// per check, in the order given. Never fails as a whole: a check that cannot be measured is an
/// `ERROR` result.
pub fn run_checks(
    checks: &[Check],
    context: &VerifyContext,
    options: &VerifyOptions,
) -> Vec<CheckResult> {
    let workers = options.parallelism.max(1).min(checks.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<CheckResult>>> =
        checks.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(check) = checks.get(index) else {
                        break;
                    };
                    let result = run_check(check, context);
                    *results[index].lock().expect("result slot") = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("result slot")
                .expect("every check ran")
        })
        .collect()
}

/// Measures one check.
pub fn run_check(check: &Check, context: &VerifyContext) -> CheckResult {
    let started = Instant::now();
    let expected = expect::describe(&check.spec);
    let measured = match resolve_references(check, context) {
        Ok(spec) => {
            // A panic in one measurement must not take the others down with it.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| measure(&spec, context)))
                .unwrap_or_else(|_| Measured::error("internal error while measuring"))
        }
        Err(measured) => measured,
    };
    CheckResult {
        name: check.name.clone(),
        check_type: check.spec.check_type,
        status: measured.status,
        severity: check.spec.severity,
        value: measured.value,
        expected,
        duration_ms: started.elapsed().as_millis() as u64,
        message: measured.message,
        figures: measured.figures.map(|figures| *figures),
    }
}

/// The spec with every `${ref...}` replaced by the live value.
fn resolve_references(check: &Check, context: &VerifyContext) -> Result<CheckSpec, Measured> {
    if check.references.is_empty() {
        return Ok(check.spec.clone());
    }
    let value = serde_json::to_value(&check.spec).expect("specs serialise");
    let lookup = |address: &Address, field: &str| {
        context
            .live
            .get(address)
            .and_then(|object| object.field(field))
    };
    let (resolved, missing) = refs::resolve(&value, &lookup);
    if let Some(first) = missing.first() {
        let why = if let Some(error) = &context.live_error {
            format!("reading it failed: {error}")
        } else if !context.live.contains_key(&first.address) {
            format!(
                "{} does not exist in this environment (run `lode apply`)",
                first.address
            )
        } else {
            format!("{} has no field `{}`", first.address, first.field)
        };
        return Err(Measured::error(format!(
            "cannot resolve ${{ref.{}.{}.{}}}: {why}",
            first.address.kind, first.address.name, first.field
        )));
    }
    serde_json::from_value(resolved)
        .map_err(|e| Measured::error(format!("the resolved spec is invalid: {e}")))
}

fn timeout_of(spec: &CheckSpec) -> Duration {
    spec.timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

fn measure(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    match spec.check_type {
        CheckType::Sql => databricks::sql(spec, context),
        CheckType::RowCount => databricks::row_count(spec, context),
        CheckType::Freshness => databricks::freshness(spec, context),
        CheckType::PipelineState => databricks::pipeline_state(spec, context),
        CheckType::Genie => databricks::genie(spec, context),
        CheckType::TagCount => tags::measure(spec, context),
        CheckType::Http => http::measure(spec),
        CheckType::Latency => latency::measure(spec, context),
        CheckType::Probe => probe::measure(spec, context),
    }
}

/// A count or other number as JSON: integral values as integers.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// A measured value for people: `-` for nothing, numbers without a needless `.0`.
pub fn format_value(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(text) => text.clone(),
        Value::Number(n) => n
            .as_f64()
            .map(expect::format_number)
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// Judges a measured value against the spec's `expect`.
fn judge(spec: &CheckSpec, value: Value, detail: Option<String>) -> Measured {
    match spec.expect.as_ref() {
        Some(expectation) => match expect::holds(expectation, &value) {
            Ok(ok) => Measured::judged(ok, value, detail),
            Err(why) => Measured::fail(value, why),
        },
        None => Measured::error("the check has no `expect`"),
    }
}
