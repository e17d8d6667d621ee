//! Unit tests of the plan builder (`plan::build_plan`) and the executor (`apply::apply_plan`)
//! against an in-memory fake provider. Until these, the engine was only tested through the
//! binary and the emulators, so a planner or executor bug showed up (if at all) as a wrong
//! end-to-end outcome far from its cause. Here each rule is checked on plain data: which action
//! the planner picks and why, which provider calls the executor makes and in what order, and
//! what ends up in the state written to disk.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::apply::{ApplyInputs, StepOutcome, StepStatus, apply_plan};
use super::plan::{Action, Plan, PlanOptions, ResourceChange, build_plan, select_addresses};
use crate::manifest::{Address, Desired, DesiredResource, Kind, Lifecycle, Origin, SourceInfo};
use crate::provider::{
    ChangeOptions, LiveObject, Provider, ProviderError, Providers, RefreshRequest,
};
use crate::redact::Redactor;
use crate::state::{LocalStore, State, StateBackend, StateEntry};

/// One provider call, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Create(Address),
    Update(Address),
    Delete(Address),
}

#[derive(Default)]
struct FakeInner {
    objects: Mutex<BTreeMap<Address, LiveObject>>,
    calls: Mutex<Vec<Call>>,
    fail: Mutex<BTreeSet<Address>>,
}

/// An in-memory Ignition "system": objects in a map, every mutating call recorded in order, and
/// chosen addresses that fail every mutating call. Clones share the same data, so a test keeps a
/// handle after giving one to `Providers`.
#[derive(Clone, Default)]
struct Fake {
    inner: Arc<FakeInner>,
}

impl Fake {
    fn with_objects(objects: &[(&Address, Value)]) -> Fake {
        let fake = Fake::default();
        for (address, spec) in objects {
            fake.put(address, spec.clone());
        }
        fake
    }

    fn put(&self, address: &Address, spec: Value) {
        self.inner
            .objects
            .lock()
            .unwrap()
            .insert(address.clone(), LiveObject::plain(spec));
    }

    fn fail_on(&self, address: &Address) {
        self.inner.fail.lock().unwrap().insert(address.clone());
    }

    fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    fn objects(&self) -> BTreeMap<Address, LiveObject> {
        self.inner.objects.lock().unwrap().clone()
    }

    fn providers(&self) -> Providers {
        Providers::from_list(vec![Box::new(self.clone())])
    }

    /// Records the call, then fails it if the address was marked to fail.
    fn record(&self, call: Call, address: &Address) -> Result<(), ProviderError> {
        self.inner.calls.lock().unwrap().push(call);
        if self.inner.fail.lock().unwrap().contains(address) {
            return Err(ProviderError::Refused(format!(
                "injected failure for {address}"
            )));
        }
        Ok(())
    }
}

impl Provider for Fake {
    fn system(&self) -> &'static str {
        "ignition"
    }

    fn refresh(
        &self,
        requests: &[RefreshRequest],
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
        let objects = self.inner.objects.lock().unwrap();
        Ok(requests
            .iter()
            .filter_map(|r| {
                objects
                    .get(&r.address)
                    .map(|o| (r.address.clone(), o.clone()))
            })
            .collect())
    }

    fn create(
        &self,
        address: &Address,
        desired: &Value,
        _options: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        self.record(Call::Create(address.clone()), address)?;
        let live = LiveObject::plain(desired.clone());
        self.inner
            .objects
            .lock()
            .unwrap()
            .insert(address.clone(), live.clone());
        Ok(live)
    }

    fn update(
        &self,
        address: &Address,
        desired: &Value,
        _live: &LiveObject,
        _options: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        self.record(Call::Update(address.clone()), address)?;
        let live = LiveObject::plain(desired.clone());
        self.inner
            .objects
            .lock()
            .unwrap()
            .insert(address.clone(), live.clone());
        Ok(live)
    }

    fn delete(
        &self,
        address: &Address,
        _live: &LiveObject,
        _options: &ChangeOptions,
    ) -> Result<(), ProviderError> {
        self.record(Call::Delete(address.clone()), address)?;
        self.inner.objects.lock().unwrap().remove(address);
        Ok(())
    }
}

