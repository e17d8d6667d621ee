//! Planning: a three-way comparison of what was last applied (state), what the manifests want
//! (desired) and what is there (live), per resource, into a `Plan` value. Each change carries its
//! action, the reason for it, its risk, its field changes and, when a guard refuses it, why and
//! which flag would allow it. Plans are plain data: rendered by `render`, saved to a file, and
//! executed by `apply`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::{FieldChange, canonical_spec, diff_fields, write_only_fields};
use super::graph;
use super::refs;
use crate::manifest::{Address, Desired, Kind, Lifecycle, SourceInfo};
use crate::provider::{ChangeOptions, LiveObject, PIPELINE_LAST_UPDATE};
use crate::redact::{MASK, sensitive_pointers};
use crate::state::{State, StateEntry};

/// The version of the plan JSON format (`docs/plan-format.md`).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    /// Delete and create, always with a reason.
    Replace,
    Delete,
    /// Stop managing the object and leave it in place.
    Forget,
    NoOp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Forget => "forget",
            Action::NoOp => "no-op",
        }
    }
}

/// How much a reviewer should look at a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// A change a guard refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocked {
    pub reason: String,
    /// The flag that would allow it.
    pub allow_with: String,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (allow with {})", self.reason, self.allow_with)
    }
}

/// One resource in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub risk: Risk,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
    /// The object exists but `lode` did not manage it: it is taken into state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// The live object differs from what `lode` last applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Fingerprint of the live object this plan was made from (`None`: it did not exist).
    #[serde(default)]
    pub live_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// The address the object had in state before (`moved: {from: ...}`): its state entry is
    /// carried over to this address, and the old address leaves state without a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
}

impl ResourceChange {
    /// Whether applying the plan calls a provider or writes state for this resource.
    pub fn needs_apply(&self) -> bool {
        self.blocked.is_none() && (self.changes_something())
    }

    /// Whether the change does anything at all (blocked or not): an action, an adoption or a
    /// move in state.
    pub fn changes_something(&self) -> bool {
        self.action != Action::NoOp || self.adopt || self.moved_from.is_some()
    }
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub delete: usize,
    pub forget: usize,
    pub unchanged: usize,
    pub blocked: usize,
    pub adopt: usize,
    /// Changes with `moved_from`: state entries carried over to a new address.
    #[serde(default)]
    pub moved: usize,
}

/// The state a plan was made against; a saved plan is refused if it moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRef {
    pub lineage: String,
    pub serial: u64,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub environment: String,
    pub source: SourceInfo,
    /// Digest of every desired spec after interpolation (so also of values that came from
    /// environment variables), keyed by the state lineage.
    pub desired_digest: String,
    pub state: StateRef,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// What the plan allows providers to do (`--allow-data-loss`, `--allow-full-refresh`).
    #[serde(default)]
    pub change_options: ChangeOptions,
    pub summary: Summary,
    /// In apply order: creates and updates by dependency, deletes after in reverse order.
    pub changes: Vec<ResourceChange>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(ResourceChange::changes_something)
    }
}

/// A digest of everything the manifests want, keyed by `lineage` so that it reveals nothing
/// about secret values; a saved plan is refused when it no longer matches.
pub fn desired_digest(desired: &Desired, lineage: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(lineage.as_bytes());
    for (address, resource) in &desired.resources {
        hasher.update([0]);
        hasher.update(address.to_string().as_bytes());
        hasher.update([0]);
        hasher.update(super::canonical::canonical_json(&resource.spec).as_bytes());
        hasher.update([0]);
        hasher.update(
            serde_json::to_string(&resource.lifecycle)
                .expect("lifecycle serialises")
                .as_bytes(),
        );
    }
    hex::encode(hasher.finalize())
}

/// Where a spec holds secret values: strings containing a secret now, and whatever was
/// sensitive when it was last applied (the old value is still live there).
fn sensitive_paths(spec: &Value, secrets: &[String], prior: Option<&StateEntry>) -> Vec<String> {
    let mut paths = sensitive_pointers(spec, secrets);
    for path in prior.into_iter().flat_map(|p| &p.sensitive) {
        if !paths.contains(path) {
            paths.push(path.clone());
        }
    }
    paths
}

