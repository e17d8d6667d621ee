//! The application layer: the workflows a command runs, on top of the manifests, the engine,
//! the state and the providers. Each workflow is a function that returns a typed outcome or a
//! typed error and prints nothing; what a person should see while it works goes through the
//! [`Reporter`] the caller passes in (the CLI's printer). [`connect`] is the one place that
//! composes environments and starts emulators; [`session`] opens an environment and plans;
//! [`apply`] executes a plan (snapshot → execute → verify → roll back), and [`saved_plan`],
//! [`restore`], [`destroy`], [`stop`] and [`verify`] are the other workflows; [`import`] and
//! [`pull`] write manifests from what is live.

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

/// Replaces (or creates) a manifest or payload file so that a reader, or a crash, sees the old
/// bytes or the new ones, never half a file: the content goes to a temporary file beside it,
/// is synced, takes the old file's permissions, and is renamed over it.
pub(crate) fn replace_file_atomically(
    path: &std::path::Path,
    content: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    let folder = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a file to write has a folder"))?;
    std::fs::create_dir_all(folder)?;
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = folder.join(format!(".{name}.lode-{}", std::process::id()));
    let written = (|| {
        let mut out = std::fs::File::create(&temporary)?;
        out.write_all(content)?;
        out.sync_all()?;
        if let Some(permissions) = permissions {
            std::fs::set_permissions(&temporary, permissions)?;
        }
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}
