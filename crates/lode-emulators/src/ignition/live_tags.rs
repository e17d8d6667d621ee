//! The gateway's run-time tag table: the current value, quality and timestamp of every tag the
//! loaded view defines. Atomic tags come straight from the tag files; every member of every UDT
//! instance comes from its definition (inherited members first), with `{Param}` parameters
//! substituted and the instance's overrides applied. A tag starts at its configured `value`,
//! coerced to its data type the way a gateway stores it (a `Float4` holds an `f32`), and moves
//! only through run-time writes: scripts (`system.tag.writeBlocking`) and the emulator's own
//! operator route (`/system/lode-emulator/tags/*`, served here). Run-time values live in memory
//! only, as memory tags whose provider persists values to its database do: the tag files never
//! change, so `lode plan` sees no drift.
//!
//! The table follows the loaded view: after a scan, a restart or a tag import it is rebuilt on
//! next use; new tags appear, removed ones go, and a tag that stays keeps its run-time value.
//! Every write that changes a value or a quality is published on the gateway's tag change feed
//! ([`super::tag_events`]).
//!
//! Paths are matched without regard to case, and `[default]` is assumed when a path names no
//! provider. Tags whose value source the emulator does not compute (OPC, database, an
//! expression other than a literal) read with quality `Bad`; writes to anything but a memory
//! tag (or a reference to one) are refused with `Bad_ReadOnly`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::scan::{LoadedView, TAG_DEFINITION, TAG_TYPE_DEFINITION};
use super::tag_events::{QUALITY_GOOD, TagChange};
use super::tags::provider_tree;
use super::{ApiError, ApiResult, Gateway, Shared, parse_body};

/// Ignition quality codes (`QualityCode`): the level is in the top two bits (00 good,
/// 01 uncertain, 10 bad, 11 error), the condition in the low bits.
pub mod quality {
    pub const GOOD: i32 = super::QUALITY_GOOD;
    /// A bad value without a more precise reason: here, a source the emulator does not compute.
    pub const BAD: i32 = -2_147_483_136;
    pub const BAD_NOT_FOUND: i32 = -2_147_483_129;
    pub const BAD_READ_ONLY: i32 = -2_147_483_122;
    pub const ERROR_TYPE_CONVERSION: i32 = -1_073_741_052;

    /// The name a gateway prints for a code (`str(qualityCode)`).
    pub fn name(code: i32) -> String {
        match code {
            GOOD => "Good".into(),
            BAD => "Bad".into(),
            BAD_NOT_FOUND => "Bad_NotFound".into(),
            BAD_READ_ONLY => "Bad_ReadOnly".into(),
            ERROR_TYPE_CONVERSION => "Error_TypeConversion".into(),
            other => {
                let level = match (other as u32) >> 30 {
                    0 => "Good",
                    1 => "Uncertain",
                    2 => "Bad",
                    _ => "Error",
                };
                format!("{level}({other})")
            }
        }
    }

    pub fn is_good(code: i32) -> bool {
        (code as u32) >> 30 == 0
    }
}

/// A tag value as the gateway holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Milliseconds since the epoch.
    DateTime(i64),
    /// A value the emulator keeps as given (documents, datasets, arrays).
    Document(Value),
}

impl TagValue {
    /// The JSON form: what the tag change feed and the operator route carry.
    pub fn to_json(&self) -> Value {
        match self {
            TagValue::Null => Value::Null,
            TagValue::Bool(b) => json!(b),
            TagValue::Int(i) => json!(i),
            TagValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            TagValue::Text(s) => json!(s),
            TagValue::DateTime(ms) => json!(ms),
            TagValue::Document(v) => v.clone(),
        }
    }