/// Field changes with secret values replaced on both sides, so that neither the old nor the
/// new value of a secret reaches a plan; a changed secret still shows as a change.
fn masked_diff(
    kind: Kind,
    live: &Value,
    desired: &Value,
    sensitive: &[String],
) -> Vec<FieldChange> {
    if sensitive.is_empty() {
        return diff_fields(kind, live, desired);
    }
    let mut live = live.clone();
    let mut desired = desired.clone();
    for pointer in sensitive {
        let changed = live.pointer(pointer) != desired.pointer(pointer);
        if let Some(slot) = live.pointer_mut(pointer) {
            *slot = Value::String(MASK.to_string());
        }
        if let Some(slot) = desired.pointer_mut(pointer) {
            let mask = if changed && live.pointer(pointer).is_some() {
                "(sensitive, changed)"
            } else {
                MASK
            };
            *slot = Value::String(mask.to_string());
        }
    }
    diff_fields(kind, &live, &desired)
}

/// Each desired spec with its `${ref...}` resolved where the referenced object exists and will
/// not change; the others hold "known after apply", and are listed with what they wait for.
pub(crate) fn resolve_references(
    desired: &Desired,
    live: &BTreeMap<Address, LiveObject>,
    selected: &BTreeSet<Address>,
) -> (
    BTreeMap<Address, Value>,
    BTreeMap<Address, String>,
    BTreeMap<Address, refs::Unresolved>,
) {
    let mut resolved: BTreeMap<Address, Value> = BTreeMap::new();
    let mut unchanged: BTreeSet<Address> = BTreeSet::new();
    let mut pending = BTreeMap::new();
    let mut invalid = BTreeMap::new();
    // An object this plan does not cover (a targeted plan's untargeted ones) is settled as it
    // is live: nothing in this apply changes it, so its values are known now.
    let settled = |target: &Address, unchanged: &BTreeSet<Address>| {
        unchanged.contains(target) || (!selected.contains(target) && live.contains_key(target))
    };
    for address in graph::dependency_order(desired) {
        let resource = &desired.resources[&address];
        let (spec, missing) = refs::resolve(&resource.spec, &|target, field| {
            if settled(target, &unchanged) {
                live.get(target).and_then(|l| l.field(field))
            } else {
                None
            }
        });
        // A reference to an object that exists and is settled, but has no such field, is a
        // mistake in the manifests, not a value to wait for.
        let bad_field = missing.iter().find(|m| settled(&m.address, &unchanged));
        if let Some(bad) = bad_field {
            invalid.insert(address.clone(), bad.clone());
        } else if let Some(first) = missing.first() {
            pending.insert(address.clone(), first.to_string());
        } else if let Some(object) = live.get(&address) {
            let kind = address.kind;
            if diff_fields(
                kind,
                &canonical_spec(kind, &object.spec),
                &canonical_spec(kind, &spec),
            )
            .is_empty()
            {
                unchanged.insert(address.clone());
            }
        }
        resolved.insert(address, spec);
    }
    (resolved, pending, invalid)
}

/// A delete of an address whose live object another address wants (a renamed document without
/// `moved:`) would destroy what the manifests still declare: both changes are blocked, and the
/// way out is a move. The same object is the same locator (a table's full name, a script's
/// project and resource path...) or the same live id.
fn block_deletes_of_wanted_objects(
    changes: &mut BTreeMap<Address, ResourceChange>,
    desired: &Desired,
    state: &State,
    live: &BTreeMap<Address, LiveObject>,
    resolved: &BTreeMap<Address, Value>,
) {
    let deleted: Vec<Address> = changes
        .values()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.clone())
        .collect();
    for old in deleted {
        let Some(prior) = state.resources.get(&old) else {
            continue;
        };
        let old_locator = crate::manifest::locator(old.kind, &old.name, &prior.spec);
        let old_id = live.get(&old).and_then(|l| l.id.clone());
        let same = desired.resources.keys().find(|new| {
            if new.kind != old.kind || **new == old {
                return false;
            }
            let spec = resolved.get(*new).unwrap_or(&desired.resources[*new].spec);
            crate::manifest::locator(new.kind, &new.name, spec) == old_locator
                || (old_id.is_some() && live.get(*new).and_then(|l| l.id.clone()) == old_id)
        });
        let Some(new) = same.cloned() else {
            continue;
        };
        let hint = format!(
            "`moved: {{from: {old}}}` on the document of {new}, or `lode state mv {old} {new}`"
        );
        if let Some(change) = changes.get_mut(&old) {
            change.blocked = Some(Blocked {
                reason: format!(
                    "{new} wants the same live object ({old_locator}): deleting {old} would destroy it"
                ),
                allow_with: hint.clone(),
            });
            change.risk = Risk::High;
        }
        if let Some(change) = changes.get_mut(&new)
            && change.changes_something()
            && !state.resources.contains_key(&new)
        {
            change.blocked = Some(Blocked {
                reason: format!(
                    "it is the live object of {old} in state ({old_locator}), which this plan would delete"
                ),
                allow_with: hint,
            });
            change.risk = Risk::High;
        }
    }
}

