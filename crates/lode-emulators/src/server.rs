//! Serving an emulator's axum router on a loopback port from its own thread and tokio runtime,
//! so the synchronous CLI (and the tests) can run both emulators in-process; dropping the
//! handle shuts the server down gracefully and joins its thread.

use std::net::SocketAddr;

/// A server running in the background; dropping it stops it.
pub struct BackgroundServer {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds 127.0.0.1:`port` (0 for any free port) and returns the listener with its base URL.
pub fn bind_loopback(port: u16) -> std::io::Result<(std::net::TcpListener, String)> {
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    Ok((listener, format!("http://{address}")))
}

/// Serves `app` on `listener` from a thread named `name` until the handle is dropped.
pub fn serve_in_background(
    name: &str,
    listener: std::net::TcpListener,
    app: axum::Router,
) -> BackgroundServer {
    serve_in_background_with(name, listener, app, Vec::new())
}

/// How long a stopping server waits for its background tasks to finish their current step.
const TASKS_FINISH_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Work an emulator does besides answering requests (a pipeline following its sources). A task
/// must end soon after the emulator's state is dropped (hold it by a `Weak`).
pub type BackgroundTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// [`serve_in_background`] plus `tasks` on the same runtime; they end with the server (the
/// runtime is dropped when it stops).
pub fn serve_in_background_with(
    name: &str,
    listener: std::net::TcpListener,
    app: axum::Router,
    tasks: Vec<BackgroundTask>,
) -> BackgroundServer {
    let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime starts");
            runtime.block_on(async move {
                let running: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a bound listener converts");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await;
                // The router, and with it the emulator's state, is gone: each task ends once it
                // notices. Letting it finish the step it is in (a pipeline refresh reading a
                // Delta table) keeps the runtime from being dropped under it, which the Delta
                // kernel's executor reports as a crash.
                let _ =
                    tokio::time::timeout(TASKS_FINISH_WITHIN, futures::future::join_all(running))
                        .await;
            });
        })
        .expect("the emulator thread starts");
    BackgroundServer {
        shutdown: Some(shutdown),
        thread: Some(thread),
    }
}