    /// A configured (tag file) or requested (JSON) value, before coercion to a data type.
    pub fn from_json(value: &Value) -> TagValue {
        match value {
            Value::Null => TagValue::Null,
            Value::Bool(b) => TagValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => TagValue::Int(i),
                None => TagValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => TagValue::Text(s.clone()),
            other => TagValue::Document(other.clone()),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            TagValue::Bool(b) => Some(f64::from(u8::from(*b))),
            TagValue::Int(i) => Some(*i as f64),
            TagValue::Float(f) => Some(*f),
            TagValue::Text(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    }

    /// The text a `String` tag stores for this value (Java's `toString` forms).
    fn to_text(&self) -> String {
        match self {
            TagValue::Null => String::new(),
            TagValue::Bool(b) => b.to_string(),
            TagValue::Int(i) => i.to_string(),
            TagValue::Float(f) if f.fract() == 0.0 && f.abs() < 1e7 => format!("{f:.1}"),
            TagValue::Float(f) => f.to_string(),
            TagValue::Text(s) => s.clone(),
            TagValue::DateTime(ms) => ms.to_string(),
            TagValue::Document(v) => v.to_string(),
        }
    }
}

/// `value` as a tag of `data_type` stores it, or `None` when it cannot be converted
/// (`Error_TypeConversion`). Null is a valid value of every type.
pub fn coerce(data_type: &str, value: &TagValue) -> Option<TagValue> {
    if *value == TagValue::Null {
        return Some(TagValue::Null);
    }
    let integer = |min: i64, max: i64| -> Option<TagValue> {
        let whole = match value {
            TagValue::Int(i) => *i,
            TagValue::Text(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok()?,
            // Java's Number.intValue(): the fraction is dropped [inferred for Ignition].
            other => {
                let f = other.as_f64()?;
                if !f.is_finite() {
                    return None;
                }
                f.trunc() as i64
            }
        };
        (min..=max).contains(&whole).then_some(TagValue::Int(whole))
    };
    match data_type {
        "Float4" => value.as_f64().map(|f| TagValue::Float(f as f32 as f64)),
        "Float8" => value.as_f64().map(TagValue::Float),
        "Int1" => integer(i8::MIN.into(), i8::MAX.into()),
        "Int2" => integer(i16::MIN.into(), i16::MAX.into()),
        "Int4" => integer(i32::MIN.into(), i32::MAX.into()),
        "Int8" => integer(i64::MIN, i64::MAX),
        "Boolean" => match value {
            TagValue::Bool(b) => Some(TagValue::Bool(*b)),
            TagValue::Int(i) => Some(TagValue::Bool(*i != 0)),
            TagValue::Float(f) => Some(TagValue::Bool(*f != 0.0)),
            TagValue::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(TagValue::Bool(true)),
                "false" | "0" => Some(TagValue::Bool(false)),
                _ => None,
            },
            _ => None,
        },
        "String" | "Text" => Some(TagValue::Text(value.to_text())),
        "DateTime" => match value {
            TagValue::DateTime(ms) | TagValue::Int(ms) => Some(TagValue::DateTime(*ms)),
            TagValue::Float(f) if f.is_finite() => Some(TagValue::DateTime(*f as i64)),
            TagValue::Text(s) => {
                let s = s.trim();
                s.parse::<i64>().ok().map(TagValue::DateTime).or_else(|| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                        .map(|t| TagValue::DateTime((t.unix_timestamp_nanos() / 1_000_000) as i64))
                })
            }
            _ => None,
        },
        _ => Some(value.clone()),
    }
}

/// One tag as read: its value, quality and timestamp (what a `QualifiedValue` carries).
#[derive(Debug, Clone, PartialEq)]
pub struct TagRead {
    /// The full path with its provider, as the tag is named (or as asked, when not found).
    pub path: String,
    pub data_type: Option<String>,
    pub value: TagValue,
    pub quality: i32,
    pub timestamp_ms: i64,
}

/// Where a tag's value comes from at run time.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A memory tag: the configured value, then whatever is written.
    Memory,
    /// An expression the emulator evaluated once (a literal, e.g. `'{AssetId}'`); read-only.
    Literal,
    /// A reference tag: reads and writes go to the tag at this key.
    Reference(String),
    /// OPC, database, derived tags and non-literal expressions: not computed here.
    Unsimulated,
}

