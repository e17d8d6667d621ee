//! The typed spec of every resource kind: what a manifest may say (serde, strict: unknown fields
//! are errors), the JSON Schema editors get from it, and how a validated spec becomes the
//! canonical JSON the engine diffs. Lode's own fields are snake_case; blocks that are copied into
//! an Ignition JSON document (tag configuration, view, page config, session props) keep
//! Ignition's own key names so that an export pastes in unchanged.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every kind of resource `lode` manages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Schema,
    Table,
    Pipeline,
    GenieSpace,
    QualityMonitor,
    WorkspaceFile,
    Project,
    Udt,
    Tag,
    GatewayScript,
    PerspectiveView,
    PageConfig,
    SessionProps,
    SessionEvent,
    ZerobusConnection,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Schema,
        Kind::Table,
        Kind::Pipeline,
        Kind::GenieSpace,
        Kind::QualityMonitor,
        Kind::WorkspaceFile,
        Kind::Project,
        Kind::Udt,
        Kind::Tag,
        Kind::GatewayScript,
        Kind::PerspectiveView,
        Kind::PageConfig,
        Kind::SessionProps,
        Kind::SessionEvent,
        Kind::ZerobusConnection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::Table => "table",
            Kind::Pipeline => "pipeline",
            Kind::GenieSpace => "genie_space",
            Kind::QualityMonitor => "quality_monitor",
            Kind::WorkspaceFile => "workspace_file",
            Kind::Project => "project",
            Kind::Udt => "udt",
            Kind::Tag => "tag",
            Kind::GatewayScript => "gateway_script",
            Kind::PerspectiveView => "perspective_view",
            Kind::PageConfig => "page_config",
            Kind::SessionProps => "session_props",
            Kind::SessionEvent => "session_event",
            Kind::ZerobusConnection => "zerobus_connection",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The system that owns this kind; `--target ignition` selects all of them.
    pub fn system(self) -> &'static str {
        match self {
            Kind::Schema
            | Kind::Table
            | Kind::Pipeline
            | Kind::GenieSpace
            | Kind::QualityMonitor
            | Kind::WorkspaceFile => "databricks",
            _ => "ignition",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_true() -> bool {
    true
}

fn default_provider() -> String {
    "default".to_string()
}

fn is_true(value: &bool) -> bool {
    *value
}

/// An Ignition project (`data/projects/<name>/project.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub inheritable: bool,
    /// Parent project name; empty for none.
    #[serde(default)]
    pub parent: String,
}

/// A UDT definition (`tag-type-definition/<provider>/udts.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdtSpec {
    #[serde(default = "default_provider")]
    pub provider: String,
    /// The UDT this one inherits from (Ignition's `typeId` on a type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, UdtParameter>,
    /// Member tags, in Ignition's tag JSON form.
    #[serde(default)]
    pub tags: Vec<TagConfig>,
}

/// A UDT parameter definition or an instance's parameter override.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdtParameter {
    #[serde(rename = "dataType", default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// Ignition tag types `lode` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TagType {
    AtomicTag,
    Folder,
    UdtInstance,
}

/// Value sources of an atomic tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueSource {
    Memory,
    Expr,
    Opc,
    Reference,
    Derived,
    Db,
}

/// Ignition data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DataType {
    Int1,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Boolean,
    String,
    DateTime,
    Text,
    Document,
    DataSet,
}

/// One tag's configuration with Ignition's own keys (as in a tag export). Used for UDT members,
/// UDT instance member overrides, and (with `provider`, without `name`) for a `tag` resource.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    /// Only on a `tag` resource: the tag provider (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Only on UDT members and overrides; a `tag` resource takes its name from its path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "tagType", default, skip_serializing_if = "Option::is_none")]
    pub tag_type: Option<TagType>,
    /// For a UDT instance: the UDT's path relative to `_types_`.
    #[serde(rename = "typeId", default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<String>,
    #[serde(
        rename = "valueSource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub value_source: Option<ValueSource>,
    #[serde(rename = "dataType", default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(rename = "opcServer", default, skip_serializing_if = "Option::is_none")]
    pub opc_server: Option<String>,
    #[serde(
        rename = "opcItemPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub opc_item_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(
        rename = "sourceTagPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_tag_path: Option<String>,
    #[serde(rename = "engUnit", default, skip_serializing_if = "Option::is_none")]
    pub eng_unit: Option<String>,
    #[serde(rename = "engLow", default, skip_serializing_if = "Option::is_none")]
    pub eng_low: Option<f64>,
    #[serde(rename = "engHigh", default, skip_serializing_if = "Option::is_none")]
    pub eng_high: Option<f64>,
    #[serde(
        rename = "formatString",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub format_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(rename = "readOnly", default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(rename = "tagGroup", default, skip_serializing_if = "Option::is_none")]
    pub tag_group: Option<String>,
    #[serde(
        rename = "historyEnabled",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub history_enabled: Option<bool>,
    #[serde(
        rename = "historyProvider",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub history_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, UdtParameter>,
    /// Members of a UDT folder, or member overrides of a UDT instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagConfig>,
}

