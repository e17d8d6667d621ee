//! `lode state list|show|rm|mv`: inspect state, stop managing an object without touching it,
//! and move an object to another address without touching it.

use std::process::ExitCode;

use super::{CommandError, GlobalArgs, TextOrJson};
use crate::manifest::Address;

/// Inspect or edit the state of an environment.
#[derive(Debug, clap::Subcommand)]
pub enum StateCommand {
    /// List the managed addresses, one per line.
    List {
        /// text (one address per line) or json (an array of `{"address", "kind", "id"}`).
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// Show one managed object's state entry as JSON.
    Show {
        /// The address, e.g. `udt/Crusher`.
        address: Address,
    },
    /// Stop managing objects: remove them from state and leave them live, untouched.
    Rm {
        /// The addresses to forget.
        #[arg(required = true)]
        addresses: Vec<Address>,
    },
    /// Record that an object now has another address (a renamed document), so that the next
    /// plan neither deletes it under the old address nor adopts it under the new one. The live
    /// object is not touched. In the manifests, `moved: {from: OLD}` does the same.
    Mv {
        /// The address in state now, e.g. `gateway_script/physics_simulation`.
        from: Address,
        /// The new address, of the same kind.
        to: Address,
    },
}

pub fn run(global: &GlobalArgs, command: &StateCommand) -> Result<ExitCode, CommandError> {
    // The backend the environment configures, read from lode.yaml and the environment file
    // only, so state commands work while other manifests are broken (issue #13).
    let access = crate::app::session::open_state(
        &global.session(),
        &crate::app::connect::EmulatorWait::patient(super::printer()),
    )?;
    let backend = &access.backend;
    let printer = super::printer();
    match command {
        StateCommand::List { format } => {
            let (state, _) = backend.load()?;
            match format {
                TextOrJson::Text => {
                    for address in state.resources.keys() {
                        printer.data(&format!("{address}\n"));
                    }
                }
                TextOrJson::Json => printer.json(&serde_json::Value::Array(
                    state
                        .resources
                        .iter()
                        .map(|(address, entry)| {
                            serde_json::json!({
                                "address": address.to_string(),
                                "kind": address.kind.as_str(),
                                "id": entry.id,
                            })
                        })
                        .collect(),
                )),
            }
        }
        StateCommand::Show { address } => {
            let (state, _) = backend.load()?;
            let entry = state.resources.get(address).ok_or_else(|| {
                CommandError::user(format!("{address} is not in the state of `{}`", global.env))
                    .hint("`lode state list` shows what is managed")
            })?;
            printer.json(&serde_json::to_value(entry).expect("state serialises"));
        }
        StateCommand::Rm { addresses } => {
            let lock = backend.lock("lode state rm")?;
            let (mut state, _) = backend.load()?;
            for address in addresses {
                if state.resources.remove(address).is_none() {
                    return Err(CommandError::user(format!(
                        "{address} is not in the state of `{}`; nothing was changed",
                        global.env
                    )));
                }
            }
            backend.save(&mut state, &lock)?;
            for address in addresses {
                printer.data(&format!(
                    "Removed {address} from state; the live object was not touched.\n"
                ));
            }
        }
        StateCommand::Mv { from, to } => {
            if from.kind != to.kind {
                return Err(CommandError::user(format!(
                    "cannot move {from} to {to}: a move keeps the kind; nothing was changed"
                )));
            }
            let command = format!("lode state mv {from} {to}");
            let lock = backend.lock(&command)?;
            let (mut state, _) = backend.load()?;
            if state.resources.contains_key(to) {
                return Err(CommandError::user(format!(
                    "{to} is already in the state of `{}`; nothing was changed",
                    global.env
                ))
                .hint(format!(
                    "if that entry is stale, `lode state rm {to}` first (it leaves the live object alone)"
                )));
            }
            let Some(entry) = state.resources.remove(from) else {
                return Err(CommandError::user(format!(
                    "{from} is not in the state of `{}`; nothing was changed",
                    global.env
                ))
                .hint("`lode state list` shows what is managed"));
            };
            state.resources.insert(to.clone(), entry);
            backend.save(&mut state, &lock)?;
            let mut entry = crate::state::JournalEntry::begin("state mv", &command);
            entry.details.push(format!("moved {from} to {to} in state"));
            if let Err(error) = backend.append_journal(&entry) {
                printer.warning(&format!("the journal could not record this move: {error}"));
            }
            printer.data(&format!(
                "Moved {from} to {to} in state; the live object was not touched.\n"
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