#[derive(Debug, Clone)]
struct LiveTag {
    path: String,
    data_type: String,
    source: Source,
    value: TagValue,
    quality: i32,
    timestamp_ms: i64,
}

/// The run-time tag table of one gateway; see the module documentation.
#[derive(Debug, Default)]
pub struct LiveTags {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// The view generation the table was built from; `None` before first use.
    generation: Option<u64>,
    tags: HashMap<String, LiveTag>,
}

/// `Mining/A` → `[default]Mining/A`; `[Other]x/` → `[Other]x`. Returns the path as named and
/// its lookup key (lower case).
pub fn normalize(path: &str) -> (String, String) {
    let path = path.trim();
    let (provider, rest) = match path.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((provider, rest)) => (provider.trim(), rest),
            None => ("", rest),
        },
        None => ("", path),
    };
    let provider = if provider.is_empty() {
        "default"
    } else {
        provider
    };
    let named = format!("[{provider}]{}", rest.trim().trim_matches('/'));
    let key = named.to_lowercase();
    (named, key)
}

impl Gateway {
    /// Reads tags as `system.tag.readBlocking` does: a path that names no tag reads `None`
    /// with `Bad_NotFound`.
    pub fn read_tags(&self, paths: &[String]) -> Vec<TagRead> {
        let table = self.current_table();
        let now = self.clock.now_ms();
        paths
            .iter()
            .map(|path| {
                let (named, key) = normalize(path);
                match resolve(&table.tags, &key) {
                    Some(target) => {
                        let tag = &table.tags[&target];
                        TagRead {
                            path: table.tags[&key].path.clone(),
                            data_type: Some(tag.data_type.clone()),
                            value: tag.value.clone(),
                            quality: tag.quality,
                            timestamp_ms: tag.timestamp_ms,
                        }
                    }
                    None => TagRead {
                        path: named,
                        data_type: table.tags.get(&key).map(|t| t.data_type.clone()),
                        value: TagValue::Null,
                        quality: if table.tags.contains_key(&key) {
                            quality::BAD
                        } else {
                            quality::BAD_NOT_FOUND
                        },
                        timestamp_ms: now,
                    },
                }
            })
            .collect()
    }

    /// Writes tags as `system.tag.writeBlocking` does and returns one quality code per write.
    /// A write that changes a tag's value or quality is published on the tag change feed.
    pub fn write_tags(&self, writes: &[(String, TagValue)]) -> Vec<i32> {
        let mut table = self.current_table();
        let now = self.clock.now_ms();
        writes
            .iter()
            .map(|(path, value)| {
                let (_, key) = normalize(path);
                let Some(target) = resolve(&table.tags, &key) else {
                    return match table.tags.get(&key) {
                        // A reference whose target is missing.
                        Some(_) => quality::BAD,
                        None => quality::BAD_NOT_FOUND,
                    };
                };
                let tag = table.tags.get_mut(&target).expect("resolved tags exist");
                if tag.source != Source::Memory {
                    return quality::BAD_READ_ONLY;
                }
                let Some(value) = coerce(&tag.data_type, value) else {
                    return quality::ERROR_TYPE_CONVERSION;
                };
                let changed = tag.value != value || tag.quality != quality::GOOD;
                tag.value = value;
                tag.quality = quality::GOOD;
                tag.timestamp_ms = now;
                if changed {
                    self.tag_events.publish(TagChange {
                        path: tag.path.clone(),
                        data_type: tag.data_type.clone(),
                        value: tag.value.to_json(),
                        quality: tag.quality,
                        timestamp_ms: now,
                    });
                }
                quality::GOOD
            })
            .collect()
    }

