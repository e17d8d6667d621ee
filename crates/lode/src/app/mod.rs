//! The application layer: the workflows a command runs, on top of the manifests, the engine,
//! the state and the providers. Each workflow is a function that returns a typed outcome or a
//! typed error and prints nothing; what a person should see while it works goes through the
//! [`Reporter`] the caller passes in (the CLI's printer). [`connect`] is the one place that
//! composes environments and starts emulators; [`session`] opens an environment and plans;
//! [`apply`] executes a plan (snapshot → execute → verify → roll back), and [`saved_plan`],
//! [`restore`], [`destroy`], [`stop`] and [`verify`] are the other workflows.

pub mod apply;
pub mod connect;
pub mod destroy;
pub mod import;
pub mod interrupt;
pub mod pull;
pub mod restore;
pub mod saved_plan;
pub mod session;
pub mod status;
pub mod stop;
pub mod verify;

/// Where a workflow's warnings and progress go while it runs. The CLI implements it with its
/// printer (stderr, honouring `-q`, `-v` and colour); tests can collect the lines.
pub trait Reporter: Send + Sync {
    /// Something the person should know and may need to act on ("warning: …").
    fn warn(&self, message: &str);
    /// A step of the workflow that always shows (unless quiet).
    fn info(&self, message: &str);
    /// Progress worth showing on a terminal only, never in CI logs.
    fn progress(&self, message: &str);
}
