//! What `lode pull` takes from live: a three-way comparison, per resource and per spec path, of
//! the spec last recorded in state (the base: what git and live agreed on at the last apply,
//! import or pull), the work tree's desired spec and the live spec. A live edit of a value git
//! did not touch is taken; a git edit live did not see is kept (the next apply writes it); a
//! value both changed differently is a conflict. Plain data in, plain data out: the workflow
//! turns the decisions into file edits.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::canonical::{SpecPath, canonical_spec, diff_paths, write_only_fields};
use super::plan::resolve_references;
use crate::manifest::{Address, Desired, Kind};
use crate::provider::LiveObject;
use crate::state::State;

/// A value live has and the manifests should: `git` is what the work tree says now.
#[derive(Debug, Clone, PartialEq)]
pub struct PathTake {
    pub path: SpecPath,
    pub git: Option<Value>,
    pub live: Option<Value>,
}

/// A value changed both in git since the base and live, differently.
#[derive(Debug, Clone, PartialEq)]
pub struct PullConflict {
    pub path: SpecPath,
    pub base: Option<Value>,
    pub git: Option<Value>,
    pub live: Option<Value>,
}

/// What pull does with one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePull {
    pub address: Address,
    /// Live edits to write into the manifests.
    pub takes: Vec<PathTake>,
    /// Git edits not applied yet: left as they are.
    pub keeps: Vec<SpecPath>,
    pub conflicts: Vec<PullConflict>,
    /// Paths that differ but that pull never writes, with why (secrets, references, rows).
    pub untouchable: Vec<(SpecPath, &'static str)>,
    /// Why the resource is not compared at all, if it is not.
    pub skipped: Option<String>,
}

impl ResourcePull {
    /// Nothing to take, keep or settle yet.
    pub fn new(address: &Address) -> ResourcePull {
        ResourcePull {
            address: address.clone(),
            takes: Vec::new(),
            keeps: Vec::new(),
            conflicts: Vec::new(),
            untouchable: Vec::new(),
            skipped: None,
        }
    }

    fn skipped(address: &Address, why: impl Into<String>) -> ResourcePull {
        ResourcePull {
            skipped: Some(why.into()),
            ..ResourcePull::new(address)
        }
    }

    /// Whether pull would change this resource's manifests.
    pub fn has_takes(&self) -> bool {
        !self.takes.is_empty()
    }
}

/// Why a differing path is never pulled, if it is not: a write-only or sensitive value (a
/// secret lode cannot or must not read back), a value the manifests take from another
/// resource (`${ref...}`: the reference is the truth, and `lode apply` writes it), table rows
/// (seed data, not configuration).
fn untouchable(
    kind: Kind,
    path: &SpecPath,
    raw_desired: &Value,
    sensitive: &[String],
) -> Option<&'static str> {
    let field = path.field().unwrap_or_default();
    if write_only_fields(kind).contains(&field) {
        return Some("a write-only secret: the live system never shows it");
    }
    if let Some(pointer) = path.pointer()
        && sensitive
            .iter()
            .any(|s| pointer == *s || pointer.starts_with(&format!("{s}/")))
    {
        return Some("a secret: pull never writes secrets into files");
    }
    if kind == Kind::Table && field == "rows" {
        return Some("table rows are seed data: `lode import --with-rows` writes them");
    }
    if path
        .get(raw_desired)
        .is_some_and(|raw| raw.to_string().contains("${ref."))
    {
        return Some("the manifests take it from another resource (`${ref...}`)");
    }
    None
}