    /// The path of every tag the gateway has at run time, sorted.
    pub fn live_tag_paths(&self) -> Vec<String> {
        let table = self.current_table();
        let mut paths: Vec<String> = table.tags.values().map(|t| t.path.clone()).collect();
        paths.sort();
        paths
    }

    /// The table, rebuilt first when the loaded view changed since it was built. The table's
    /// lock is always taken before the view's, never the other way round.
    fn current_table(&self) -> std::sync::MutexGuard<'_, Table> {
        let mut table = self.live_tags.table.lock().expect("live tag table lock");
        let generation = self.view_generation();
        if table.generation != Some(generation) {
            let specs = {
                let view = self.view();
                tag_specs(&view)
            };
            let now = self.clock.now_ms();
            let mut previous = std::mem::take(&mut table.tags);
            for (key, spec) in specs {
                let tag = match previous.remove(&key) {
                    // A memory tag that stays keeps its run-time value; anything else (a new
                    // tag, a changed type or source) starts from its configuration.
                    Some(mut kept)
                        if kept.data_type == spec.data_type
                            && kept.source == Source::Memory
                            && spec.source == Source::Memory =>
                    {
                        kept.path = spec.path;
                        kept
                    }
                    _ => LiveTag {
                        timestamp_ms: now,
                        ..spec
                    },
                };
                table.tags.insert(key, tag);
            }
            table.generation = Some(generation);
        }
        table
    }
}