/// Switches that change what the planner allows.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--target`: addresses, kinds, systems or address prefixes.
    pub targets: Vec<String>,
    /// `--allow-delete-protected`.
    pub allow_delete_protected: bool,
    /// `--allow-data-loss`: dropping tables or columns, retyping columns.
    pub allow_data_loss: bool,
    /// `--allow-full-refresh`.
    pub allow_full_refresh: bool,
    /// `--no-data`: every step that would change table data is blocked (and listed).
    pub no_data: bool,
    /// What the environment's providers cannot do (e.g. delete tags through the 8.3 API).
    pub limitations: Vec<crate::provider::Limitation>,
}

impl PlanOptions {
    /// The options a saved plan was made with, to derive it again.
    pub fn of_plan(plan: &Plan) -> PlanOptions {
        PlanOptions {
            targets: plan.targets.clone(),
            allow_delete_protected: plan.change_options.allow_delete_protected,
            allow_data_loss: plan.change_options.allow_data_loss,
            allow_full_refresh: plan.change_options.allow_full_refresh,
            no_data: plan.change_options.no_data,
            limitations: Vec::new(),
        }
    }
}

/// Why a change would destroy table data, if it would.
fn data_loss(
    kind: Kind,
    action: Action,
    live: Option<&Value>,
    desired: Option<&Value>,
) -> Option<String> {
    if kind != Kind::Table {
        return None;
    }
    match action {
        Action::Delete => return Some("dropping the table deletes its data".to_string()),
        Action::Replace => return Some("replacing the table drops it and its data".to_string()),
        Action::Update => {}
        _ => return None,
    }
    crate::manifest::table_data::rewrite_reason(live?, desired?)
}

/// Whether `address` is selected by a `--target` value.
pub fn target_matches(target: &str, address: &Address) -> bool {
    let text = address.to_string();
    let target = target.trim_end_matches('/');
    text == target
        || address.kind.as_str() == target
        || address.kind.system() == target
        || text.starts_with(&format!("{target}/"))
}

/// Fields whose change moves the object: it must be deleted and created again.
fn replace_reason(kind: Kind, before: &Value, after: &Value) -> Option<String> {
    let field = |v: &Value, f: &str| v.get(f).cloned().unwrap_or(Value::Null);
    let identity: &[&str] = match kind {
        Kind::Udt | Kind::Tag => &["provider"],
        Kind::GatewayScript => &["project", "type", "resource_name"],
        Kind::PerspectiveView => &["project", "view_path"],
        Kind::PageConfig | Kind::SessionProps => &["project"],
        Kind::SessionEvent => &["project", "event"],
        Kind::Project | Kind::GenieSpace | Kind::ZerobusConnection => &[],
        Kind::Schema => &["catalog", "name"],
        Kind::Table => &["catalog", "schema", "name"],
        Kind::Pipeline => &["catalog", "storage"],
        Kind::QualityMonitor => &["table", "assets_dir"],
        Kind::WorkspaceFile => &["path"],
    };
    for name in identity {
        if field(before, name) != field(after, name) {
            let place = if kind.system() == "ignition" {
                "in the gateway"
            } else {
                "in the workspace"
            };
            return Some(format!("`{name}` changed, which moves the object {place}"));
        }
    }
    if kind == Kind::Tag && field(before, "tagType") != field(after, "tagType") {
        return Some("`tagType` changed, which Ignition cannot change in place".to_string());
    }
    None
}

/// The moves this plan makes in state, new address → old: each resource declared with
/// `moved: {from: OLD}` whose old address is in state and whose new one is not yet. (Once the
/// move is recorded, `moved:` is history and does nothing.)
pub fn moves(desired: &Desired, state: &State) -> BTreeMap<Address, Address> {
    desired
        .resources
        .values()
        .filter_map(|r| Some((r.address.clone(), r.moved_from.clone()?)))
        .filter(|(to, from)| {
            !state.resources.contains_key(to) && state.resources.contains_key(from)
        })
        .collect()
}

