//! The executor: runs a `Plan` against the providers in dependency order with bounded
//! parallelism. Every provider call is bracketed by write-ahead log records. When a step fails,
//! everything that waits for it is skipped, independent branches still finish, and everything
//! is recorded, so a rerun converges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::canonical::write_only_fields;
use super::graph::step_dependencies;
use super::plan::{Action, Plan, ResourceChange};
use super::refs;
use crate::manifest::{Address, Desired, Lifecycle};
use crate::provider::{BatchWrite, LiveObject, Providers};
use crate::redact::{Redactor, mask_pointers, sensitive_pointers};
use crate::state::StateError;
use crate::state::{StateEntry, StateWriter, keyed_fingerprint};
use serde_json::Value;

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "snake_case")]
pub enum StepStatus {
    Applied,
    Failed(String),
    Skipped(String),
    /// A guard held the change back; it says which flag would allow it.
    Blocked(super::plan::Blocked),
}

/// One executed (or not executed) change.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    pub address: Address,
    pub action: Action,
    #[serde(flatten)]
    pub status: StepStatus,
    #[serde(skip)]
    pub duration: Duration,
}

/// Everything `apply_plan` did.
#[derive(Debug)]
pub struct ApplyReport<'a> {
    pub steps: Vec<StepOutcome>,
    pub writer: StateWriter<'a>,
    /// The state log could not be written: the apply stopped at once.
    pub state_error: Option<StateError>,
    /// Why the apply halted before some of its steps (an emergency stop), if it did.
    pub halted: Option<String>,
}

impl ApplyReport<'_> {
    pub fn failed(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Failed(_)))
            .count()
    }

    pub fn count(&self, action: Action) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == action && s.status == StepStatus::Applied)
            .count()
    }

    pub fn succeeded(&self) -> bool {
        self.state_error.is_none() && self.steps.iter().all(|s| s.status == StepStatus::Applied)
    }
}

/// What the executor needs besides the plan.
pub struct ApplyInputs<'a> {
    pub plan: &'a Plan,
    pub desired: &'a Desired,
    /// The live objects the plan touches, as read just before applying.
    pub live: &'a BTreeMap<Address, LiveObject>,
    pub providers: &'a Providers,
    pub redactor: &'a Redactor,
    pub parallelism: usize,
    /// Called as each step ends (progress output).
    pub on_step: &'a (dyn Fn(&StepOutcome) + Sync),
    /// Asked before each step starts: `Some(why)` halts the apply there (an emergency stop
    /// set while it runs). Steps already running finish and are recorded; the rest are skipped.
    pub halt: &'a (dyn Fn() -> Option<String> + Sync),
}

struct Schedule {
    waits: Vec<BTreeSet<usize>>,
    done: Vec<Option<StepOutcome>>,
    started: Vec<bool>,
    running: usize,
    stop: bool,
    /// Why `stop` was set by `halt`.
    halted: Option<String>,
}