/// The key of the tag that holds `key`'s value: itself, or what its reference chain ends at.
fn resolve(tags: &HashMap<String, LiveTag>, key: &str) -> Option<String> {
    let mut current = key.to_string();
    for _ in 0..8 {
        match &tags.get(&current)?.source {
            Source::Reference(target) => current = target.clone(),
            _ => return Some(current),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Building the table from the loaded view

/// Every provider with tag folders in the view.
fn providers(view: &LoadedView) -> BTreeSet<String> {
    view.config_units
        .keys()
        .filter_map(|key| {
            let parts: Vec<&str> = key.split('/').collect();
            (parts.len() >= 4
                && parts[1] == "ignition"
                && matches!(parts[2], TAG_DEFINITION | TAG_TYPE_DEFINITION))
            .then(|| parts[3].to_string())
        })
        .collect()
}

/// Every tag of the view, by lookup key, at its start value.
fn tag_specs(view: &LoadedView) -> HashMap<String, LiveTag> {
    let mut specs = HashMap::new();
    for provider in providers(view) {
        let types = provider_tree(view, &provider, true);
        let expansion = Expansion {
            provider: &provider,
            types: &types,
        };
        for (path, config) in provider_tree(view, &provider, false) {
            match config.get("tagType").and_then(Value::as_str) {
                Some("Folder") => {}
                Some("UdtInstance") => {
                    expansion.instance(&path, &config, &Map::new(), 0, &mut specs);
                }
                _ => expansion.atomic(&path, &config, &mut specs),
            }
        }
    }
    specs
}

/// UDT instances can nest; deeper than this is a cycle in the definitions.
const MAX_DEPTH: usize = 16;

struct Expansion<'a> {
    provider: &'a str,
    types: &'a std::collections::BTreeMap<String, Value>,
}

impl Expansion<'_> {
    /// A UDT definition by `typeId` (relative to `_types_`, perhaps provider-qualified).
    fn definition(&self, type_id: &str) -> Option<&Value> {
        let (_, key) = normalize(type_id);
        let relative = key
            .split_once(']')
            .map(|(_, rest)| rest)
            .unwrap_or(&key)
            .trim_start_matches("_types_/");
        self.types
            .iter()
            .find(|(path, _)| path.to_lowercase() == relative)
            .map(|(_, config)| config)
    }

    /// The members and parameters of a type, inherited ones first (a parent type is the
    /// type's own `typeId`).
    fn resolve_type(&self, type_id: &str, depth: usize) -> (Vec<Value>, Map<String, Value>) {
        let Some(definition) = self.definition(type_id).filter(|_| depth < MAX_DEPTH) else {
            return (Vec::new(), Map::new());
        };
        let (mut members, mut parameters) = match definition
            .get("typeId")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            Some(parent) => self.resolve_type(parent, depth + 1),
            None => (Vec::new(), Map::new()),
        };
        if let Some(own) = definition.get("parameters").and_then(Value::as_object) {
            parameters.extend(own.clone());
        }
        overlay(
            &mut members,
            definition
                .get("tags")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        );
        (members, parameters)
    }

    fn instance(
        &self,
        path: &str,
        instance: &Value,
        outer: &Map<String, Value>,
        depth: usize,
        specs: &mut HashMap<String, LiveTag>,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        let type_id = instance.get("typeId").and_then(Value::as_str).unwrap_or("");
        let (mut members, mut parameters) = self.resolve_type(type_id, 0);
        if let Some(own) = instance.get("parameters").and_then(Value::as_object) {
            for (name, value) in own {
                parameters.insert(name.clone(), substitute(value, outer));
            }
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        parameters.insert("InstanceName".into(), json!(name));
        parameters.insert("PathToParentFolder".into(), json!(parent));
        overlay(
            &mut members,
            instance
                .get("tags")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        );
        for member in &members {
            self.member(path, member, &parameters, depth, specs);
        }
    }

    fn member(
        &self,
        parent: &str,
        entry: &Value,
        parameters: &Map<String, Value>,
        depth: usize,
        specs: &mut HashMap<String, LiveTag>,
    ) {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            return;
        };
        let path = format!("{parent}/{name}");
        match entry.get("tagType").and_then(Value::as_str) {
            Some("Folder") => {
                for child in entry
                    .get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.member(&path, child, parameters, depth, specs);
                }
            }
            Some("UdtInstance") => self.instance(&path, entry, parameters, depth + 1, specs),
            _ => self.atomic(&path, &substitute(entry, parameters), specs),
        }
    }

    fn atomic(&self, path: &str, config: &Value, specs: &mut HashMap<String, LiveTag>) {
        let (named, key) = normalize(&format!("[{}]{path}", self.provider));
        let text = |field: &str| config.get(field).and_then(Value::as_str).unwrap_or("");
        // Ignition's defaults for an atomic tag: a memory tag of type Int4.
        let data_type = match text("dataType") {
            "" => "Int4".to_string(),
            other => other.to_string(),
        };
        let configured = TagValue::from_json(config.get("value").unwrap_or(&Value::Null));
        let (source, start) = match text("valueSource") {
            "" | "memory" => (Source::Memory, Some(configured)),
            "expr" => match literal(text("expression")) {
                Some(value) => (Source::Literal, Some(value)),
                None => (Source::Unsimulated, None),
            },
            "reference" => {
                let target = text("sourceTagPath");
                let target = match target.strip_prefix("[~]") {
                    Some(rest) => format!("[{}]{rest}", self.provider),
                    None => target.to_string(),
                };
                (Source::Reference(normalize(&target).1), None)
            }
            _ => (Source::Unsimulated, None),
        };
        let (value, quality) = match (&source, start) {
            (Source::Unsimulated, _) => (configured_or_null(config), quality::BAD),
            (_, Some(start)) => match coerce(&data_type, &start) {
                Some(value) => (value, quality::GOOD),
                None => (TagValue::Null, quality::ERROR_TYPE_CONVERSION),
            },
            (_, None) => (TagValue::Null, quality::GOOD),
        };
        specs.insert(
            key,
            LiveTag {
                path: named,
                data_type,
                source,
                value,
                quality,
                timestamp_ms: 0,
            },
        );
    }
}

fn configured_or_null(config: &Value) -> TagValue {
    TagValue::from_json(config.get("value").unwrap_or(&Value::Null))
}