fn udt(name: &str) -> Address {
    Address::new(Kind::Udt, name)
}

fn tag(name: &str) -> Address {
    Address::new(Kind::Tag, name)
}

fn script(name: &str) -> Address {
    Address::new(Kind::GatewayScript, name)
}

fn udt_spec(provider: &str, eng_high: i64) -> Value {
    json!({
        "provider": provider,
        "tags": [{"name": "Speed", "dataType": "Float8", "engHigh": eng_high}],
    })
}

fn tag_spec(type_id: &str) -> Value {
    json!({"provider": "default", "tagType": "UdtInstance", "typeId": type_id})
}

fn script_spec(resource_name: &str, script: &str) -> Value {
    json!({
        "project": "mine",
        "type": "timer",
        "resource_name": resource_name,
        "script": script,
    })
}

/// Desired resources from `(address, spec, depends_on, lifecycle)`.
fn desired(resources: Vec<(Address, Value, Vec<Address>, Lifecycle)>) -> Desired {
    Desired {
        resources: resources
            .into_iter()
            .map(|(address, spec, depends_on, lifecycle)| {
                let resource = DesiredResource {
                    address: address.clone(),
                    spec,
                    depends_on,
                    lifecycle,
                    moved_from: None,
                    origin: Origin {
                        file: format!("{}.yaml", address.name),
                        line: 1,
                    },
                };
                (address, resource)
            })
            .collect(),
        checks: Vec::new(),
        source: SourceInfo {
            rev: None,
            commit: None,
            dirty: false,
            digest: String::new(),
        },
        secrets: Vec::new(),
    }
}

/// A desired resource without dependencies or lifecycle flags.
fn plain(address: Address, spec: Value) -> (Address, Value, Vec<Address>, Lifecycle) {
    (address, spec, Vec::new(), Lifecycle::default())
}

/// Records `spec` in `state` as last applied, with the fingerprint of that same live spec (so
/// the planner sees no drift).
fn manage(state: &mut State, address: &Address, spec: Value, lifecycle: Lifecycle) {
    let entry = StateEntry {
        id: None,
        fingerprint: state.fingerprint(&spec),
        spec,
        depends_on: Vec::new(),
        lifecycle,
        revision: None,
        outputs: BTreeMap::new(),
        write_only: BTreeMap::new(),
        sensitive: Vec::new(),
    };
    state.resources.insert(address.clone(), entry);
}

/// What is live for the plan, read through `Providers::refresh` as a real plan reads it: every
/// desired or managed address, located by its last applied spec when there is one.
fn refresh(desired: &Desired, state: &State, fake: &Fake) -> BTreeMap<Address, LiveObject> {
    let addresses: BTreeSet<&Address> = desired
        .resources
        .keys()
        .chain(state.resources.keys())
        .collect();
    let requests = addresses
        .into_iter()
        .map(|address| RefreshRequest {
            address: address.clone(),
            spec: state
                .resources
                .get(address)
                .map(|e| e.spec.clone())
                .unwrap_or_else(|| desired.resources[address].spec.clone()),
            id: state.resources.get(address).and_then(|e| e.id.clone()),
            last_read: None,
        })
        .collect();
    fake.providers().refresh(requests).unwrap()
}

fn plan_with(desired: &Desired, state: &State, fake: &Fake, options: &PlanOptions) -> Plan {
    let selected = select_addresses(desired, state, &options.targets);
    let live = refresh(desired, state, fake);
    build_plan(desired, state, &live, &selected, options, "test")
}

fn plan(desired: &Desired, state: &State, fake: &Fake) -> Plan {
    plan_with(desired, state, fake, &PlanOptions::default())
}