/// Alarm modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AlarmMode {
    AboveValue,
    BelowValue,
    BetweenValues,
    OutsideValues,
    Equality,
    Inequality,
    OutOfEngRange,
    BadQuality,
    AnyChange,
    Bit,
}

/// Alarm priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AlarmPriority {
    Diagnostic,
    Low,
    Medium,
    High,
    Critical,
}

/// An alarm on a tag, with Ignition's keys (`setpointA`, not `setpoint`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AlarmMode>,
    #[serde(rename = "setpointA", default, skip_serializing_if = "Option::is_none")]
    pub setpoint_a: Option<f64>,
    #[serde(rename = "setpointB", default, skip_serializing_if = "Option::is_none")]
    pub setpoint_b: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<AlarmPriority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(rename = "ackMode", default, skip_serializing_if = "Option::is_none")]
    pub ack_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(
        rename = "timeOnDelaySeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_on_delay_seconds: Option<f64>,
    #[serde(
        rename = "timeOffDelaySeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_off_delay_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadband: Option<f64>,
}

/// Gateway event script types (8.3 file form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GatewayScriptType {
    Timer,
    TagChange,
    Startup,
    Shutdown,
}

/// Timer delay type: Ignition's "Fixed Delay" (after each run) or "Fixed Rate".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DelayType {
    FixedDelay,
    FixedRate,
}

/// Timer threading: all shared timers of a project share one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Threading {
    Shared,
    Dedicated,
}

/// A gateway event script (`projects/<project>/ignition/<type>/<resource_name>/`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayScriptSpec {
    pub project: String,
    /// The resource folder name in the gateway; defaults to the resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(rename = "type")]
    pub script_type: GatewayScriptType,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Timer only: the delay in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Timer only: `fixed_delay` (default) or `fixed_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_type: Option<DelayType>,
    /// Timer only: `shared` (default) or `dedicated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threading: Option<Threading>,
    /// Tag change only: the tag paths that trigger the script.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_paths: Vec<String>,
    /// Tag change only: `ValueChange`, `QualityChange`, `TimestampChange`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub change_types: Vec<String>,
    /// Path (relative to this manifest file) of the script body, written without its `def` line.
    pub script: String,
}

/// A Perspective view (`com.inductiveautomation.perspective/views/<path>/view.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerspectiveViewSpec {
    pub project: String,
    /// The view path; defaults to the resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_path: Option<String>,
    /// Path (relative to this manifest file) of the view.json payload.
    pub view: String,
}

/// A project's page configuration (`page-config/config.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageConfigSpec {
    pub project: String,
    /// The config.json content, with Ignition's keys (`pages`, `sharedDocks`).
    pub config: PageConfigDocument,
}

/// The page-config document: `pages` and `sharedDocks`, as Ignition 8.3 writes it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageConfigDocument {
    pub pages: BTreeMap<String, PageRoute>,
    #[serde(
        rename = "sharedDocks",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_docks: Option<Value>,
}

/// One page route.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageRoute {
    #[serde(rename = "viewPath")]
    pub view_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docks: Option<Value>,
}

/// A project's session properties (`session-props/props.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionPropsSpec {
    pub project: String,
    /// The props.json content, with Ignition's keys (`custom`, `props`, `propConfig`).
    pub props: serde_json::Map<String, Value>,
}

/// Perspective session events (8.3 file form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionEventType {
    Startup,
    Shutdown,
    PageStartup,
}

/// A Perspective session event script (`com.inductiveautomation.perspective/<event>/`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionEventSpec {
    pub project: String,
    pub event: SessionEventType,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Path (relative to this manifest file) of the script body, written without its `def` line.
    pub script: String,
}

