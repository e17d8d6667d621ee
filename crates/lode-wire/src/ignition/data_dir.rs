//! Durable file operations on a gateway data directory: atomic writes (temp file, fsync, rename,
//! fsync of the folder) so a reader never sees a half-written or empty payload, and tolerant
//! JSON reads (the gateway writes Gson escapes and its own key order). Both lode's `files`
//! transport and the gateway emulator write the directory this way.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why reading or writing a file of the data directory failed.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not what the gateway writes: {message}")]
    Unreadable { path: PathBuf, message: String },
}

/// A `map_err` adapter naming the operation and the path.
pub fn io_error(
    operation: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io {
        operation,
        path,
        source,
    }
}

/// "Not found", or a path through a file ("not a directory"): either way nothing is there.
fn is_absent(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Writes `content` to `path` atomically and durably, creating parent folders.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), DataDirError> {
    let dir = path.parent().expect("gateway files live in folders");
    std::fs::create_dir_all(dir).map_err(io_error("create folder", dir))?;
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).map_err(io_error("create temp file in", dir))?;
    temp.write_all(content).map_err(io_error("write", path))?;
    temp.as_file().sync_all().map_err(io_error("fsync", path))?;
    temp.persist(path).map_err(|e| DataDirError::Io {
        operation: "rename into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// fsyncs a folder so a rename or removal in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), DataDirError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_error("fsync folder", dir))
}

/// JSON the way Ignition writes it: two-space indentation.
pub fn to_json_bytes(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    bytes.push(b'\n');
    bytes
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json(path: &Path) -> Result<Option<Value>, DataDirError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| DataDirError::Unreadable {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })
        }
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(DataDirError::Io {
            operation: "read",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Reads a text file; `Ok(None)` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, DataDirError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DataDirError::Unreadable {
                path: path.to_path_buf(),
                message: "not UTF-8 text".into(),
            }),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(DataDirError::Io {
            operation: "read",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Removes a folder and everything in it; a missing folder is fine.
pub fn remove_dir(path: &Path) -> Result<(), DataDirError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(DataDirError::Io {
                operation: "remove",
                path: path.to_path_buf(),
                source: e,
            });
        }
    }
    match path.parent() {
        Some(parent) if parent.exists() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// A `resource.json` as lode writes one: no signature (the gateway signs it on its next scan)
/// and no timestamps.
pub fn resource_manifest(scope: &str, files: &[&str], attributes: Value) -> Value {
    serde_json::json!({
        "scope": scope,
        "version": 1,
        "restricted": false,
        "overridable": true,
        "files": files,
        "attributes": attributes,
    })
}
