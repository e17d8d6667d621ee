//! `tag_count` checks: reading one tag provider's tags and UDT definitions (from the gateway's
//! data directory, or from one tag export over the API) and counting what is under a folder.
//! An instance's tags are its UDT's members, resolved from the definitions: inherited members
//! of parent types, member folders and nested UDT instances included, as the gateway would
//! materialise them. Folders are not counted; atomic tags are.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Measured, VerifyContext, judge, number};
use crate::manifest::kinds::CheckSpec;
use lode_wire::ignition::tag_files::TagFolder;

use super::TagSource;

/// One provider's tags and UDT definitions, each by path, as configuration without `name`
/// (UDT definitions keep their member `tags`).
#[derive(Debug, Clone, Default)]
pub struct TagTree {
    pub tags: BTreeMap<String, Value>,
    /// By path under `_types_`.
    pub types: BTreeMap<String, Value>,
}

/// Deepest UDT nesting followed; a deeper (or cyclic) definition is reported, not followed.
const MAX_DEPTH: usize = 16;

/// Reads `provider`'s tags and types from `source`.
pub fn read_tree(source: &TagSource, provider: &str) -> Result<TagTree, String> {
    match source {
        TagSource::Files {
            data_dir,
            collection,
        } => {
            let base = data_dir
                .join("config/resources")
                .join(collection)
                .join("ignition");
            let tags = TagFolder::new(base.join("tag-definition").join(provider))
                .read_all()
                .map_err(|e| format!("reading tags of provider {provider}: {e}"))?;
            let types = TagFolder::new(base.join("tag-type-definition").join(provider))
                .read_all()
                .map_err(|e| format!("reading UDT definitions of provider {provider}: {e}"))?;
            Ok(TagTree { tags, types })
        }
        TagSource::Api(gateway) => {
            let (tags, types) = crate::provider::ignition::api::export_tags(gateway, provider)
                .map_err(|e| format!("exporting the tags of provider {provider}: {e}"))?;
            Ok(TagTree { tags, types })
        }
    }
}

fn tag_type(config: &Value) -> &str {
    config
        .get("tagType")
        .and_then(Value::as_str)
        .unwrap_or("AtomicTag")
}

fn text<'a>(config: &'a Value, field: &str) -> Option<&'a str> {
    config
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Entries strictly under `folder` (everything, for an empty folder).
fn under<'a>(tree: &'a TagTree, folder: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    let prefix = format!("{folder}/");
    tree.tags
        .iter()
        .filter(move |(path, _)| folder.is_empty() || path.starts_with(&prefix))
}

/// A UDT's members with its parents' merged in (the child's member wins by name).
fn members(tree: &TagTree, type_id: &str, depth: usize) -> Result<Vec<Value>, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "UDT {type_id} nests deeper than {MAX_DEPTH} levels (a cycle?)"
        ));
    }
    let definition = tree
        .types
        .get(type_id)
        .ok_or_else(|| format!("UDT {type_id} is not defined on the gateway"))?;
    let own: Vec<Value> = definition
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(parent) = text(definition, "typeId") else {
        return Ok(own);
    };
    let mut merged = members(tree, parent, depth + 1)?;
    for member in own {
        let name = text(&member, "name");
        match merged
            .iter_mut()
            .find(|m| name.is_some() && text(m, "name") == name)
        {
            Some(existing) => {
                // An override without a tagType keeps the parent member's type.
                if member.get("tagType").is_some() {
                    *existing = member;
                }
            }
            None => merged.push(member),
        }
    }
    Ok(merged)
}

/// Atomic tags in a list of members (recursing into member folders and nested instances).
fn atomic_in(tree: &TagTree, members_list: &[Value], depth: usize) -> Result<u64, String> {
    let mut count = 0;
    for member in members_list {
        count += match tag_type(member) {
            "Folder" => atomic_in(
                tree,
                member
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                depth,
            )?,
            "UdtInstance" => {
                let type_id = text(member, "typeId")
                    .ok_or_else(|| "a nested UDT instance member has no typeId".to_string())?;
                atomic_in(tree, &members(tree, type_id, depth + 1)?, depth + 1)?
            }
            _ => 1,
        };
    }
    Ok(count)
}

/// Atomic tags under `folder`: atomic tags themselves plus every UDT instance's members.
/// Instances whose UDT cannot be resolved are not counted and are named in the second value.
pub fn count_atomic_tags(tree: &TagTree, folder: &str) -> (u64, Vec<String>) {
    let mut count = 0;
    let mut problems = Vec::new();
    for (path, config) in under(tree, folder) {
        match tag_type(config) {
            "Folder" => {}
            "UdtInstance" => {
                let resolved = text(config, "typeId")
                    .ok_or_else(|| "it has no typeId".to_string())
                    .and_then(|type_id| atomic_in(tree, &members(tree, type_id, 0)?, 0));
                match resolved {
                    Ok(n) => count += n,
                    Err(why) => problems.push(format!("{path}: {why}")),
                }
            }
            _ => count += 1,
        }
    }
    (count, problems)
}

/// UDT instances of `udt` under `folder`.
pub fn count_instances(tree: &TagTree, folder: &str, udt: &str) -> u64 {
    under(tree, folder)
        .filter(|(_, config)| {
            tag_type(config) == "UdtInstance" && text(config, "typeId") == Some(udt)
        })
        .count() as u64
}

