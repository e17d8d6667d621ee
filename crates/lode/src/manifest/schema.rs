//! The JSON Schema of the manifest format (`lode schema`), generated from the same typed specs
//! that validation uses, so editors and `lode validate` cannot disagree. One generator serves
//! every kind, so shared definitions (tag configuration, alarms) live once under the root
//! `$defs`, where every `$ref` points. Verification checks (`kind: check`) are documents too and
//! have their own entry.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

use super::Lifecycle;
use super::kinds::*;

fn document_schema<S: JsonSchema>(generator: &mut SchemaGenerator, kind: Kind) -> Value {
    let spec = generator.subschema_for::<S>().to_value();
    let lifecycle = generator.subschema_for::<Lifecycle>().to_value();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "name", "spec"],
        "properties": {
            "kind": {"const": kind.as_str()},
            "name": {"type": "string", "minLength": 1},
            "depends_on": {"type": "array", "items": {"type": "string", "pattern": "^[a-z_]+/.+$"}},
            "lifecycle": lifecycle,
            "moved": {
                "type": "object",
                "description": "The address this resource had before a rename: its state entry moves here instead of the object being deleted.",
                "properties": {"from": {"type": "string", "pattern": "^[a-z_]+/.+$"}},
                "required": ["from"],
                "additionalProperties": false
            },
            "spec": spec,
        }
    })
}

/// A `kind: check` document: verification, not a resource, so no `depends_on` or `lifecycle`.
fn check_schema(generator: &mut SchemaGenerator) -> Value {
    let spec = generator.subschema_for::<CheckSpec>().to_value();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "name", "spec"],
        "properties": {
            "kind": {"const": "check"},
            "name": {"type": "string", "minLength": 1},
            "spec": spec,
        }
    })
}

/// One schema accepting any manifest document (`oneOf` by `kind`; resource kinds, then
/// `check`).
pub fn manifest_schema() -> Schema {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut kinds: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|kind| match kind {
            Kind::Project => document_schema::<ProjectSpec>(&mut generator, kind),
            Kind::Udt => document_schema::<UdtSpec>(&mut generator, kind),
            Kind::Tag => document_schema::<TagConfig>(&mut generator, kind),
            Kind::GatewayScript => document_schema::<GatewayScriptSpec>(&mut generator, kind),
            Kind::PerspectiveView => document_schema::<PerspectiveViewSpec>(&mut generator, kind),
            Kind::PageConfig => document_schema::<PageConfigSpec>(&mut generator, kind),
            Kind::SessionProps => document_schema::<SessionPropsSpec>(&mut generator, kind),
            Kind::SessionEvent => document_schema::<SessionEventSpec>(&mut generator, kind),
            Kind::Schema => document_schema::<SchemaSpec>(&mut generator, kind),
            Kind::Table => document_schema::<TableSpec>(&mut generator, kind),
            Kind::Pipeline => document_schema::<PipelineSpec>(&mut generator, kind),
            Kind::GenieSpace => document_schema::<GenieSpaceSpec>(&mut generator, kind),
            Kind::QualityMonitor => document_schema::<QualityMonitorSpec>(&mut generator, kind),
            Kind::WorkspaceFile => document_schema::<WorkspaceFileSpec>(&mut generator, kind),
            Kind::ZerobusConnection => {
                document_schema::<ZerobusConnectionSpec>(&mut generator, kind)
            }
        })
        .collect();
    kinds.push(check_schema(&mut generator));
    let value = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lode manifest",
        "description": "One YAML document of a lode manifest file: kind, name, spec, optional depends_on, lifecycle and moved.",
        "oneOf": kinds,
        "$defs": generator.take_definitions(true),
    });
    Schema::try_from(value).expect("an object is a schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    found.push(r.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_from_the_root() {
        let schema = manifest_schema().to_value();
        let mut found = Vec::new();
        refs(&schema, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.strip_prefix('#').expect("local refs only");
            assert!(
                schema.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }
}