fn change<'p>(plan: &'p Plan, address: &Address) -> &'p ResourceChange {
    plan.changes
        .iter()
        .find(|c| &c.address == address)
        .unwrap_or_else(|| panic!("{address} is not in the plan: {:#?}", plan.changes))
}

/// What one apply did, with the state read back from the store it was written to.
struct Applied {
    steps: Vec<StepOutcome>,
    failed: usize,
    succeeded: bool,
    state: State,
}

impl Applied {
    fn status(&self, address: &Address) -> &StepStatus {
        &self
            .steps
            .iter()
            .find(|s| &s.address == address)
            .unwrap_or_else(|| panic!("no step for {address}"))
            .status
    }

    fn managed(&self) -> Vec<&Address> {
        self.state.resources.keys().collect()
    }
}

/// Executes `plan` through a real state backend in a temporary folder, the way `lode apply`
/// does (lock, writer, apply, commit), and reads the committed state back.
fn execute(
    plan: &Plan,
    desired: &Desired,
    live: &BTreeMap<Address, LiveObject>,
    fake: &Fake,
    state: &State,
    parallelism: usize,
) -> Applied {
    let dir = tempfile::tempdir().unwrap();
    let backend = StateBackend::new(Box::new(LocalStore::new(dir.path().join("test"))), "test");
    let lock = backend.lock("engine tests").unwrap();
    let writer = backend.writer(state.clone(), &lock).unwrap();
    let providers = fake.providers();
    let redactor = Redactor::new(&desired.secrets);
    let on_step = |_: &StepOutcome| {};
    let never = || None;
    let inputs = ApplyInputs {
        plan,
        desired,
        live,
        providers: &providers,
        redactor: &redactor,
        parallelism,
        on_step: &on_step,
        halt: &never,
    };
    let report = apply_plan(&inputs, writer);
    assert!(
        report.state_error.is_none(),
        "state error: {:?}",
        report.state_error
    );
    let failed = report.failed();
    let succeeded = report.succeeded();
    let steps = report.steps;
    let committed = report.writer.commit(None).unwrap();
    let (reloaded, recovery) = backend.load().unwrap();
    assert!(!recovery.was_interrupted(), "commit left a write-ahead log");
    assert_eq!(
        reloaded, committed,
        "the state on disk differs from the committed one"
    );
    assert_eq!(committed.serial, state.serial + 1);
    Applied {
        steps,
        failed,
        succeeded,
        state: reloaded,
    }
}

/// Plans against the fake's live objects and `state`, then applies that plan.
fn plan_and_apply(desired: &Desired, state: &State, fake: &Fake) -> (Plan, Applied) {
    let live = refresh(desired, state, fake);
    let plan = plan(desired, state, fake);
    let applied = execute(&plan, desired, &live, fake, state, 1);
    (plan, applied)
}

/// After an apply, planning the same manifests against what is live and the new state finds
/// nothing to do.
fn assert_converged(desired: &Desired, state: &State, fake: &Fake) {
    let again = plan(desired, state, fake);
    let pending: Vec<_> = again
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt || c.drift || c.blocked.is_some())
        .collect();
    assert!(pending.is_empty(), "not converged: {pending:#?}");
    assert!(!again.has_changes());
}