impl GatewayScriptType {
    /// The 8.3 resource folder, payload file and function signature.
    pub fn layout(self) -> (&'static str, &'static str, &'static str) {
        match self {
            GatewayScriptType::Timer => (
                "ignition/timer",
                "handleTimerEvent.py",
                "def handleTimerEvent():",
            ),
            GatewayScriptType::TagChange => (
                "ignition/tag-change",
                "onTagChange.py",
                "def onTagChange(initialChange, newValue, previousValue, event, executionCount):",
            ),
            GatewayScriptType::Startup => ("ignition/startup", "onStartup.py", "def onStartup():"),
            GatewayScriptType::Shutdown => {
                ("ignition/shutdown", "onShutdown.py", "def onShutdown():")
            }
        }
    }

    /// Startup and shutdown scripts are singletons: one per project, no name folder.
    pub fn is_singleton(self) -> bool {
        matches!(
            self,
            GatewayScriptType::Startup | GatewayScriptType::Shutdown
        )
    }
}

impl SessionEventType {
    /// The 8.3 resource folder, payload file and function signature.
    pub fn layout(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SessionEventType::Startup => (
                "com.inductiveautomation.perspective/startup",
                "onStartup.py",
                "def onStartup(session):",
            ),
            SessionEventType::Shutdown => (
                "com.inductiveautomation.perspective/shutdown",
                "onShutdown.py",
                "def onShutdown(session):",
            ),
            SessionEventType::PageStartup => (
                "com.inductiveautomation.perspective/page-startup",
                "onPageStartup.py",
                "def onPageStartup(page):",
            ),
        }
    }
}

/// A Unity Catalog schema.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaSpec {
    pub catalog: String,
    /// The schema's name; defaults to the resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// A managed Delta table, optionally seeded with rows from a CSV file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub catalog: String,
    pub schema: String,
    /// The table's name; defaults to the resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub columns: Vec<ColumnSpec>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Key columns: seed rows are reconciled by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// Path (relative to this manifest file) of a CSV file with a header row: the table's rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// One table column.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    /// A Databricks SQL type: string, int, bigint, double, boolean, date, timestamp, decimal(p,s)...
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default = "default_true")]
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A Lakeflow declarative pipeline, in the Pipelines API's own field names.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The pipeline's display name; defaults to the resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub catalog: String,
    pub schema: String,
    pub libraries: Vec<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configuration: BTreeMap<String, String>,
    #[serde(default)]
    pub continuous: bool,
    #[serde(default)]
    pub development: bool,
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default = "default_edition")]
    pub edition: String,
    #[serde(default)]
    pub photon: bool,
    #[serde(default)]
    pub serverless: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Checkpoint storage; changing it replaces the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_path: Option<String>,
}

fn default_channel() -> String {
    "CURRENT".to_string()
}

fn default_edition() -> String {
    "ADVANCED".to_string()
}

/// A Genie space; lode builds its `serialized_space` (version 2).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenieSpaceSpec {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The SQL warehouse; defaults to the environment's warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<String>,
    /// The workspace folder the space lives in.
    pub parent_path: String,
    /// Full table names the space answers from.
    pub tables: Vec<String>,
    /// General instructions for Genie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub example_sql: Vec<ExampleSql>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_questions: Vec<String>,
}

/// A question with the SQL that answers it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExampleSql {
    pub question: String,
    pub sql: String,
}

/// A data quality monitor on a table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityMonitorSpec {
    /// The monitored table's full name.
    pub table: String,
    /// `catalog.schema` for the metric tables.
    pub output_schema: String,
    /// Workspace folder for the dashboard; changing it replaces the monitor.
    pub assets_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_series: Option<TimeSeriesProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<MonitorSchedule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slicing_exprs: Vec<String>,
}

/// A time-series profile.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesProfile {
    pub timestamp_col: String,
    pub granularities: Vec<String>,
}

/// When a monitor refreshes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorSchedule {
    pub quartz_cron_expression: String,
    #[serde(default = "default_timezone")]
    pub timezone_id: String,
}

fn default_timezone() -> String {
    "UTC".to_string()
}

/// A file in the workspace (pipeline sources, the chat page).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFileSpec {
    /// The workspace path, e.g. `/Workspace/Shared/mining_demo/chat/index.html`.
    pub path: String,
    /// Path (relative to this manifest file) of the local file.
    pub source: String,
}

