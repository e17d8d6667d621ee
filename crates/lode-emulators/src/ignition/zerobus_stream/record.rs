//! The connector's record for one tag change, field for field as the module's `OtEventMapper`
//! builds its `OTEvent` (the fourteen columns of `ignition-83.md` §7): a random `event_id`,
//! `event_time` and `ingestion_timestamp` in epoch **microseconds**, `tag_path` with its
//! `[provider]`, `tag_provider` from the brackets (`default` without them), the value in the
//! one field its Java type selects (`numeric_value` for any number, `string_value`,
//! `boolean_value`) with the other two at 0, `""` and false, `data_type` naming that type
//! (`DOUBLE`, `STRING`, `BOOLEAN`, else `UNKNOWN`, not the tag's own data type), `quality` as
//! Ignition prints the quality code (`Good`, `Bad_NotFound`, ...) and `quality_code` 192 when
//! that text says good and 0 otherwise (both empty / 0 with `includeQuality` off), and no alarm
//! (`""`, 0). The newer module's compression fields (`sdt_*`, `compression_ratio`,
//! `batch_bytes_sent`) are not sent: the demo's bronze table has no such columns.
//!
//! [`ChangeFilter`] is the module's edge filter: with `numericCompressionMode` DEADBAND (or unset
//! with the legacy `onlyOnChange`), a numeric value is sent only when it moved by more than the
//! deadband (`numericDeadband`, or the first `numericDeadbandRules` entry whose `tagPathRegex`
//! matches) since the last value sent for the tag, and any other value only when it differs.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::ignition::tag_events::{QUALITY_GOOD, TagChange};

/// What the configuration says about mapping changes to records.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    pub source_system: String,
    pub include_quality: bool,
}

impl RecordSettings {
    pub fn from_config(config: &Value) -> RecordSettings {
        RecordSettings {
            source_system: config
                .get("sourceSystemId")
                .and_then(Value::as_str)
                .unwrap_or("ignition-gateway")
                .to_string(),
            include_quality: config
                .get("includeQuality")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        }
    }
}

/// Ignition's name for a quality code (`QualityCode.toString()`): the codes the reference lists
/// by name (`script-runtime-recipes.md` §1.1), else the level the top two bits give (Good,
/// Uncertain, Bad, Error).
pub fn quality_name(code: i32) -> String {
    let named = match code {
        QUALITY_GOOD => Some("Good"),
        -2147483129 => Some("Bad_NotFound"),
        -2147483122 => Some("Bad_ReadOnly"),
        -1073741052 => Some("Error_TypeConversion"),
        _ => None,
    };
    if let Some(name) = named {
        return name.to_string();
    }
    match (code as u32) >> 30 {
        0 => "Good",
        1 => "Uncertain",
        2 => "Bad",
        _ => "Error",
    }
    .to_string()
}

/// The record for `change`, received by the connector at `ingestion_micros`.
pub fn record(change: &TagChange, settings: &RecordSettings, ingestion_micros: i64) -> Value {
    let provider = change
        .path
        .strip_prefix('[')
        .and_then(|p| p.split_once(']'))
        .map(|(provider, _)| provider)
        .filter(|p| !p.is_empty())
        .unwrap_or("default");
    // A DateTime tag's value is a java.util.Date to the module: neither number, string nor
    // boolean, whatever JSON carries it here.
    let value = if change.data_type.eq_ignore_ascii_case("DateTime") {
        &Value::Null
    } else {
        &change.value
    };
    let (numeric, text, boolean, data_type) = match value {
        Value::Number(n) => (n.as_f64().unwrap_or(0.0), String::new(), false, "DOUBLE"),
        Value::String(s) => (0.0, s.clone(), false, "STRING"),
        Value::Bool(b) => (0.0, String::new(), *b, "BOOLEAN"),
        _ => (0.0, String::new(), false, "UNKNOWN"),
    };
    let quality = quality_name(change.quality);
    let good = quality.to_lowercase().contains("good");
    let mut fields = Map::new();
    fields.insert("event_id".into(), json!(uuid::Uuid::new_v4().to_string()));
    fields.insert("event_time".into(), json!(change.timestamp_ms * 1000));
    fields.insert("tag_path".into(), json!(change.path));
    fields.insert("tag_provider".into(), json!(provider));
    fields.insert("numeric_value".into(), json!(numeric));
    fields.insert("string_value".into(), json!(text));
    fields.insert("boolean_value".into(), json!(boolean));
    fields.insert(
        "quality".into(),
        json!(if settings.include_quality {
            quality.as_str()
        } else {
            ""
        }),
    );
    fields.insert(
        "quality_code".into(),
        json!(if settings.include_quality && good {
            QUALITY_GOOD
        } else {
            0
        }),
    );
    fields.insert("source_system".into(), json!(settings.source_system));
    fields.insert("ingestion_timestamp".into(), json!(ingestion_micros));
    fields.insert("data_type".into(), json!(data_type));
    fields.insert("alarm_state".into(), json!(""));
    fields.insert("alarm_priority".into(), json!(0));
    Value::Object(fields)
}