/// Runs the plan. Returns when every step has applied, failed or been skipped.
pub fn apply_plan<'a>(inputs: &ApplyInputs, writer: StateWriter<'a>) -> ApplyReport<'a> {
    let plan = inputs.plan;
    let locators: BTreeMap<Address, String> = plan
        .changes
        .iter()
        .filter_map(|c| {
            let spec = inputs
                .desired
                .resources
                .get(&c.address)
                .map(|r| &r.spec)
                .or_else(|| writer.state.resources.get(&c.address).map(|e| &e.spec))?;
            Some((
                c.address.clone(),
                crate::manifest::locator(c.address.kind, &c.address.name, spec),
            ))
        })
        .collect();
    let waits = step_dependencies(plan, &writer.state, &locators);
    let count = plan.changes.len();
    let mut done: Vec<Option<StepOutcome>> = vec![None; count];
    // Steps with nothing to do, and blocked ones, end before anything runs.
    for (i, change) in plan.changes.iter().enumerate() {
        if let Some(blocked) = &change.blocked {
            done[i] = Some(outcome(change, StepStatus::Blocked(blocked.clone())));
        } else if !change.needs_apply() {
            done[i] = Some(outcome(change, StepStatus::Applied));
        }
    }
    let schedule = Mutex::new(Schedule {
        waits,
        done,
        started: vec![false; count],
        running: 0,
        stop: false,
        halted: None,
    });
    let wake = Condvar::new();
    let writer = Mutex::new(writer);
    let state_error: Mutex<Option<StateError>> = Mutex::new(None);
    let applied = Mutex::new(inputs.live.clone());
    let workers = inputs.parallelism.clamp(1, 64);

    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = {
                        let mut s = schedule.lock().expect("schedule lock");
                        loop {
                            cascade_skips(plan, &mut s);
                            if s.stop {
                                break None;
                            }
                            let ready = (0..count).find(|&i| {
                                !s.started[i]
                                    && s.done[i].is_none()
                                    && s.waits[i].iter().all(|&w| {
                                        s.done[w]
                                            .as_ref()
                                            .is_some_and(|o| o.status == StepStatus::Applied)
                                    })
                            });
                            // Asked right before a step is claimed, after every wait: an
                            // emergency stop set meanwhile halts the apply here.
                            if ready.is_some()
                                && let Some(reason) = (inputs.halt)()
                            {
                                s.stop = true;
                                s.halted = Some(reason);
                                continue;
                            }
                            if let Some(i) = ready {
                                let batch = batch_from(inputs, plan, &s, i);
                                for &j in &batch {
                                    s.started[j] = true;
                                }
                                s.running += 1;
                                break Some(batch);
                            }
                            if s.done.iter().all(Option::is_some)
                                || (s.running == 0 && !has_runnable(&s))
                            {
                                break None;
                            }
                            s = wake.wait(s).expect("schedule lock");
                        }
                    };
                    let Some(batch) = next else {
                        wake.notify_all();
                        return;
                    };
                    let changes: Vec<&ResourceChange> =
                        batch.iter().map(|&i| &plan.changes[i]).collect();
                    let started = Instant::now();
                    let shared = Shared {
                        writer: &writer,
                        state_error: &state_error,
                        applied: &applied,
                    };
                    let statuses = run_steps(inputs, &changes, &shared);
                    let mut steps = Vec::new();
                    for (change, status) in changes.iter().zip(statuses) {
                        let mut step = outcome(change, status);
                        step.duration = started.elapsed();
                        (inputs.on_step)(&step);
                        steps.push(step);
                    }
                    let mut s = schedule.lock().expect("schedule lock");
                    for (i, step) in batch.into_iter().zip(steps) {
                        s.done[i] = Some(step);
                    }
                    s.running -= 1;
                    if state_error.lock().expect("error lock").is_some() {
                        s.stop = true;
                    }
                    drop(s);
                    wake.notify_all();
                }
            });
        }
    });

    let schedule = schedule.into_inner().expect("schedule lock");
    let skipped = match &schedule.halted {
        Some(reason) => format!("the apply halted before this step: {reason}"),
        None => "the apply stopped before this step".to_string(),
    };
    let steps = schedule
        .done
        .into_iter()
        .zip(&plan.changes)
        .map(|(done, change)| {
            done.unwrap_or_else(|| outcome(change, StepStatus::Skipped(skipped.clone())))
        })
        .collect();
    ApplyReport {
        steps,
        writer: writer.into_inner().expect("writer lock"),
        state_error: state_error.into_inner().expect("error lock"),
        halted: schedule.halted,
    }
}

/// Step `first` and, when its provider writes its kind in batches, the other ready creates and
/// updates of that kind, up to the provider's batch size.
fn batch_from(inputs: &ApplyInputs, plan: &Plan, s: &Schedule, first: usize) -> Vec<usize> {
    let change = &plan.changes[first];
    let batchable = |c: &ResourceChange| matches!(c.action, Action::Create | Action::Update);
    let size = match inputs.providers.for_kind(change.address.kind) {
        Ok(provider) if batchable(change) => provider.batch_size(change.address.kind),
        _ => 1,
    };
    let mut batch = vec![first];
    for j in first + 1..plan.changes.len() {
        if batch.len() >= size {
            break;
        }
        let other = &plan.changes[j];
        if !s.started[j]
            && s.done[j].is_none()
            && other.address.kind == change.address.kind
            && batchable(other)
            && s.waits[j].iter().all(|&w| {
                s.done[w]
                    .as_ref()
                    .is_some_and(|o| o.status == StepStatus::Applied)
            })
        {
            batch.push(j);
        }
    }
    batch
}

fn has_runnable(s: &Schedule) -> bool {
    (0..s.done.len()).any(|i| !s.started[i] && s.done[i].is_none())
}

