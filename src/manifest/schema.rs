//! The JSON Schema of the manifest format (`lode schema`), generated from the same typed specs
//! that validation uses, so editors and `lode validate` cannot disagree.

use schemars::{JsonSchema, Schema, schema_for};
use serde_json::{Value, json};

use super::Lifecycle;
use super::kinds::*;

fn document_schema<S: JsonSchema>(kind: Kind) -> Value {
    let spec = serde_json::to_value(schema_for!(S)).expect("schemas serialise");
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "name", "spec"],
        "properties": {
            "kind": {"const": kind.as_str()},
            "name": {"type": "string", "minLength": 1},
            "depends_on": {"type": "array", "items": {"type": "string", "pattern": "^[a-z_]+/.+$"}},
            "lifecycle": serde_json::to_value(schema_for!(Lifecycle)).expect("schemas serialise"),
            "spec": spec,
        }
    })
}

/// One schema accepting any manifest document (`oneOf` by `kind`).
pub fn manifest_schema() -> Schema {
    let kinds: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|kind| match kind {
            Kind::Project => document_schema::<ProjectSpec>(kind),
            Kind::Udt => document_schema::<UdtSpec>(kind),
            Kind::Tag => document_schema::<TagConfig>(kind),
            Kind::GatewayScript => document_schema::<GatewayScriptSpec>(kind),
            Kind::PerspectiveView => document_schema::<PerspectiveViewSpec>(kind),
            Kind::PageConfig => document_schema::<PageConfigSpec>(kind),
            Kind::SessionProps => document_schema::<SessionPropsSpec>(kind),
            Kind::SessionEvent => document_schema::<SessionEventSpec>(kind),
        })
        .collect();
    let value = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lode manifest",
        "description": "One YAML document of a lode manifest file: kind, name, spec, optional depends_on and lifecycle.",
        "oneOf": kinds,
    });
    Schema::try_from(value).expect("an object is a schema")
}
