//! Ordering: the dependency graph of a plan. Creates and updates run after what they depend on;
//! deletes run after everything that depended on them (reverse order); a create waits for the
//! delete of an object at the same place. The order is deterministic (ties broken by address).

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{Action, Plan, ResourceChange};
use crate::manifest::{Address, Desired};
use crate::state::State;

/// Kahn's algorithm over `edges` (node -> nodes it must wait for), ties by index.
fn topological(count: usize, waits_for: &[BTreeSet<usize>]) -> Vec<usize> {
    let mut remaining: Vec<usize> = waits_for.iter().map(|w| w.len()).collect();
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (node, waits) in waits_for.iter().enumerate() {
        for &other in waits {
            unblocks[other].push(node);
        }
    }
    let mut ready: BTreeSet<usize> = (0..count).filter(|&n| remaining[n] == 0).collect();
    let mut order = Vec::with_capacity(count);
    while let Some(node) = ready.pop_first() {
        order.push(node);
        for &next in &unblocks[node] {
            remaining[next] -= 1;
            if remaining[next] == 0 {
                ready.insert(next);
            }
        }
    }
    // Cycles are refused at validation; anything left is appended rather than lost.
    for node in 0..count {
        if !order.contains(&node) {
            order.push(node);
        }
    }
    order
}

/// Orders planned changes: non-deletes by dependency, then deletes in reverse dependency order.
pub fn plan_order(
    changes: BTreeMap<Address, ResourceChange>,
    state: &State,
) -> Vec<ResourceChange> {
    let changes: Vec<ResourceChange> = changes.into_values().collect();
    let index: BTreeMap<&Address, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.address, i))
        .collect();
    let is_delete = |c: &ResourceChange| matches!(c.action, Action::Delete | Action::Forget);
    let mut waits_for = vec![BTreeSet::new(); changes.len()];
    for (i, change) in changes.iter().enumerate() {
        if is_delete(change) {
            // After every non-delete, and after deletes of whatever depended on it.
            for (j, other) in changes.iter().enumerate() {
                let depended = state
                    .resources
                    .get(&other.address)
                    .is_some_and(|e| e.depends_on.contains(&change.address));
                if !is_delete(other) || depended {
                    waits_for[i].insert(j);
                }
            }
        } else {
            for dependency in &change.depends_on {
                if let Some(&j) = index.get(dependency)
                    && !is_delete(&changes[j])
                {
                    waits_for[i].insert(j);
                }
            }
        }
    }
    let order = topological(changes.len(), &waits_for);
    let mut slots: Vec<Option<ResourceChange>> = changes.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| slots[i].take().expect("each index once"))
        .collect()
}

/// For each change of a plan, the changes it must wait for during apply.
pub fn step_dependencies(
    plan: &Plan,
    state: &State,
    locators: &BTreeMap<Address, String>,
) -> Vec<BTreeSet<usize>> {
    let changes = &plan.changes;
    let index: BTreeMap<&Address, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.address, i))
        .collect();
    let is_delete = |c: &ResourceChange| c.action == Action::Delete;
    let mut waits_for = vec![BTreeSet::new(); changes.len()];
    for (i, change) in changes.iter().enumerate() {
        if is_delete(change) {
            for (j, other) in changes.iter().enumerate() {
                if i == j {
                    continue;
                }
                let other_depended = state
                    .resources
                    .get(&other.address)
                    .is_some_and(|e| e.depends_on.contains(&change.address));
                // Whatever used to depend on this object must first stop using it or go.
                if other_depended
                    && (is_delete(other) || !other.depends_on.contains(&change.address))
                {
                    waits_for[i].insert(j);
                }
            }
        } else {
            for dependency in &change.depends_on {
                if let Some(&j) = index.get(dependency) {
                    waits_for[i].insert(j);
                }
            }
            // A create at a place another object is leaving waits for that delete.
            if let Some(locator) = locators.get(&change.address) {
                for (j, other) in changes.iter().enumerate() {
                    if is_delete(other) && j != i && locators.get(&other.address) == Some(locator) {
                        waits_for[i].insert(j);
                    }
                }
            }
        }
    }
    waits_for
}

/// Desired addresses, dependencies first (ties by address).
pub fn dependency_order(desired: &Desired) -> Vec<Address> {
    let addresses: Vec<&Address> = desired.resources.keys().collect();
    let index: BTreeMap<&Address, usize> =
        addresses.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    let waits_for: Vec<BTreeSet<usize>> = addresses
        .iter()
        .map(|a| {
            desired.resources[*a]
                .depends_on
                .iter()
                .filter_map(|d| index.get(d).copied())
                .collect()
        })
        .collect();
    topological(addresses.len(), &waits_for)
        .into_iter()
        .map(|i| addresses[i].clone())
        .collect()
}

/// The desired dependency graph as Graphviz DOT (`lode graph`).
pub fn to_dot(desired: &Desired) -> String {
    let mut out = String::from(
        "digraph lode {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for (address, resource) in &desired.resources {
        out.push_str(&format!("  \"{address}\";\n"));
        for dependency in &resource.depends_on {
            out.push_str(&format!("  \"{address}\" -> \"{dependency}\";\n"));
        }
    }
    out.push_str("}\n");
    out
}