/// Compares every selected resource the manifests declare, state records and live has.
/// `selected`: the addresses to compare (all declared ones when pulling everything).
pub fn compare(
    desired: &Desired,
    state: &State,
    live: &BTreeMap<Address, LiveObject>,
    selected: &BTreeSet<Address>,
) -> Vec<ResourcePull> {
    let (resolved, pending, _invalid) = resolve_references(desired, live, selected);
    let mut pulls = Vec::new();
    for address in selected {
        let Some(resource) = desired.resources.get(address) else {
            continue;
        };
        let Some(entry) = state.resources.get(address) else {
            pulls.push(ResourcePull::skipped(
                address,
                "not managed yet: `lode apply` or `lode import` first",
            ));
            continue;
        };
        let Some(object) = live.get(address) else {
            pulls.push(ResourcePull::skipped(
                address,
                "deleted live: `lode apply` creates it again",
            ));
            continue;
        };
        if let Some(waiting) = pending.get(address) {
            pulls.push(ResourcePull::skipped(
                address,
                format!("its spec waits for {waiting}"),
            ));
            continue;
        }
        let kind = address.kind;
        let Some(git) = resolved.get(address) else {
            continue;
        };
        let base = canonical_spec(kind, &entry.spec);
        let git = canonical_spec(kind, git);
        let live_spec = canonical_spec(kind, &object.spec);
        let mut pull = ResourcePull::new(address);
        for difference in diff_paths(kind, &git, &live_spec) {
            let path = difference.path;
            if let Some(why) = untouchable(kind, &path, &resource.spec, &entry.sensitive) {
                pull.untouchable.push((path, why));
                continue;
            }
            let base_value = path.get(&base).cloned();
            let git_changed = difference.before != base_value;
            let live_changed = difference.after != base_value;
            match (git_changed, live_changed) {
                (false, _) => pull.takes.push(PathTake {
                    path,
                    git: difference.before,
                    live: difference.after,
                }),
                (true, false) => pull.keeps.push(path),
                (true, true) => pull.conflicts.push(PullConflict {
                    path,
                    base: base_value,
                    git: difference.before,
                    live: difference.after,
                }),
            }
        }
        pulls.push(pull);
    }
    pulls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::canonical::SpecSegment;
    use crate::manifest::{DesiredResource, Lifecycle, Origin, SourceInfo};
    use crate::state::StateEntry;
    use serde_json::json;

    fn address(kind: Kind, name: &str) -> Address {
        Address {
            kind,
            name: name.to_string(),
        }
    }

    fn origin() -> Origin {
        Origin {
            file: "thing.yaml".into(),
            line: 1,
        }
    }

    /// One resource with its desired (git), recorded (base) and live specs.
    fn world(
        kind: Kind,
        git: Value,
        base: Value,
        live: Value,
    ) -> (Desired, State, BTreeMap<Address, LiveObject>, Address) {
        let at = address(kind, "thing");
        let mut desired = Desired {
            resources: BTreeMap::new(),
            checks: Vec::new(),
            source: SourceInfo {
                rev: None,
                commit: None,
                dirty: false,
                digest: String::new(),
            },
            secrets: Vec::new(),
        };
        desired.resources.insert(
            at.clone(),
            DesiredResource {
                address: at.clone(),
                spec: git,
                depends_on: Vec::new(),
                lifecycle: Lifecycle::default(),
                moved_from: None,
                origin: origin(),
            },
        );
        let mut state = State::new("test");
        state.resources.insert(
            at.clone(),
            StateEntry {
                id: None,
                spec: base,
                fingerprint: String::new(),
                depends_on: Vec::new(),
                lifecycle: Lifecycle::default(),
                revision: None,
                outputs: BTreeMap::new(),
                write_only: BTreeMap::new(),
                sensitive: Vec::new(),
            },
        );
        let live = BTreeMap::from([(at.clone(), LiveObject::plain(live))]);
        (desired, state, live, at)
    }

    fn pull_of(kind: Kind, git: Value, base: Value, live: Value) -> ResourcePull {
        let (desired, state, live, at) = world(kind, git, base, live);
        let mut pulls = compare(&desired, &state, &live, &BTreeSet::from([at]));
        assert_eq!(pulls.len(), 1);
        pulls.remove(0)
    }

    fn key(path: &str) -> SpecPath {
        SpecPath(
            path.split('.')
                .map(|k| SpecSegment::Key(k.to_string()))
                .collect(),
        )
    }

    #[test]
    fn issue_17_a_live_edit_git_did_not_touch_is_taken() {
        let pull = pull_of(
            Kind::GenieSpace,
            json!({"title": "Ops", "instructions": "old"}),
            json!({"title": "Ops", "instructions": "old"}),
            json!({"title": "Ops", "instructions": "new from the UI"}),
        );
        assert_eq!(
            pull.takes,
            vec![PathTake {
                path: key("instructions"),
                git: Some(json!("old")),
                live: Some(json!("new from the UI")),
            }]
        );
        assert!(pull.keeps.is_empty() && pull.conflicts.is_empty());
    }

    #[test]
    fn issue_17_a_git_edit_not_applied_yet_is_kept() {
        let pull = pull_of(
            Kind::GenieSpace,
            json!({"title": "Ops v2", "instructions": "old"}),
            json!({"title": "Ops", "instructions": "old"}),
            json!({"title": "Ops", "instructions": "old"}),
        );
        assert_eq!(pull.keeps, vec![key("title")]);
        assert!(pull.takes.is_empty() && pull.conflicts.is_empty());
    }

    #[test]
    fn issue_17_a_value_changed_on_both_sides_is_a_conflict_with_both_values() {
        let pull = pull_of(
            Kind::GenieSpace,
            json!({"title": "Ops", "instructions": "git's"}),
            json!({"title": "Ops", "instructions": "old"}),
            json!({"title": "Ops", "instructions": "live's"}),
        );
        assert_eq!(
            pull.conflicts,
            vec![PullConflict {
                path: key("instructions"),
                base: Some(json!("old")),
                git: Some(json!("git's")),
                live: Some(json!("live's")),
            }]
        );
        assert!(pull.takes.is_empty());
    }

    #[test]
    fn issue_17_the_same_edit_on_both_sides_is_nothing_to_pull() {
        let pull = pull_of(
            Kind::GenieSpace,
            json!({"instructions": "same"}),
            json!({"instructions": "old"}),
            json!({"instructions": "same"}),
        );
        assert_eq!(pull, ResourcePull::new(&address(Kind::GenieSpace, "thing")));
    }

    #[test]
    fn issue_17_a_udt_member_added_live_is_one_named_take_and_other_edits_stay_apart() {
        let member =
            |name: &str, high: i64| json!({"name": name, "tagType": "AtomicTag", "engHigh": high});
        let pull = pull_of(
            Kind::Udt,
            json!({"tags": [member("Speed", 70)]}),
            json!({"tags": [member("Speed", 60)]}),
            json!({"tags": [member("Speed", 60), member("Load", 100)]}),
        );
        assert_eq!(
            pull.takes,
            vec![PathTake {
                path: SpecPath(vec![
                    SpecSegment::Key("tags".into()),
                    SpecSegment::Named("Load".into())
                ]),
                git: None,
                live: Some(member("Load", 100)),
            }]
        );
        // Git's new limit for Speed waits for the next apply; it is not a conflict.
        assert_eq!(pull.keeps.len(), 1);
        assert_eq!(pull.keeps[0].to_string(), "tags[Speed].engHigh");
        assert!(pull.conflicts.is_empty());
    }

    #[test]
    fn issue_17_a_view_is_compared_whole() {
        let pull = pull_of(
            Kind::PerspectiveView,
            json!({"view": {"root": {"type": "flex", "children": []}}}),
            json!({"view": {"root": {"type": "flex", "children": []}}}),
            json!({"view": {"root": {"type": "flex", "children": [{"type": "label"}]}}}),
        );
        assert_eq!(pull.takes.len(), 1);
        assert_eq!(pull.takes[0].path, key("view"));
    }

    #[test]
    fn issue_17_secrets_references_and_rows_are_never_pulled() {
        let pull = pull_of(
            Kind::ZerobusConnection,
            json!({"oauthClientSecret": "s3cret", "targetTable": "${ref.table.bronze.full_name}", "batchSize": 500}),
            json!({"oauthClientSecret": "****", "targetTable": "main.s.bronze", "batchSize": 500}),
            json!({"oauthClientSecret": "****", "targetTable": "main.s.other", "batchSize": 500}),
        );
        // The reference cannot be resolved (no such table live): the resource waits for it.
        assert!(pull.skipped.is_some(), "{pull:?}");

        let (mut desired, state, mut live, at) = world(
            Kind::ZerobusConnection,
            json!({"oauthClientSecret": "s3cret", "targetTable": "${ref.table.bronze.full_name}", "batchSize": 500}),
            json!({"oauthClientSecret": "****", "targetTable": "main.s.bronze", "batchSize": 500}),
            json!({"oauthClientSecret": "****", "targetTable": "main.s.other", "batchSize": 1000}),
        );
        let table = address(Kind::Table, "bronze");
        let mut bronze = LiveObject::plain(json!({"name": "bronze"}));
        bronze
            .outputs
            .insert("full_name".into(), json!("main.s.bronze"));
        live.insert(table.clone(), bronze);
        desired.resources.insert(
            table.clone(),
            DesiredResource {
                address: table.clone(),
                spec: json!({"name": "bronze"}),
                depends_on: Vec::new(),
                lifecycle: Lifecycle::default(),
                moved_from: None,
                origin: origin(),
            },
        );
        let pulls = compare(&desired, &state, &live, &BTreeSet::from([at]));
        let pull = &pulls[0];
        assert_eq!(pull.takes.len(), 1, "{pull:?}");
        assert_eq!(pull.takes[0].path, key("batchSize"));
        let untouchable: Vec<String> = pull
            .untouchable
            .iter()
            .map(|(path, _)| path.to_string())
            .collect();
        assert_eq!(untouchable, ["oauthClientSecret", "targetTable"]);

        let rows = pull_of(
            Kind::Table,
            json!({"comment": "c", "rows": [{"id": 1}]}),
            json!({"comment": "c", "rows": [{"id": 1}]}),
            json!({"comment": "c", "rows": [{"id": 2}]}),
        );
        assert!(rows.takes.is_empty());
        assert_eq!(rows.untouchable.len(), 1);
    }

    #[test]
    fn issue_17_unmanaged_and_deleted_resources_are_skipped_with_why() {
        let (desired, mut state, mut live, at) =
            world(Kind::GenieSpace, json!({}), json!({}), json!({}));
        live.clear();
        let pulls = compare(&desired, &state, &live, &BTreeSet::from([at.clone()]));
        assert!(
            pulls[0]
                .skipped
                .as_deref()
                .unwrap()
                .contains("deleted live")
        );
        state.resources.clear();
        let pulls = compare(&desired, &state, &live, &BTreeSet::from([at]));
        assert!(
            pulls[0]
                .skipped
                .as_deref()
                .unwrap()
                .contains("not managed yet")
        );
    }
}
