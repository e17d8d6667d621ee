//! The time limit of a script run. A real gateway has none; the emulator has one as a safety
//! net, so that a runaway script (`while True: pass`) cannot stop every other script and the
//! tag flow. RustPython checks its signal channel between bytecodes: when a run passes its
//! limit, the watchdog thread sends a closure that raises `_gateway.ScriptTimeout` (a
//! `BaseException`, so `except Exception:` does not catch it), again every
//! [`RESEND`] while the same run goes on; the fourth one panics, which unwinds to the runtime's
//! `catch_unwind` (a script that swallows everything, `except: pass`), and the runtime then
//! rebuilds the interpreter. Every closure checks that its run is still the current one, so a
//! late signal never hits the next script. A native call (`time.sleep(60)`) is not interrupted:
//! the exception comes when it returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rustpython_vm::signal::UserSignalSender;

/// How often the watchdog signals a run that is past its limit.
pub const RESEND: Duration = Duration::from_millis(50);

/// Signals after the first that are ignored before the watchdog panics the run.
const PATIENCE: u32 = 3;

enum Message {
    Arm(u64),
    Stop,
}

/// The watchdog of one script runtime; dropping it stops its thread.
pub struct Watchdog {
    /// The run that is going on now; 0 when none is.
    running: Arc<AtomicU64>,
    last_id: u64,
    messages: mpsc::Sender<Message>,
    signals: Arc<Mutex<UserSignalSender>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(limit: Duration, signals: UserSignalSender) -> std::io::Result<Watchdog> {
        let running = Arc::new(AtomicU64::new(0));
        let signals = Arc::new(Mutex::new(signals));
        let (messages, inbox) = mpsc::channel();
        let thread = {
            let running = running.clone();
            let signals = signals.clone();
            std::thread::Builder::new()
                .name("gateway-script-watchdog".into())
                .spawn(move || watch(limit, &inbox, &running, &signals))?
        };
        Ok(Watchdog {
            running,
            last_id: 0,
            messages,
            signals,
            thread: Some(thread),
        })
    }

    /// The signal channel of a rebuilt interpreter.
    pub fn set_signals(&self, signals: UserSignalSender) {
        *self.signals.lock().expect("watchdog signals lock") = signals;
    }

    /// A run starts now.
    pub fn arm(&mut self) {
        self.last_id += 1;
        self.running.store(self.last_id, Ordering::SeqCst);
        let _ = self.messages.send(Message::Arm(self.last_id));
    }

    /// The run has ended.
    pub fn disarm(&self) {
        self.running.store(0, Ordering::SeqCst);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.messages.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(
    limit: Duration,
    inbox: &mpsc::Receiver<Message>,
    running: &Arc<AtomicU64>,
    signals: &Mutex<UserSignalSender>,
) {
    // (run id, when to signal it, signals sent so far)
    let mut armed: Option<(u64, Instant, u32)> = None;
    loop {
        let wait = armed
            .map(|(_, at, _)| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        match inbox.recv_timeout(wait) {
            Ok(Message::Arm(id)) => armed = Some((id, Instant::now() + limit, 0)),
            Ok(Message::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let Some((id, _, sent)) = armed else {
                    continue;
                };
                if running.load(Ordering::SeqCst) != id {
                    armed = None;
                    continue;
                }
                let current = running.clone();
                let millis = limit.as_millis();
                let _ = signals
                    .lock()
                    .expect("watchdog signals lock")
                    .send(Box::new(move |vm| {
                        if current.load(Ordering::SeqCst) != id {
                            return Ok(());
                        }
                        if sent >= PATIENCE {
                            panic!("gateway script run {id} ignored its time limit of {millis} ms");
                        }
                        let class = vm.import("_gateway", 0)?.get_attr("ScriptTimeout", vm)?;
                        let error = class.call(
                            (format!("the script ran past its time limit of {millis} ms"),),
                            vm,
                        )?;
                        Err(error
                            .downcast()
                            .map_err(|_| vm.new_runtime_error("ScriptTimeout is no exception"))?)
                    }));
                armed = Some((id, Instant::now() + RESEND, sent + 1));
            }
        }
    }
}