/// The value of an expression that is a literal (`'CR_002'`, `42`, `true`); `None` for
/// anything that needs evaluating.
fn literal(expression: &str) -> Option<TagValue> {
    let e = expression.trim();
    for quote in ['\'', '"'] {
        if e.len() >= 2 && e.starts_with(quote) && e.ends_with(quote) {
            let inner = &e[1..e.len() - 1];
            return (!inner.contains(quote)).then(|| TagValue::Text(inner.to_string()));
        }
    }
    match e.to_ascii_lowercase().as_str() {
        "true" => return Some(TagValue::Bool(true)),
        "false" => return Some(TagValue::Bool(false)),
        _ => {}
    }
    e.parse::<i64>()
        .map(TagValue::Int)
        .ok()
        .or_else(|| e.parse::<f64>().ok().map(TagValue::Float))
}

/// Member lists merged by name: an override's keys replace the member's, its `tags` merge the
/// same way one level down, and a name the list does not have is added.
fn overlay(members: &mut Vec<Value>, overrides: &[Value]) {
    for entry in overrides {
        let name = entry.get("name");
        match members
            .iter_mut()
            .find(|m| name.is_some() && m.get("name") == name)
        {
            Some(member) => merge_into(member, entry),
            None => members.push(entry.clone()),
        }
    }
}

