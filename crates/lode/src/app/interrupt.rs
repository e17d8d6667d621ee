//! Ctrl-C while an apply changes things. The signal is process-wide, so this is too: the CLI's
//! signal handler calls [`request`], and the apply that has [`armed`](Armed) it stops starting
//! new steps, lets the running ones finish, writes state and the journal ("interrupted") and
//! releases the lock. Outside an armed apply (planning, asking, reading) nothing is half done,
//! so [`request`] answers `false` and the handler exits at once, as an unhandled Ctrl-C would.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many applies are executing steps now (nested restores of a rollback count twice).
static ARMED: AtomicUsize = AtomicUsize::new(0);
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Marks the process as executing steps until dropped.
pub struct Armed(());

/// Arms the interrupt for as long as the returned guard lives.
pub fn arm() -> Armed {
    ARMED.fetch_add(1, Ordering::SeqCst);
    Armed(())
}

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Asks the running apply to stop after its running steps. `false` when no apply is executing
/// steps: then there is nothing to finish, and the caller should exit.
pub fn request() -> bool {
    REQUESTED.store(true, Ordering::SeqCst);
    ARMED.load(Ordering::SeqCst) > 0
}

/// Whether an interrupt was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// What an apply halted by Ctrl-C says about why.
pub const REASON: &str = "interrupted (Ctrl-C)";