#[test]
fn build_plan_creates_a_desired_resource_that_is_neither_live_nor_in_state() {
    let a = udt("Truck");
    let want = desired(vec![plain(a.clone(), udt_spec("default", 60))]);
    let state = State::new("test");
    let fake = Fake::default();

    let plan = plan(&want, &state, &fake);

    assert_eq!(plan.changes.len(), 1);
    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Create);
    assert!(!c.adopt);
    assert!(c.blocked.is_none());
    assert_eq!(c.live_fingerprint, None);
    let paths: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["provider", "tags"]);
    assert_eq!(plan.summary.add, 1);

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert_eq!(fake.calls(), [Call::Create(a.clone())]);
    assert_eq!(fake.objects()[&a].spec, udt_spec("default", 60));
    let entry = &applied.state.resources[&a];
    assert_eq!(entry.spec, udt_spec("default", 60));
    assert_eq!(
        entry.fingerprint,
        applied.state.fingerprint(&udt_spec("default", 60))
    );
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn build_plan_updates_a_changed_field_and_lists_it() {
    let a = udt("Truck");
    let mut state = State::new("test");
    manage(
        &mut state,
        &a,
        udt_spec("default", 60),
        Lifecycle::default(),
    );
    let fake = Fake::with_objects(&[(&a, udt_spec("default", 60))]);
    let want = desired(vec![plain(a.clone(), udt_spec("default", 70))]);

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Update);
    assert!(!c.adopt && !c.drift);
    assert_eq!(c.fields.len(), 1, "{:#?}", c.fields);
    assert_eq!(c.fields[0].path, "tags[Speed].engHigh");
    assert_eq!(c.fields[0].before, Some(json!(60)));
    assert_eq!(c.fields[0].after, Some(json!(70)));
    assert_eq!(plan.summary.change, 1);

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert_eq!(fake.calls(), [Call::Update(a.clone())]);
    assert_eq!(applied.state.resources[&a].spec, udt_spec("default", 70));
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn build_plan_replaces_when_a_replace_on_change_field_changes_and_says_why() {
    // A UDT's `provider` is where it lives in the gateway: it cannot move in place.
    let a = udt("Truck");
    let mut state = State::new("test");
    manage(
        &mut state,
        &a,
        udt_spec("default", 60),
        Lifecycle::default(),
    );
    let fake = Fake::with_objects(&[(&a, udt_spec("default", 60))]);
    let want = desired(vec![plain(a.clone(), udt_spec("edge", 60))]);

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Replace);
    let reason = c.reason.as_deref().expect("a replace has a reason");
    assert!(reason.contains("`provider` changed"), "{reason}");
    assert!(c.blocked.is_none());
    assert_eq!(plan.summary.replace, 1);

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert_eq!(
        fake.calls(),
        [Call::Delete(a.clone()), Call::Create(a.clone())]
    );
    assert_eq!(applied.state.resources[&a].spec, udt_spec("edge", 60));
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn build_plan_deletes_a_managed_resource_removed_from_the_manifests() {
    let a = udt("Truck");
    let kept = udt("Loader");
    let mut state = State::new("test");
    manage(
        &mut state,
        &a,
        udt_spec("default", 60),
        Lifecycle::default(),
    );
    manage(
        &mut state,
        &kept,
        udt_spec("default", 40),
        Lifecycle::default(),
    );
    let fake = Fake::with_objects(&[
        (&a, udt_spec("default", 60)),
        (&kept, udt_spec("default", 40)),
    ]);
    let want = desired(vec![plain(kept.clone(), udt_spec("default", 40))]);

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Delete);
    assert!(c.blocked.is_none());
    assert_eq!(change(&plan, &kept).action, Action::NoOp);
    assert_eq!((plan.summary.delete, plan.summary.unchanged), (1, 1));

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert_eq!(fake.calls(), [Call::Delete(a.clone())]);
    assert!(!fake.objects().contains_key(&a));
    assert_eq!(applied.managed(), [&kept]);
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn retained_resource_removed_from_the_manifests_is_forgotten_not_deleted() {
    let a = udt("Truck");
    let mut state = State::new("test");
    let retain = Lifecycle {
        protect: false,
        retain: true,
        ..Lifecycle::default()
    };
    manage(&mut state, &a, udt_spec("default", 60), retain);
    let fake = Fake::with_objects(&[(&a, udt_spec("default", 60))]);
    let want = desired(Vec::new());

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Forget);
    assert!(c.blocked.is_none());
    assert!(c.needs_apply());
    assert_eq!(plan.summary.forget, 1);

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert_eq!(applied.status(&a), &StepStatus::Applied);
    assert!(fake.calls().is_empty(), "forget must not call the provider");
    assert!(fake.objects().contains_key(&a), "the object stays live");
    assert!(applied.managed().is_empty(), "and leaves state");
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn live_object_not_in_state_is_adopted_and_recorded_without_provider_calls() {
    let a = udt("Truck");
    let state = State::new("test");
    let fake = Fake::with_objects(&[(&a, udt_spec("default", 60))]);
    let want = desired(vec![plain(a.clone(), udt_spec("default", 60))]);

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert!(c.adopt);
    assert_eq!(c.action, Action::NoOp);
    assert!(c.fields.is_empty());
    assert!(c.needs_apply());
    assert!(plan.has_changes());
    assert_eq!(plan.summary.adopt, 1);

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert!(
        fake.calls().is_empty(),
        "adopting an identical object changes nothing live"
    );
    let entry = &applied.state.resources[&a];
    assert_eq!(entry.spec, udt_spec("default", 60));
    assert_eq!(
        entry.fingerprint,
        applied.state.fingerprint(&udt_spec("default", 60))
    );
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn differing_live_object_not_in_state_is_adopted_and_updated() {
    let a = udt("Truck");
    let state = State::new("test");
    let fake = Fake::with_objects(&[(&a, udt_spec("default", 55))]);
    let want = desired(vec![plain(a.clone(), udt_spec("default", 60))]);

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert!(c.adopt);
    assert_eq!(c.action, Action::Update);
    assert!(c.reason.as_deref().unwrap_or("").contains("adopted"));

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert!(applied.succeeded);
    assert_eq!(fake.calls(), [Call::Update(a.clone())]);
    assert_eq!(applied.state.resources[&a].spec, udt_spec("default", 60));
    assert_converged(&want, &applied.state, &fake);
}

#[test]
fn protected_resource_removed_from_the_manifests_is_blocked_unless_allowed() {
    // The manifest (and its `protect: true`) is gone; only state remembers the protection.
    let a = udt("Truck");
    let mut state = State::new("test");
    let protect = Lifecycle {
        protect: true,
        retain: false,
        ..Lifecycle::default()
    };
    manage(&mut state, &a, udt_spec("default", 60), protect);
    let fake = Fake::with_objects(&[(&a, udt_spec("default", 60))]);
    let want = desired(Vec::new());

    let plan = plan(&want, &state, &fake);

    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Delete);
    let blocked = c.blocked.as_ref().expect("a protected delete is blocked");
    assert_eq!(blocked.allow_with, "--allow-delete-protected");
    assert!(blocked.reason.contains("protect"), "{}", blocked.reason);
    assert!(!c.needs_apply());
    assert_eq!((plan.summary.blocked, plan.summary.delete), (1, 0));

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);
    assert_eq!(applied.status(&a), &StepStatus::Blocked(blocked.clone()));
    assert!(!applied.succeeded);
    assert_eq!(applied.failed, 0);
    assert!(
        fake.calls().is_empty(),
        "a blocked delete must not reach the provider"
    );
    assert!(fake.objects().contains_key(&a));
    assert_eq!(applied.managed(), [&a], "still managed and protected");
    assert!(applied.state.resources[&a].lifecycle.protect);

    let allowed = PlanOptions {
        allow_delete_protected: true,
        ..PlanOptions::default()
    };
    let plan = plan_with(&want, &applied.state, &fake, &allowed);
    let c = change(&plan, &a);
    assert_eq!(c.action, Action::Delete);
    assert_eq!(c.blocked, None);
    let deleted = execute(&plan, &want, &fake.objects(), &fake, &applied.state, 1);
    assert!(deleted.succeeded);
    assert_eq!(fake.calls(), [Call::Delete(a.clone())]);
    assert!(deleted.managed().is_empty());
}