/// The Zerobus connector module's configuration (its `/system/zerobus/config` servlet), with the
/// module's own keys. Keys left out take the module's defaults when lode writes the config
/// (the servlet replaces the whole config) and are not compared.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZerobusConnectionSpec {
    pub enabled: bool,
    #[serde(rename = "workspaceUrl")]
    pub workspace_url: String,
    /// Host only: `<workspace-id>.zerobus.<region>.cloud.databricks.com`.
    #[serde(rename = "zerobusEndpoint")]
    pub zerobus_endpoint: String,
    #[serde(rename = "oauthClientId")]
    pub oauth_client_id: String,
    /// Write-only: the gateway shows it as `****`; lode detects changes by a keyed fingerprint.
    #[serde(rename = "oauthClientSecret")]
    pub oauth_client_secret: String,
    #[serde(
        rename = "oauthTokenEndpoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth_token_endpoint: Option<String>,
    /// `catalog.schema.table` (exactly three parts).
    #[serde(rename = "targetTable")]
    pub target_table: String,
    #[serde(
        rename = "sourceSystemId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_system_id: Option<String>,
    /// `explicit`, `folder` or `pattern`.
    #[serde(rename = "tagSelectionMode")]
    pub tag_selection_mode: String,
    #[serde(
        rename = "tagFolderPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tag_folder_path: Option<String>,
    #[serde(
        rename = "tagPathPattern",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tag_path_pattern: Option<String>,
    #[serde(
        rename = "explicitTagPaths",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub explicit_tag_paths: Vec<String>,
    #[serde(
        rename = "includeSubfolders",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub include_subfolders: Option<bool>,
    #[serde(rename = "batchSize", default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(
        rename = "batchFlushIntervalMs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub batch_flush_interval_ms: Option<u32>,
    #[serde(
        rename = "maxEventsPerSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_events_per_second: Option<u32>,
    #[serde(
        rename = "enableStoreAndForward",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_store_and_forward: Option<bool>,
    #[serde(
        rename = "includeQuality",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub include_quality: Option<bool>,
    #[serde(
        rename = "onlyOnChange",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub only_on_change: Option<bool>,
    #[serde(
        rename = "debugLogging",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_logging: Option<bool>,
}

/// What a `check` measures. Checks are not resources: `lode verify` runs them against the live
/// systems; plans and applies never see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckType {
    /// A SQL statement's first value (first row, first column) against `expect`.
    Sql,
    /// `SELECT count(*)` of `table` against `expect`.
    RowCount,
    /// Atomic tags under `path` (UDT instance members resolved from their definitions), or with
    /// `instances_of`, the number of instances of that UDT under `path`; against `expect`.
    TagCount,
    /// A pipeline's state is one of `expect_state`.
    PipelineState,
    /// The newest `column` value of `table` is at most `within_minutes` old.
    Freshness,
    /// `url` answers with `expect_status` (default 200).
    Http,
    /// The Genie space `space` answers `question` with status COMPLETED within `within_seconds`;
    /// optionally its query returns at least `min_rows` rows, none of them older than
    /// `within_minutes` by `column`, and its text mentions `answer_contains`.
    Genie,
    /// The data flow's delays over the last `window_minutes`, from the data's own timestamps:
    /// tag change → ingestion per event of the Zerobus bronze `table`, and bronze → gold per tag
    /// against `gold_table`; their p50 and p95 against `budgets`.
    Latency,
    /// An active probe, where the environment allows one (`probe:` in its file): writes a value
    /// to the environment's probe tag and times its arrival in the bronze `table`, in
    /// `gold_table` and in the Genie space's answer to `question`, against `budgets`.
    Probe,
}

impl CheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Sql => "sql",
            CheckType::RowCount => "row_count",
            CheckType::TagCount => "tag_count",
            CheckType::PipelineState => "pipeline_state",
            CheckType::Freshness => "freshness",
            CheckType::Http => "http",
            CheckType::Genie => "genie",
            CheckType::Latency => "latency",
            CheckType::Probe => "probe",
        }
    }
}

impl fmt::Display for CheckType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failing check fails `lode verify`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckSeverity {
    /// A failure makes `lode verify` exit 1 (the default).
    #[default]
    Error,
    /// A failure is reported but does not change the exit code.
    Warning,
}

/// What a measured number (or text) must be. Every bound given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckExpectation {
    /// Exactly this value: a number (compared as a number) or a text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// Inclusive bounds `[low, high]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
}