fn merge_into(member: &mut Value, entry: &Value) {
    let (Some(target), Some(source)) = (member.as_object_mut(), entry.as_object()) else {
        return;
    };
    for (key, value) in source {
        match (key.as_str(), target.get_mut(key), value) {
            ("tags", Some(Value::Array(children)), Value::Array(overrides)) => {
                overlay(children, overrides);
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The text a parameter stands for in `{Name}`.
fn parameter_text(value: &Value) -> String {
    let value = match value {
        Value::Object(object) => object.get("value").unwrap_or(&Value::Null),
        other => other,
    };
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `value` with every `{Name}` of a known parameter replaced, in every string inside it.
fn substitute(value: &Value, parameters: &Map<String, Value>) -> Value {
    match value {
        Value::String(s) if s.contains('{') => Value::String(substitute_text(s, parameters)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, parameters)).collect())
        }
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(k, v)| (k.clone(), substitute(v, parameters)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_text(text: &str, parameters: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = &after[..close];
        let found = parameters
            .get(name)
            .or_else(|| {
                parameters
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(parameter_text);
        match found {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// The emulator's own operator routes (no real gateway has them; `lode emulator tag ...`)

/// The prefix of every route that is the emulator's own, not the gateway's API.
pub const OPERATOR_PREFIX: &str = "/system/lode-emulator/";

fn read_json(read: &TagRead) -> Value {
    json!({
        "path": read.path,
        "dataType": read.data_type,
        "value": read.value.to_json(),
        "quality": quality::name(read.quality),
        "qualityCode": read.quality,
        "timestamp": read.timestamp_ms,
    })
}

/// `GET /system/lode-emulator/tags/read?path=...`: the tag's value, quality and timestamp,
/// as a Designer's tag browser would show them.
async fn operator_read(
    State(gateway): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<axum::Json<Value>> {
    let path = query
        .get("path")
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing required parameter 'path'"))?
        .clone();
    let worker = gateway.clone();
    let read = tokio::task::spawn_blocking(move || worker.read_tags(&[path]))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(read_json(&read[0])))
}

/// `POST /system/lode-emulator/tags/write` with `{"path": ..., "value": ...}`: writes the tag
/// as an operator would in the Designer and answers with the write's quality code; the
/// written value is coerced to the tag's data type (a string `"45"` into a `Float4` is 45.0).
async fn operator_write(
    State(gateway): State<Shared>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let request = parse_body(&body)?;
    let path = request
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Expected {\"path\": \"[provider]Folder/Tag\", \"value\": ...}")
        })?
        .to_string();
    let value = TagValue::from_json(request.get("value").unwrap_or(&Value::Null));
    let worker = gateway.clone();
    let (code, read) = tokio::task::spawn_blocking(move || {
        let code = worker.write_tags(&[(path.clone(), value)])[0];
        (code, worker.read_tags(&[path]).remove(0))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(json!({
        "path": read.path,
        "quality": quality::name(code),
        "qualityCode": code,
        "tag": read_json(&read),
    })))
}

/// `GET /system/lode-emulator/status`: whether this gateway is live (runs its scripts), and
/// how many tags it has at run time.
async fn operator_status(State(gateway): State<Shared>) -> ApiResult<axum::Json<Value>> {
    let worker = gateway.clone();
    let tags = tokio::task::spawn_blocking(move || worker.live_tag_paths().len())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(json!({
        "live": gateway.config.live,
        "clock": if gateway.clock.is_virtual() { "virtual" } else { "system" },
        "tags": tags,
    })))
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/system/lode-emulator/status", get(operator_status))
        .route("/system/lode-emulator/tags/read", get(operator_read))
        .route("/system/lode-emulator/tags/write", post(operator_write))
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::json;

    use super::super::scan::{Target, run_scan};
    use super::super::test_support::{TOKEN, client, gateway};
    use super::{TagValue, coerce, normalize, quality};
    use lode_wire::ignition::tag_files::TagFolder;

    #[test]
    fn values_are_stored_as_their_data_type_stores_them() {
        let f = |t: &str, v: TagValue| coerce(t, &v);
        assert_eq!(
            f("Float4", TagValue::Float(17.71)),
            Some(TagValue::Float(17.71_f32 as f64))
        );
        assert_eq!(
            f("Float8", TagValue::Text(" 2.5".into())),
            Some(TagValue::Float(2.5))
        );
        assert_eq!(f("Float8", TagValue::Text("loud".into())), None);
        assert_eq!(f("Int4", TagValue::Float(3e10)), None);
        assert_eq!(f("Int4", TagValue::Float(-7.9)), Some(TagValue::Int(-7)));
        assert_eq!(f("Int1", TagValue::Int(128)), None);
        assert_eq!(
            f("Boolean", TagValue::Text("TRUE".into())),
            Some(TagValue::Bool(true))
        );
        assert_eq!(f("Boolean", TagValue::Text("yes".into())), None);
        assert_eq!(
            f("String", TagValue::Float(45.0)),
            Some(TagValue::Text("45.0".into()))
        );
        assert_eq!(
            f("DateTime", TagValue::Text("2026-12-08T00:00:00Z".into())),
            Some(TagValue::DateTime(1_796_688_000_000))
        );
        assert_eq!(f("Int4", TagValue::Null), Some(TagValue::Null));
        assert_eq!(
            normalize("Mining/A/"),
            (
                "[default]Mining/A".to_string(),
                "[default]mining/a".to_string()
            )
        );
        assert_eq!(quality::name(quality::BAD_NOT_FOUND), "Bad_NotFound");
        assert!(!quality::is_good(quality::ERROR_TYPE_CONVERSION));
    }

    #[test]
    fn issue_16_udt_members_come_from_their_definition_and_keep_run_time_values_across_a_scan() {
        let (dir, running) = gateway(false);
        let types = TagFolder::type_definitions(dir.path(), "core", "default");
        types
            .write_entry(
                "Base",
                &json!({"tagType": "UdtType", "parameters": {"Site": {"dataType": "String", "value": "X"}},
                    "tags": [
                        {"name": "Status", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "String", "value": "{Site}-OK"},
                        {"name": "Sub", "tagType": "Folder", "tags": [
                            {"name": "Speed", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float4", "value": 1.1}]}]}),
            )
            .unwrap();
        types
            .write_entry(
                "Pump",
                &json!({"tagType": "UdtType", "typeId": "Base", "tags": [
                    {"name": "Flow", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8", "value": 2.0},
                    {"name": "Label", "tagType": "AtomicTag", "valueSource": "expr", "dataType": "String", "expression": "'{Site} {InstanceName}'"}]}),
            )
            .unwrap();
        let tags = TagFolder::tag_definitions(dir.path(), "core", "default");
        tags.write_entry("Plant", &json!({"tagType": "Folder"}))
            .unwrap();
        tags.write_entry(
            "Plant/P1",
            &json!({"tagType": "UdtInstance", "typeId": "Pump",
                "parameters": {"Site": {"dataType": "String", "value": "North"}},
                "tags": [{"name": "Flow", "value": 7.0}]}),
        )
        .unwrap();
        tags.write_entry(
            "Plant/FlowRef",
            &json!({"tagType": "AtomicTag", "valueSource": "reference", "dataType": "Float8", "sourceTagPath": "[~]Plant/P1/Flow"}),
        )
        .unwrap();
        run_scan(&running.gateway, Target::Config).unwrap();
        let gateway = &running.gateway;
        let read = |path: &str| gateway.read_tags(&[path.to_string()]).remove(0);
        assert_eq!(
            read("Plant/P1/Status").value,
            TagValue::Text("North-OK".into())
        );
        assert_eq!(
            read("[default]plant/p1/sub/speed").value,
            TagValue::Float(1.1_f32 as f64)
        );
        assert_eq!(read("Plant/P1/Flow").value, TagValue::Float(7.0));
        assert_eq!(
            read("Plant/P1/Label").value,
            TagValue::Text("North P1".into())
        );
        assert_eq!(read("Plant/FlowRef").value, TagValue::Float(7.0));
        assert_eq!(read("Plant/Nope").quality, quality::BAD_NOT_FOUND);

        let files = || {
            std::fs::read(
                dir.path()
                    .join("config/resources/core/ignition/tag-definition/default/Plant/udts.json"),
            )
            .unwrap()
        };
        let before = files();
        let mut feed = gateway.tag_events.subscribe();
        assert_eq!(
            gateway.write_tags(&[
                ("Plant/FlowRef".into(), TagValue::Int(9)),
                ("Plant/P1/Label".into(), TagValue::Text("x".into())),
                ("Plant/P1/Sub/Speed".into(), TagValue::Text("fast".into())),
                ("Plant/P1/Sub/Speed".into(), TagValue::Float(1.1)),
            ]),
            [
                quality::GOOD,
                quality::BAD_READ_ONLY,
                quality::ERROR_TYPE_CONVERSION,
                quality::GOOD
            ]
        );
        assert_eq!(read("Plant/P1/Flow").value, TagValue::Float(9.0));
        // Only the change is published (Speed was written its own value).
        let change = feed.try_recv().unwrap();
        assert_eq!(
            (change.path.as_str(), change.value),
            ("[default]Plant/P1/Flow", json!(9.0))
        );
        assert!(feed.try_recv().is_err());
        assert_eq!(files(), before, "run-time writes reached the tag files");

        // A scan with a new tag: it appears, and Flow keeps its run-time value.
        tags.write_entry(
            "Plant/Added",
            &json!({"tagType": "AtomicTag", "valueSource": "memory", "dataType": "Int4", "value": 5}),
        )
        .unwrap();
        run_scan(gateway, Target::Config).unwrap();
        assert_eq!(read("Plant/Added").value, TagValue::Int(5));
        assert_eq!(read("Plant/P1/Flow").value, TagValue::Float(9.0));

        // The operator routes: token checked, the value converted to the tag's type.
        let url = format!("{}/system/lode-emulator/tags/write", running.url);
        let body = json!({"path": "Plant/Added", "value": "45"});
        let refused = client().post(&url).json(&body).send().unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let answer: serde_json::Value = client()
            .post(&url)
            .header("X-Ignition-API-Token", TOKEN)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(answer["quality"], "Good", "{answer}");
        assert_eq!(answer["tag"]["value"], 45);
        let status: serde_json::Value = client()
            .get(format!("{}/system/lode-emulator/status", running.url))
            .header("X-Ignition-API-Token", TOKEN)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(status["live"], false);
    }
}