/// Marks steps whose prerequisites failed, were skipped or are blocked.
fn cascade_skips(plan: &Plan, s: &mut Schedule) {
    loop {
        let mut changed = false;
        for i in 0..s.done.len() {
            if s.done[i].is_some() || s.started[i] {
                continue;
            }
            let failed = s.waits[i].iter().find(|&&w| {
                s.done[w]
                    .as_ref()
                    .is_some_and(|o| o.status != StepStatus::Applied)
            });
            if let Some(&w) = failed {
                let reason = match &s.done[w].as_ref().expect("checked").status {
                    StepStatus::Blocked(_) => format!("{} is blocked", plan.changes[w].address),
                    _ => format!("{} did not apply", plan.changes[w].address),
                };
                s.done[i] = Some(outcome(&plan.changes[i], StepStatus::Skipped(reason)));
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

fn outcome(change: &ResourceChange, status: StepStatus) -> StepOutcome {
    StepOutcome {
        address: change.address.clone(),
        action: change.action,
        status,
        duration: Duration::ZERO,
    }
}

/// The shared parts of the executor a step needs.
struct Shared<'s, 'w> {
    writer: &'s Mutex<StateWriter<'w>>,
    state_error: &'s Mutex<Option<StateError>>,
    applied: &'s Mutex<BTreeMap<Address, LiveObject>>,
}

/// Runs changes: log each start, call the provider (once for a batch), log each outcome.
fn run_steps(
    inputs: &ApplyInputs,
    changes: &[&ResourceChange],
    shared: &Shared,
) -> Vec<StepStatus> {
    let mut seqs = Vec::new();
    for change in changes {
        let begun = shared
            .writer
            .lock()
            .expect("writer lock")
            .begin(&change.address, change.action.as_str());
        match begun {
            Ok(seq) => seqs.push(seq),
            Err(e) => {
                let message = e.to_string();
                *shared.state_error.lock().expect("error lock") = Some(e);
                return changes
                    .iter()
                    .map(|_| StepStatus::Failed(message.clone()))
                    .collect();
            }
        }
    }
    let results = match changes {
        [change] => vec![call_provider(inputs, change, shared.applied)],
        _ => call_provider_batch(inputs, changes, shared.applied),
    };
    changes
        .iter()
        .zip(seqs)
        .zip(results)
        .map(|((change, seq), result)| finish_step(inputs, change, seq, result, shared))
        .collect()
}

/// Records how one change ended: the applied object for later references, the state entry.
fn finish_step(
    inputs: &ApplyInputs,
    change: &ResourceChange,
    seq: u64,
    result: Result<Option<LiveObject>, String>,
    shared: &Shared,
) -> StepStatus {
    let address = &change.address;
    let (writer, state_error, applied) = (shared.writer, shared.state_error, shared.applied);
    let status = match &result {
        Ok(_) => StepStatus::Applied,
        Err(message) => StepStatus::Failed(inputs.redactor.text(message)),
    };
    if let Ok(Some(live)) = &result {
        applied
            .lock()
            .expect("applied lock")
            .insert(address.clone(), live.clone());
    }
    let entry = result.map(|live| {
        live.map(|live| {
            let lineage = writer.lock().expect("writer lock").state.lineage.clone();
            applied_entry(
                &EntryContext {
                    lineage: &lineage,
                    desired: inputs.desired,
                    redactor: inputs.redactor,
                },
                address,
                live,
                change.depends_on.clone(),
                change.lifecycle,
            )
        })
    });
    let entry = entry.map_err(|m| inputs.redactor.text(&m));
    let moved = entry
        .is_ok()
        .then_some(change.moved_from.as_ref())
        .flatten();
    let mut writer = writer.lock().expect("writer lock");
    let mut written = writer.finish(seq, address, entry);
    // The entry now lives under the new address: the old one leaves state, logged like any
    // other step so that a crash here cannot leave both (or neither).
    if let (Ok(()), Some(from)) = (&written, moved) {
        written = writer
            .begin(from, "move")
            .and_then(|seq| writer.finish(seq, from, Ok(None)));
    }
    if let Err(e) = written {
        *state_error.lock().expect("error lock") = Some(e);
    }
    status
}

/// What a state entry is made with besides the live object.
pub struct EntryContext<'a> {
    /// The state's lineage, which keys its fingerprints.
    pub lineage: &'a str,
    pub desired: &'a Desired,
    pub redactor: &'a Redactor,
}

/// The state entry of `address` once a step has left `live` there: what a finished step
/// records, and what recovery records for a step whose effect landed before a crash cut it
/// off (`app::session`), so that both are the same entry.
pub fn applied_entry(
    context: &EntryContext,
    address: &Address,
    live: LiveObject,
    depends_on: Vec<Address>,
    lifecycle: Lifecycle,
) -> StateEntry {
    let fingerprint = keyed_fingerprint(context.lineage, &live.spec);
    // What was written to fields the live system masks, as fingerprints only.
    let wanted = context.desired.resources.get(address).map(|r| &r.spec);
    let write_only = write_only_fields(address.kind)
        .iter()
        .filter_map(|f| {
            wanted
                .and_then(|w| w.get(*f))
                .map(|v| (f.to_string(), keyed_fingerprint(context.lineage, v)))
        })
        .collect();
    let sensitive = sensitive_pointers(&live.spec, &context.desired.secrets);
    StateEntry {
        id: live.id,
        spec: context
            .redactor
            .value(&mask_pointers(&live.spec, &sensitive)),
        sensitive,
        outputs: live.outputs,
        write_only,
        fingerprint,
        depends_on,
        lifecycle,
        revision: context.desired.source.commit.clone(),
    }
}

/// The manifests' spec of `address` with its references resolved against what is live now,
/// including what this apply just did.
fn desired_spec(
    inputs: &ApplyInputs,
    address: &Address,
    applied: &Mutex<BTreeMap<Address, LiveObject>>,
) -> Result<Value, String> {
    let spec = &inputs
        .desired
        .resources
        .get(address)
        .ok_or_else(|| format!("{address} is not in the manifests"))?
        .spec;
    let known = applied.lock().expect("applied lock");
    let (resolved, missing) = refs::resolve(spec, &|target, field| {
        known.get(target).and_then(|l| l.field(field))
    });
    match missing.first() {
        Some(first) => Err(format!(
            "{first} is not known: {} did not apply",
            first.address
        )),
        None => Ok(resolved),
    }
}

/// Creates and updates of one kind written by the provider in one go (see
/// `Provider::write_batch`); a change whose references cannot be resolved fails alone.
fn call_provider_batch(
    inputs: &ApplyInputs,
    changes: &[&ResourceChange],
    applied: &Mutex<BTreeMap<Address, LiveObject>>,
) -> Vec<Result<Option<LiveObject>, String>> {
    let provider = match inputs.providers.for_kind(changes[0].address.kind) {
        Ok(provider) => provider,
        Err(e) => return changes.iter().map(|_| Err(e.to_string())).collect(),
    };
    let prepared: Vec<Result<Value, String>> = changes
        .iter()
        .map(|change| {
            let spec = desired_spec(inputs, &change.address, applied)?;
            if change.action == Action::Update && !inputs.live.contains_key(&change.address) {
                return Err(format!("{} was not found live", change.address));
            }
            Ok(spec)
        })
        .collect();
    let items: Vec<BatchWrite> = changes
        .iter()
        .zip(&prepared)
        .filter_map(|(change, spec)| {
            Some(BatchWrite {
                address: &change.address,
                desired: spec.as_ref().ok()?,
                live: match change.action {
                    Action::Update => inputs.live.get(&change.address),
                    _ => None,
                },
                options: &inputs.plan.change_options,
            })
        })
        .collect();
    let mut written = provider.write_batch(&items).into_iter();
    prepared
        .into_iter()
        .map(|spec| match spec {
            Err(message) => Err(message),
            Ok(_) => written
                .next()
                .unwrap_or_else(|| {
                    Err(crate::provider::ProviderError::Refused(
                        "the provider's batch answered fewer results than it was given".into(),
                    ))
                })
                .map(Some)
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// The provider calls for one change; `Ok(None)` means the object is gone from state.
fn call_provider(
    inputs: &ApplyInputs,
    change: &ResourceChange,
    applied: &Mutex<BTreeMap<Address, LiveObject>>,
) -> Result<Option<LiveObject>, String> {
    let address = &change.address;
    let options = &inputs.plan.change_options;
    let desired = || desired_spec(inputs, address, applied);
    let live = || {
        inputs
            .live
            .get(address)
            .ok_or_else(|| format!("{address} was not found live"))
    };
    let provider = inputs
        .providers
        .for_kind(address.kind)
        .map_err(|e| e.to_string())?;
    match change.action {
        Action::Create => provider
            .create(address, &desired()?, options)
            .map(Some)
            .map_err(|e| e.to_string()),
        Action::Update => provider
            .update(address, &desired()?, live()?, options)
            .map(Some)
            .map_err(|e| e.to_string()),
        Action::Replace => {
            let spec = desired()?;
            provider
                .delete(address, live()?, options)
                .map_err(|e| e.to_string())?;
            provider
                .create(address, &spec, options)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        Action::Delete => provider
            .delete(address, live()?, options)
            .map(|_| None)
            .map_err(|e| e.to_string()),
        Action::Forget => Ok(None),
        Action::NoOp => live().cloned().map(Some),
    }
}