#[test]
fn failed_step_skips_its_dependents_while_independent_steps_still_apply() {
    // A <- B <- C (B uses A's type, C reads a field of B) and an independent D, which comes
    // after B in the plan so that it runs after B has failed.
    let a = udt("A_Truck");
    let b = tag("B_Truck1");
    let c = script("C_Report");
    let d = script("D_Heartbeat");
    let want = desired(vec![
        plain(a.clone(), udt_spec("default", 60)),
        (
            b.clone(),
            tag_spec("A_Truck"),
            vec![a.clone()],
            Lifecycle::default(),
        ),
        (
            c.clone(),
            script_spec("report", "print('${ref.tag.B_Truck1.typeId}')"),
            vec![b.clone()],
            Lifecycle::default(),
        ),
        plain(d.clone(), script_spec("heartbeat", "print('alive')")),
    ]);
    let state = State::new("test");
    let fake = Fake::default();
    fake.fail_on(&b);

    let plan = plan(&want, &state, &fake);
    let order: Vec<&Address> = plan.changes.iter().map(|c| &c.address).collect();
    assert_eq!(order, [&a, &b, &c, &d]);
    assert!(plan.changes.iter().all(|c| c.action == Action::Create));
    assert_eq!(change(&plan, &c).depends_on, std::slice::from_ref(&b));

    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 1);

    assert_eq!(
        fake.calls(),
        [
            Call::Create(a.clone()),
            Call::Create(b.clone()),
            Call::Create(d.clone())
        ],
        "A before B, C never attempted, D still applied"
    );
    assert_eq!(applied.status(&a), &StepStatus::Applied);
    assert!(matches!(applied.status(&b), StepStatus::Failed(m) if m.contains("injected failure")));
    assert!(
        matches!(applied.status(&c), StepStatus::Skipped(m) if m.contains("tag/B_Truck1")),
        "{:?}",
        applied.status(&c)
    );
    assert_eq!(applied.status(&d), &StepStatus::Applied);
    assert_eq!(applied.failed, 1);
    assert!(!applied.succeeded);
    assert_eq!(applied.managed(), [&a, &d]);

    // A rerun once B works creates exactly what is missing, then nothing is left to do.
    fake.inner.fail.lock().unwrap().clear();
    let (rerun, second) = plan_and_apply(&want, &applied.state, &fake);
    let actions: Vec<(&Address, Action)> = rerun
        .changes
        .iter()
        .map(|c| (&c.address, c.action))
        .collect();
    assert_eq!(
        actions,
        [
            (&a, Action::NoOp),
            (&b, Action::Create),
            (&c, Action::Create),
            (&d, Action::NoOp)
        ]
    );
    assert!(second.succeeded);
    assert_eq!(
        fake.objects()[&c].spec["script"],
        json!("print('A_Truck')"),
        "C's reference resolved from what B's create returned"
    );
    assert_converged(&want, &second.state, &fake);
}