/// What lode last applied for `address`: its own state entry, or the one it moves from.
pub fn prior_entry<'a>(
    address: &Address,
    state: &'a State,
    moves: &BTreeMap<Address, Address>,
) -> Option<&'a StateEntry> {
    state
        .resources
        .get(address)
        .or_else(|| state.resources.get(moves.get(address)?))
}

/// Which resources the plan covers, before targeting: an address moved away from is covered
/// by the address it moved to.
fn all_addresses(desired: &Desired, state: &State) -> BTreeSet<Address> {
    let moves = moves(desired, state);
    let moved_away: BTreeSet<&Address> = moves.values().collect();
    desired
        .resources
        .keys()
        .chain(state.resources.keys().filter(|a| !moved_away.contains(a)))
        .cloned()
        .collect()
}

/// The addresses selected by `targets`, plus dependencies that do not exist yet (so a targeted
/// create cannot fail for a missing parent).
pub fn select_addresses(desired: &Desired, state: &State, targets: &[String]) -> BTreeSet<Address> {
    let all = all_addresses(desired, state);
    if targets.is_empty() {
        return all;
    }
    let mut selected: BTreeSet<Address> = all
        .iter()
        .filter(|a| targets.iter().any(|t| target_matches(t, a)))
        .cloned()
        .collect();
    let mut queue: Vec<Address> = selected.iter().cloned().collect();
    while let Some(address) = queue.pop() {
        if let Some(resource) = desired.resources.get(&address) {
            for dependency in &resource.depends_on {
                if !state.resources.contains_key(dependency) && selected.insert(dependency.clone())
                {
                    queue.push(dependency.clone());
                }
            }
        }
    }
    selected
}