/// The module's edge filter (see the module comment).
#[derive(Debug)]
pub struct ChangeFilter {
    deadband: Option<Deadband>,
    last_sent: HashMap<String, Value>,
}

#[derive(Debug)]
struct Deadband {
    default: f64,
    rules: Vec<(Regex, f64)>,
}

/// Numeric compression the emulator does not reproduce (swinging-door, per-tag modes).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FilterChangesError {
    #[error(
        "numericCompressionMode SDT (swinging-door compression) is not emulated: values are sent unfiltered"
    )]
    SwingingDoor,
    #[error("numericCompressionRules are not emulated: the global mode applies to every tag")]
    PerTagRules,
}

impl ChangeFilter {
    /// The filter the configuration asks for, and what of it the emulator leaves out.
    pub fn from_config(config: &Value) -> (ChangeFilter, Vec<FilterChangesError>) {
        let mut unsupported = Vec::new();
        let mode = match config.get("numericCompressionMode").and_then(Value::as_str) {
            Some(mode) => mode.to_string(),
            None if config.get("onlyOnChange").and_then(Value::as_bool) == Some(true) => {
                "DEADBAND".into()
            }
            None => "NONE".into(),
        };
        if config
            .get("numericCompressionRules")
            .and_then(Value::as_array)
            .is_some_and(|rules| rules.iter().any(|r| !r.is_null()))
        {
            unsupported.push(FilterChangesError::PerTagRules);
        }
        let deadband = match mode.as_str() {
            "DEADBAND" => Some(Deadband {
                default: config
                    .get("numericDeadband")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
                rules: config
                    .get("numericDeadbandRules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|rule| {
                        let regex = rule.get("tagPathRegex")?.as_str()?;
                        let regex = Regex::new(&format!("^(?:{regex})$")).ok()?;
                        Some((regex, rule.get("deadband")?.as_f64()?))
                    })
                    .collect(),
            }),
            "SDT" => {
                unsupported.push(FilterChangesError::SwingingDoor);
                None
            }
            _ => None,
        };
        (
            ChangeFilter {
                deadband,
                last_sent: HashMap::new(),
            },
            unsupported,
        )
    }

    /// `NONE`, `DEADBAND`, as the diagnostics print the effective mode.
    pub fn mode(&self) -> &'static str {
        if self.deadband.is_some() {
            "DEADBAND"
        } else {
            "NONE"
        }
    }

    /// Whether `change` is sent; a sent value becomes the one later changes compare with.
    pub fn passes(&mut self, change: &TagChange) -> bool {
        let Some(deadband) = &self.deadband else {
            return true;
        };
        let moved = match (self.last_sent.get(&change.path), &change.value) {
            (None, _) => true,
            (Some(Value::Number(last)), Value::Number(now)) => {
                let band = deadband
                    .rules
                    .iter()
                    .find(|(regex, _)| regex.is_match(&change.path))
                    .map(|(_, band)| *band)
                    .unwrap_or(deadband.default);
                (last.as_f64().unwrap_or(0.0) - now.as_f64().unwrap_or(0.0)).abs() > band
            }
            (Some(last), now) => last != now,
        };
        if moved {
            self.last_sent
                .insert(change.path.clone(), change.value.clone());
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, data_type: &str, value: Value, quality: i32) -> TagChange {
        TagChange {
            path: path.into(),
            data_type: data_type.into(),
            value,
            quality,
            timestamp_ms: 1_767_225_600_123,
        }
    }

    fn settings(include_quality: bool) -> RecordSettings {
        RecordSettings {
            source_system: "ignition-mining-demo".into(),
            include_quality,
        }
    }

    #[test]
    fn issue_16_records_have_the_connectors_fields_and_formats() {
        let numeric = record(
            &change(
                "[default]Mining/Equipment/CR_002/Vibration_MM_S",
                "Float4",
                json!(45.0),
                QUALITY_GOOD,
            ),
            &settings(true),
            1_767_225_600_500_000,
        );
        let fields: Vec<&str> = numeric
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            [
                "event_id",
                "event_time",
                "tag_path",
                "tag_provider",
                "numeric_value",
                "string_value",
                "boolean_value",
                "quality",
                "quality_code",
                "source_system",
                "ingestion_timestamp",
                "data_type",
                "alarm_state",
                "alarm_priority"
            ]
        );
        assert_eq!(numeric["event_time"], 1_767_225_600_123_000_i64);
        assert_eq!(numeric["ingestion_timestamp"], 1_767_225_600_500_000_i64);
        assert_eq!(
            numeric["tag_path"],
            "[default]Mining/Equipment/CR_002/Vibration_MM_S"
        );
        assert_eq!(numeric["tag_provider"], "default");
        assert_eq!(numeric["numeric_value"], 45.0);
        assert_eq!(numeric["string_value"], "");
        assert_eq!(numeric["data_type"], "DOUBLE");
        assert_eq!(numeric["quality"], "Good");
        assert_eq!(numeric["quality_code"], 192);
        assert_eq!(numeric["source_system"], "ignition-mining-demo");
        assert_eq!(numeric["event_id"].as_str().unwrap().len(), 36);

        let flag = record(
            &change("[edge]Plant/Run", "Boolean", json!(true), -2147483129),
            &settings(true),
            1,
        );
        assert_eq!(flag["tag_provider"], "edge");
        assert_eq!(flag["boolean_value"], true);
        assert_eq!(flag["numeric_value"], 0.0);
        assert_eq!(flag["data_type"], "BOOLEAN");
        assert_eq!(flag["quality"], "Bad_NotFound");
        assert_eq!(flag["quality_code"], 0);

        let text = record(
            &change("[default]Mode", "String", json!("AUTO"), QUALITY_GOOD),
            &settings(false),
            1,
        );
        assert_eq!(text["string_value"], "AUTO");
        assert_eq!(text["data_type"], "STRING");
        assert_eq!(text["quality"], "");
        assert_eq!(text["quality_code"], 0);
        let date = record(
            &change("[default]Stamp", "DateTime", json!(1), QUALITY_GOOD),
            &settings(true),
            1,
        );
        assert_eq!(date["data_type"], "UNKNOWN");
    }

    #[test]
    fn issue_16_only_on_change_is_a_deadband_filter() {
        let (mut filter, unsupported) =
            ChangeFilter::from_config(&json!({"onlyOnChange": true, "numericDeadband": 0.5}));
        assert!(unsupported.is_empty());
        assert_eq!(filter.mode(), "DEADBAND");
        let at = |v: Value| change("[default]A", "Float8", v, QUALITY_GOOD);
        assert!(filter.passes(&at(json!(1.0))));
        assert!(!filter.passes(&at(json!(1.4))));
        assert!(filter.passes(&at(json!(1.6))));
        assert!(!filter.passes(&at(json!(1.6))));
        let text = |v: &str| change("[default]B", "String", json!(v), QUALITY_GOOD);
        assert!(filter.passes(&text("x")));
        assert!(!filter.passes(&text("x")));
        assert!(filter.passes(&text("y")));

        let (mut unfiltered, _) = ChangeFilter::from_config(&json!({"onlyOnChange": false}));
        assert!(unfiltered.passes(&at(json!(1.0))));
        assert!(unfiltered.passes(&at(json!(1.0))));
        let (_, unsupported) = ChangeFilter::from_config(&json!({"numericCompressionMode": "SDT"}));
        assert_eq!(unsupported, [FilterChangesError::SwingingDoor]);
    }
}