#[test]
fn failed_step_skips_its_dependents_with_parallel_workers() {
    // The same graph as above with several workers: the outcome must not depend on timing.
    let a = udt("A_Truck");
    let b = tag("B_Truck1");
    let c = script("C_Report");
    let d = script("D_Heartbeat");
    let want = desired(vec![
        plain(a.clone(), udt_spec("default", 60)),
        (
            b.clone(),
            tag_spec("A_Truck"),
            vec![a.clone()],
            Lifecycle::default(),
        ),
        (
            c.clone(),
            script_spec("report", "print('${ref.tag.B_Truck1.typeId}')"),
            vec![b.clone()],
            Lifecycle::default(),
        ),
        plain(d.clone(), script_spec("heartbeat", "print('alive')")),
    ]);
    let state = State::new("test");
    let fake = Fake::default();
    fake.fail_on(&b);

    let plan = plan(&want, &state, &fake);
    let applied = execute(&plan, &want, &fake.objects(), &fake, &state, 4);

    let calls = fake.calls();
    let position = |call: &Call| calls.iter().position(|c| c == call);
    let created_a = position(&Call::Create(a.clone())).expect("A was created");
    let tried_b = position(&Call::Create(b.clone())).expect("B was attempted");
    assert!(created_a < tried_b, "{calls:?}");
    assert!(calls.contains(&Call::Create(d.clone())), "{calls:?}");
    assert!(!calls.contains(&Call::Create(c.clone())), "{calls:?}");
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(applied.failed, 1);
    assert!(matches!(applied.status(&c), StepStatus::Skipped(_)));
    assert_eq!(applied.managed(), [&a, &d]);
}