/// Builds the plan for `selected` addresses from desired, state and live.
pub fn build_plan(
    desired: &Desired,
    state: &State,
    live: &BTreeMap<Address, LiveObject>,
    selected: &BTreeSet<Address>,
    options: &PlanOptions,
    environment: &str,
) -> Plan {
    let (resolved, pending, invalid) = resolve_references(desired, live, selected);
    let moves = moves(desired, state);
    let mut changes: BTreeMap<Address, ResourceChange> = BTreeMap::new();
    for address in selected {
        let want = desired.resources.get(address);
        let prior = prior_entry(address, state, &moves);
        let have = live.get(address);
        let kind = address.kind;
        let mut live_spec = have.map(|l| canonical_spec(kind, &l.spec));
        // A table without seed rows in its manifest leaves its data alone: rows are not compared.
        if kind == Kind::Table
            && want.is_some_and(|w| w.spec.get("rows").is_none())
            && let Some(Value::Object(spec)) = live_spec.as_mut()
        {
            spec.remove("rows");
        }
        let live_fingerprint = have.map(|l| state.fingerprint(&l.spec));
        let drift = match (prior, &live_fingerprint) {
            (Some(prior), Some(fingerprint)) => &prior.fingerprint != fingerprint,
            (Some(_), None) => true,
            _ => false,
        };
        let mut change = ResourceChange {
            address: address.clone(),
            action: Action::NoOp,
            reason: None,
            risk: Risk::Low,
            blocked: None,
            adopt: false,
            drift,
            fields: Vec::new(),
            live_fingerprint,
            depends_on: Vec::new(),
            lifecycle: Lifecycle::default(),
            moved_from: moves.get(address).cloned(),
        };
        match (want, &live_spec) {
            (Some(want), None) => {
                let spec = canonical_spec(kind, &resolved[address]);
                change.action = Action::Create;
                let sensitive = sensitive_paths(&spec, &desired.secrets, prior);
                change.fields =
                    masked_diff(kind, &Value::Object(Default::default()), &spec, &sensitive);
                change.lifecycle = want.lifecycle;
                change.depends_on = want.depends_on.clone();
                if prior.is_some() {
                    change.reason = Some("it was deleted outside lode".to_string());
                }
            }
            (Some(want), Some(live_spec)) => {
                let spec = canonical_spec(kind, &resolved[address]);
                // A masked field is taken as unchanged when what was last written to it is what
                // the manifests want now (compared by keyed fingerprint).
                let mut known_live = live_spec.clone();
                for field in write_only_fields(kind) {
                    if let Some(value) = spec.get(*field)
                        && prior.and_then(|p| p.write_only.get(*field))
                            == Some(&state.fingerprint(value))
                    {
                        known_live[*field] = value.clone();
                    }
                }
                let live_spec = &known_live;
                change.lifecycle = want.lifecycle;
                change.depends_on = want.depends_on.clone();
                change.adopt = prior.is_none();
                let sensitive = sensitive_paths(&spec, &desired.secrets, prior);
                change.fields = masked_diff(kind, live_spec, &spec, &sensitive);
                if let Some(reason) = replace_reason(kind, live_spec, &spec) {
                    change.action = Action::Replace;
                    change.reason = Some(reason);
                    let protected =
                        want.lifecycle.protect || prior.is_some_and(|p| p.lifecycle.protect);
                    if protected && !options.allow_delete_protected {
                        change.blocked = Some(Blocked {
                            reason: "it is protected (`lifecycle.protect`) and a replace deletes it first".to_string(),
                            allow_with: "--allow-delete-protected".to_string(),
                        });
                    }
                } else if !change.fields.is_empty() {
                    change.action = Action::Update;
                    if let Some(waiting) = pending.get(address) {
                        change.reason =
                            Some(format!("it uses {waiting}, which is known after apply"));
                    } else if change.adopt {
                        change.reason = Some(
                            "it exists but lode did not manage it: adopted and updated".to_string(),
                        );
                    } else if drift {
                        change.reason = Some("it was changed outside lode".to_string());
                    }
                } else if change.adopt {
                    change.reason =
                        Some("it exists but lode did not manage it: adopted".to_string());
                } else if let Some(from) = &change.moved_from {
                    change.reason = Some(format!(
                        "moved from {from} (`moved:`): its state entry is carried over"
                    ));
                }
                if change.action == Action::NoOp
                    && !change.adopt
                    && prior.is_some_and(|p| p.lifecycle != change.lifecycle)
                {
                    // Only the protection flags changed: record them without touching the object.
                    change.adopt = true;
                    change.reason = Some("lifecycle flags changed".to_string());
                }
            }
            (None, Some(_)) => {
                let prior = prior.expect("selected addresses come from desired or state");
                change.lifecycle = prior.lifecycle;
                change.depends_on = prior.depends_on.clone();
                if prior.lifecycle.retain {
                    change.action = Action::Forget;
                    change.reason =
                        Some("removed from the manifests with `retain`: left in place".to_string());
                } else {
                    change.action = Action::Delete;
                    change.reason = Some("removed from the manifests".to_string());
                    if prior.lifecycle.protect && !options.allow_delete_protected {
                        change.blocked = Some(Blocked {
                            reason: "it is protected (`lifecycle.protect`, kept in state)"
                                .to_string(),
                            allow_with: "--allow-delete-protected".to_string(),
                        });
                    }
                }
            }
            (None, None) => {
                let prior = prior.expect("selected addresses come from desired or state");
                change.lifecycle = prior.lifecycle;
                change.action = Action::Forget;
                change.reason = Some("removed from the manifests and already gone".to_string());
            }
        }
        if change.blocked.is_none()
            && !options.allow_data_loss
            && let Some(reason) = data_loss(
                kind,
                change.action,
                live_spec.as_ref(),
                want.map(|_| &resolved[address]),
            )
        {
            change.blocked = Some(Blocked {
                reason,
                allow_with: "--allow-data-loss".to_string(),
            });
        }
        let deletes = matches!(change.action, Action::Delete | Action::Replace);
        if change.blocked.is_none()
            && deletes
            && let Some(limit) = options
                .limitations
                .iter()
                .find(|l| l.kind == kind && l.operation == crate::provider::Operation::Delete)
        {
            change.blocked = Some(Blocked {
                reason: limit.reason.clone(),
                allow_with: limit.alternative.clone(),
            });
        }
        let changes_data = kind == Kind::Table
            && (matches!(change.action, Action::Delete | Action::Replace)
                || change.fields.iter().any(|f| f.path == "rows")
                || (change.action == Action::Update
                    && data_loss(
                        kind,
                        change.action,
                        live_spec.as_ref(),
                        want.map(|_| &resolved[address]),
                    )
                    .is_some()));
        if options.no_data && change.blocked.is_none() && changes_data {
            change.blocked = Some(Blocked {
                reason: "it changes table data, which --no-data skips".to_string(),
                allow_with: "a run without --no-data".to_string(),
            });
        }
        if let Some(bad) = invalid.get(address) {
            change.blocked = Some(Blocked {
                reason: format!(
                    "it references `{bad}`, but {} has no field `{}`",
                    bad.address, bad.field
                ),
                allow_with: "a corrected reference in the manifests".to_string(),
            });
        }
        change.risk = match (change.action, &change.blocked) {
            (_, Some(_)) | (Action::Delete | Action::Replace, _) => Risk::High,
            (Action::Update, _) if change.drift || change.adopt => Risk::High,
            (Action::Update, _) => Risk::Medium,
            _ => Risk::Low,
        };
        changes.insert(address.clone(), change);
    }
    // A pipeline runs the SQL of its source files: when one changes, the pipeline must run an
    // update for the change to take effect.
    let changed_files: BTreeSet<Address> = changes
        .values()
        .filter(|c| {
            c.address.kind == Kind::WorkspaceFile
                && matches!(c.action, Action::Create | Action::Update | Action::Replace)
        })
        .map(|c| c.address.clone())
        .collect();
    for change in changes.values_mut().filter(|c| {
        c.address.kind == Kind::Pipeline && c.action == Action::NoOp && c.blocked.is_none()
    }) {
        if let Some(file) = change
            .depends_on
            .iter()
            .find(|d| changed_files.contains(*d))
        {
            change.action = Action::Update;
            change.reason = Some(format!(
                "its source {file} changed: the pipeline runs an update"
            ));
            change.risk = Risk::Medium;
        }
    }
    // A pipeline whose last update failed has not run what the manifests want, whatever
    // its spec says: it runs an update again (its dependents need its datasets).
    for change in changes.values_mut().filter(|c| {
        c.address.kind == Kind::Pipeline && c.action == Action::NoOp && c.blocked.is_none()
    }) {
        let Some(object) = live.get(&change.address) else {
            continue;
        };
        let last = object.outputs.get(PIPELINE_LAST_UPDATE);
        let last_state = last.and_then(|l| l["state"].as_str());
        let last_id = || {
            last.and_then(|l| l["update_id"].as_str())
                .unwrap_or("unknown id")
                .to_string()
        };
        if last_state == Some("FAILED") {
            change.action = Action::Update;
            change.reason = Some(format!(
                "its last update ({}) FAILED: the pipeline runs an update",
                last_id()
            ));
            change.risk = Risk::Medium;
        } else if object.spec["continuous"] == true
            && matches!(last_state, None | Some("CANCELED" | "COMPLETED"))
        {
            // A continuous pipeline is meant to run all the time: one that was stopped (`lode
            // stop`, or by hand) is started again, as its manifest says.
            change.action = Action::Update;
            change.reason = Some(match last_state {
                Some(state) => format!(
                    "it is continuous and not running (its last update, {}, is {state}): the pipeline starts an update",
                    last_id()
                ),
                None => "it is continuous and has never run: the pipeline starts an update".into(),
            });
            change.risk = Risk::Medium;
        }
    }
    block_deletes_of_wanted_objects(&mut changes, desired, state, live, &resolved);
    let ordered = graph::plan_order(changes, state);
    let mut summary = Summary::default();
    for change in &ordered {
        if change.blocked.is_some() {
            summary.blocked += 1;
            continue;
        }
        if change.adopt {
            summary.adopt += 1;
        }
        if change.moved_from.is_some() {
            summary.moved += 1;
        }
        match change.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete => summary.delete += 1,
            Action::Forget => summary.forget += 1,
            Action::NoOp => summary.unchanged += 1,
        }
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        environment: environment.to_string(),
        source: desired.source.clone(),
        desired_digest: desired_digest(desired, &state.lineage),
        state: StateRef {
            lineage: state.lineage.clone(),
            serial: state.serial,
        },
        created_at: super::now_rfc3339(),
        targets: options.targets.clone(),
        change_options: ChangeOptions {
            allow_data_loss: options.allow_data_loss,
            allow_full_refresh: options.allow_full_refresh,
            allow_delete_protected: options.allow_delete_protected,
            no_data: options.no_data,
        },
        summary,
        changes: ordered,
    }
}
