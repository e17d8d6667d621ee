//! The Ctrl-C handler of the commands that execute plans. The first Ctrl-C while steps run asks
//! the apply to stop starting new ones ([`crate::app::interrupt`]); the apply then finishes
//! the running ones, records state and the journal, releases the lock and exits 130. Running
//! steps get a bounded time: past it, or on a second Ctrl-C, the process exits at once and the
//! write-ahead log lets the next run recover. Outside the steps there is nothing to finish, so
//! Ctrl-C exits at once, as it would without a handler.

use std::time::Duration;

use super::printer;

/// How long the running steps may take after the first Ctrl-C.
const FINISH_WITHIN: Duration = Duration::from_secs(60);

/// The exit code of a command ended by Ctrl-C.
const EXIT_INTERRUPTED: i32 = 130;

/// Starts listening for Ctrl-C for the rest of the process.
pub fn install() {
    let listener = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let mut presses = 0;
                while tokio::signal::ctrl_c().await.is_ok() {
                    presses += 1;
                    if presses > 1 || !crate::app::interrupt::request() {
                        std::process::exit(EXIT_INTERRUPTED);
                    }
                    printer().warning(&format!(
                        "interrupted: no new step starts; the running ones may finish (at most {} s), then state and the journal are written. Press Ctrl-C again to exit at once.",
                        FINISH_WITHIN.as_secs()
                    ));
                    std::thread::spawn(|| {
                        std::thread::sleep(FINISH_WITHIN);
                        printer().error_line(&format!(
                            "error: the running steps did not finish within {} s after Ctrl-C; exiting. The next `lode apply` recovers what they did.",
                            FINISH_WITHIN.as_secs()
                        ));
                        std::process::exit(EXIT_INTERRUPTED);
                    });
                }
            });
        });
    if let Err(error) = listener {
        tracing::warn!(%error, "Ctrl-C cannot be handled: it will end the process at once");
    }
}