#[test]
fn applying_a_plan_then_planning_again_finds_no_changes() {
    // Every action at once: create (with a reference), update, replace, delete, forget, adopt.
    let created = udt("Created");
    let updated = udt("Updated");
    let replaced = udt("Replaced");
    let deleted = udt("Deleted");
    let forgotten = udt("Forgotten");
    let adopted = tag("Adopted");
    let uses_ref = script("UsesRef");
    let mut state = State::new("test");
    manage(
        &mut state,
        &updated,
        udt_spec("default", 1),
        Lifecycle::default(),
    );
    manage(
        &mut state,
        &replaced,
        udt_spec("default", 2),
        Lifecycle::default(),
    );
    manage(
        &mut state,
        &deleted,
        udt_spec("default", 3),
        Lifecycle::default(),
    );
    let retain = Lifecycle {
        protect: false,
        retain: true,
        ..Lifecycle::default()
    };
    manage(&mut state, &forgotten, udt_spec("default", 4), retain);
    let fake = Fake::with_objects(&[
        (&updated, udt_spec("default", 1)),
        (&replaced, udt_spec("default", 2)),
        (&deleted, udt_spec("default", 3)),
        (&forgotten, udt_spec("default", 4)),
        (&adopted, tag_spec("Updated")),
    ]);
    let want = desired(vec![
        plain(created.clone(), udt_spec("default", 5)),
        plain(updated.clone(), udt_spec("default", 10)),
        plain(replaced.clone(), udt_spec("edge", 2)),
        (
            adopted.clone(),
            tag_spec("Updated"),
            vec![updated.clone()],
            Lifecycle::default(),
        ),
        (
            uses_ref.clone(),
            script_spec("uses_ref", "provider = '${ref.udt.Created.provider}'"),
            vec![created.clone()],
            Lifecycle::default(),
        ),
    ]);

    let (first, applied) = plan_and_apply(&want, &state, &fake);
    let actions: BTreeMap<&Address, (Action, bool)> = first
        .changes
        .iter()
        .map(|c| (&c.address, (c.action, c.adopt)))
        .collect();
    assert_eq!(
        actions,
        BTreeMap::from([
            (&created, (Action::Create, false)),
            (&updated, (Action::Update, false)),
            (&replaced, (Action::Replace, false)),
            (&deleted, (Action::Delete, false)),
            (&forgotten, (Action::Forget, false)),
            (&adopted, (Action::NoOp, true)),
            (&uses_ref, (Action::Create, false)),
        ])
    );
    assert!(applied.succeeded, "{:#?}", applied.steps);
    assert_eq!(
        applied.managed(),
        [&created, &replaced, &updated, &adopted, &uses_ref]
    );
    assert_eq!(
        fake.objects()[&uses_ref].spec["script"],
        json!("provider = 'default'")
    );

    assert_converged(&want, &applied.state, &fake);
    // And applying that empty plan changes nothing live.
    let before = fake.calls().len();
    let (_, again) = plan_and_apply(&want, &applied.state, &fake);
    assert!(again.succeeded);
    assert_eq!(
        fake.calls().len(),
        before,
        "a no-op apply called the provider"
    );
    assert_eq!(again.state.resources, applied.state.resources);
}