/// The most a flow check's figures may be, in seconds; at least one must be given. A `latency`
/// check takes the `tag_to_bronze_*`, `bronze_to_gold_*` and `newest_event_age_seconds` keys, a
/// `probe` check the `to_*_seconds` ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyBudgets {
    /// Median of the tag change → ingestion delay of the events in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_to_bronze_p50_seconds: Option<f64>,
    /// 95th percentile of the tag change → ingestion delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_to_bronze_p95_seconds: Option<f64>,
    /// Median, over the tags, of how long bronze data the gold table does not show yet has
    /// waited (needs `gold_table`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bronze_to_gold_p50_seconds: Option<f64>,
    /// 95th percentile of the bronze → gold wait (needs `gold_table`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bronze_to_gold_p95_seconds: Option<f64>,
    /// How long ago, on the warehouse's clock, the newest event arrived in bronze: data that
    /// stopped flowing fails this within seconds, while the window still holds older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_event_age_seconds: Option<f64>,
    /// `probe`: from the write to the value's arrival in bronze, as lode observes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_bronze_seconds: Option<f64>,
    /// `probe`: from the write until gold shows the value's event (needs `gold_table`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_gold_seconds: Option<f64>,
    /// `probe`: from the write until Genie's answer to `question` holds the value (needs
    /// `space` and `question`): the runbook's end to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_answer_seconds: Option<f64>,
}

impl LatencyBudgets {
    /// Each budget given, by its key.
    pub fn given(&self) -> Vec<(&'static str, f64)> {
        [
            ("tag_to_bronze_p50_seconds", self.tag_to_bronze_p50_seconds),
            ("tag_to_bronze_p95_seconds", self.tag_to_bronze_p95_seconds),
            (
                "bronze_to_gold_p50_seconds",
                self.bronze_to_gold_p50_seconds,
            ),
            (
                "bronze_to_gold_p95_seconds",
                self.bronze_to_gold_p95_seconds,
            ),
            ("newest_event_age_seconds", self.newest_event_age_seconds),
            ("to_bronze_seconds", self.to_bronze_seconds),
            ("to_gold_seconds", self.to_gold_seconds),
            ("to_answer_seconds", self.to_answer_seconds),
        ]
        .into_iter()
        .filter_map(|(key, budget)| budget.map(|b| (key, b)))
        .collect()
    }
}

/// A verification check (`kind: check`). One flat spec for every `type`, so that every field
/// keeps its line in error messages; which fields a type needs and allows is checked when the
/// manifests are loaded.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    #[serde(rename = "type")]
    pub check_type: CheckType,
    /// What the check proves, for people reading the manifest and the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub severity: CheckSeverity,
    /// Longest time the measurement may take (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// After an apply or a rollback, how long the check may take to pass: it is measured again
    /// until it passes or this time is up (default 0: once). Flow checks need it, since data
    /// takes seconds to travel after a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_seconds: Option<u64>,
    /// `sql`: the statement whose first value is measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// `row_count`, `freshness`: the table, `catalog.schema.table`; `latency`: the bronze table
    /// the Zerobus connector writes (`event_time`, `ingestion_timestamp`, `tag_path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// `freshness`: the timestamp column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `freshness`: the newest value may be at most this many minutes old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_minutes: Option<u64>,
    /// `tag_count`: the folder, e.g. `Mining/Equipment` (`[provider]` prefix allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `tag_count`: the tag provider (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `tag_count`: count the instances of this UDT instead of atomic tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances_of: Option<String>,
    /// `pipeline_state`: the pipeline's id (e.g. `${ref.pipeline.x.id}`) or display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// `pipeline_state`: the acceptable pipeline states, e.g. `[IDLE, RUNNING]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_state: Vec<String>,
    /// `pipeline_state`: the acceptable states of the latest update, e.g. `[COMPLETED]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_last_update: Vec<String>,
    /// `http`: the URL to GET (redirects are not followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `http`: the status the URL must answer with (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// `http`: request headers; `${env.NAME}` values are secrets and never printed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `genie`: the space id, e.g. `${ref.genie_space.mining_ops.id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// `genie`: the question to ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// `genie`: the answer's query must return at least this many rows (an empty gold table
    /// answers with none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rows: Option<u64>,
    /// `genie`: the answer's text must mention this value (compared ignoring case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_contains: Option<String>,
    /// `genie`: the answer must be COMPLETED within this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_seconds: Option<u64>,
    /// `sql`, `row_count`, `tag_count`: what the measured value must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<CheckExpectation>,
    /// `latency`: the gold table the pipeline computes from the bronze `table`, with one row
    /// per tag and window carrying `tag_path` and `last_event_time` (the newest event it holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_table: Option<String>,
    /// `latency`: the events ingested in the last this many minutes are measured (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u64>,
    /// `latency`: the most each figure may be, e.g. `{tag_to_bronze_p95_seconds: 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<LatencyBudgets>,
}