/// `[provider]Mining/Equipment` or `Mining/Equipment` with `provider:` (default `default`).
fn provider_and_folder(spec: &CheckSpec) -> (String, String) {
    let path = spec.path.clone().unwrap_or_default();
    if let Some(rest) = path.strip_prefix('[')
        && let Some((provider, folder)) = rest.split_once(']')
    {
        return (provider.to_string(), folder.trim_matches('/').to_string());
    }
    (
        spec.provider
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        path.trim_matches('/').to_string(),
    )
}

pub(super) fn measure(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let (provider, folder) = provider_and_folder(spec);
    let tree = match context.tag_tree(&provider) {
        Ok(tree) => tree,
        Err(measured) => return measured,
    };
    if !folder.is_empty() && !tree.tags.contains_key(&folder) {
        return Measured::fail(
            number(0.0),
            format!("provider {provider} has no tag folder {folder}"),
        );
    }
    match &spec.instances_of {
        Some(udt) => {
            let count = count_instances(&tree, &folder, udt);
            judge(
                spec,
                number(count as f64),
                Some(format!("{udt} instances under [{provider}]{folder}")),
            )
        }
        None => {
            let (count, problems) = count_atomic_tags(&tree, &folder);
            let detail = if problems.is_empty() {
                format!("atomic tags under [{provider}]{folder}")
            } else {
                format!(
                    "atomic tags under [{provider}]{folder}; not counted: {}",
                    problems.join("; ")
                )
            };
            judge(spec, number(count as f64), Some(detail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree() -> TagTree {
        let mut tree = TagTree::default();
        tree.types.insert(
            "Base".into(),
            json!({"tagType": "UdtType", "tags": [
                {"name": "A", "tagType": "AtomicTag"},
                {"name": "B"},
            ]}),
        );
        tree.types.insert(
            "Pump".into(),
            json!({"tagType": "UdtType", "typeId": "Base", "tags": [
                {"name": "B", "value": 3},
                {"name": "C", "tagType": "AtomicTag"},
                {"name": "Motor", "tagType": "Folder", "tags": [
                    {"name": "Amps", "tagType": "AtomicTag"},
                    {"name": "Temp", "tagType": "AtomicTag"},
                ]},
                {"name": "Valve", "tagType": "UdtInstance", "typeId": "Base"},
            ]}),
        );
        tree.tags
            .insert("Plant".into(), json!({"tagType": "Folder"}));
        tree.tags.insert(
            "Plant/P1".into(),
            json!({"tagType": "UdtInstance", "typeId": "Pump"}),
        );
        tree.tags.insert(
            "Plant/P2".into(),
            json!({"tagType": "UdtInstance", "typeId": "Pump"}),
        );
        tree.tags
            .insert("Plant/Area".into(), json!({"tagType": "Folder"}));
        tree.tags.insert(
            "Plant/Area/B1".into(),
            json!({"tagType": "UdtInstance", "typeId": "Base"}),
        );
        tree.tags
            .insert("Plant/Mode".into(), json!({"tagType": "AtomicTag"}));
        tree.tags
            .insert("Other/X".into(), json!({"tagType": "AtomicTag"}));
        tree
    }

    #[test]
    fn counts_inherited_folder_and_nested_instance_members() {
        // Pump: A, B (inherited, overridden), C, Motor/Amps, Motor/Temp, Valve/{A,B} = 7.
        // Plant: 2 pumps (14) + B1 (2) + Mode (1) = 17.
        assert_eq!(count_atomic_tags(&tree(), "Plant"), (17, vec![]));
        assert_eq!(count_atomic_tags(&tree(), "Plant/Area"), (2, vec![]));
        assert_eq!(count_atomic_tags(&tree(), ""), (18, vec![]));
        assert_eq!(count_instances(&tree(), "Plant", "Pump"), 2);
        assert_eq!(count_instances(&tree(), "Plant", "Base"), 1);
        // A prefix that is not a whole folder name does not match.
        assert_eq!(count_atomic_tags(&tree(), "Pla").0, 0);
    }

    #[test]
    fn an_undefined_udt_is_named_not_counted() {
        let mut tree = tree();
        tree.tags.insert(
            "Plant/Ghost".into(),
            json!({"tagType": "UdtInstance", "typeId": "Nope"}),
        );
        let (count, problems) = count_atomic_tags(&tree, "Plant");
        assert_eq!(count, 17);
        assert_eq!(
            problems,
            vec!["Plant/Ghost: UDT Nope is not defined on the gateway"]
        );
    }

    #[test]
    fn a_cyclic_definition_is_reported() {
        let mut tree = TagTree::default();
        tree.types.insert(
            "Loop".into(),
            json!({"tagType": "UdtType", "typeId": "Loop", "tags": []}),
        );
        tree.tags.insert(
            "L".into(),
            json!({"tagType": "UdtInstance", "typeId": "Loop"}),
        );
        let (count, problems) = count_atomic_tags(&tree, "");
        assert_eq!(count, 0);
        assert!(problems[0].contains("cycle"), "{problems:?}");
    }
}
