//! The local state store: one folder per environment (default `.lode/<env>/` in the manifest
//! root). Documents are replaced by temp file + fsync + rename + fsync of the folder; appends
//! are fsynced. The lock is an OS file lock (released by the kernel if the holder dies, so a
//! crashed apply never leaves it stuck) on a file that names its holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::backend::{HeldLock, LockInfo, StateError, StateStore};

/// A folder holding state documents.
pub struct LocalStore {
    dir: PathBuf,
}

fn storage(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let location = path.display().to_string();
    move |error| StateError::Storage {
        operation,
        location,
        message: error.to_string(),
    }
}

impl LocalStore {
    pub fn new(dir: PathBuf) -> LocalStore {
        LocalStore { dir }
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        std::fs::create_dir_all(&self.dir).map_err(storage("create", &self.dir))?;
        // Keep lode's data out of the user's commits.
        if let Some(lode_dir) = self
            .dir
            .ancestors()
            .find(|p| p.file_name().is_some_and(|n| n == ".lode"))
        {
            let ignore = lode_dir.join(".gitignore");
            if !ignore.exists() {
                std::fs::write(&ignore, "*\n").map_err(storage("write", &ignore))?;
            }
        }
        Ok(())
    }
}

/// The OS lock on the lock file; the kernel releases it if the process dies.
struct FileLock {
    file: File,
}

impl HeldLock for FileLock {}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

impl StateStore for LocalStore {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage("read", &path)(e)),
        }
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.ensure_dir()?;
        let path = self.dir.join(name);
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(storage("create temp file in", &self.dir))?;
        temp.write_all(bytes).map_err(storage("write", &path))?;
        temp.as_file().sync_all().map_err(storage("fsync", &path))?;
        temp.persist(&path)
            .map_err(|e| storage("rename into", &path)(e.error))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(storage("fsync", &self.dir))
    }

    fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.ensure_dir()?;
        let path = self.dir.join(name);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(storage("open", &path))?;
        file.write_all(bytes).map_err(storage("write", &path))?;
        file.sync_data().map_err(storage("fsync", &path))
    }

    fn remove(&self, name: &str) -> Result<(), StateError> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(storage("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    fn list(&self, folder: &str) -> Result<Vec<String>, StateError> {
        let dir = self.dir.join(folder);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(storage("list", &dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn lock(&self, environment: &str, info: &LockInfo) -> Result<Box<dyn HeldLock>, StateError> {
        self.ensure_dir()?;
        let path = self.dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(storage("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = serde_json::from_str::<LockInfo>(&holder)
                    .map(|info| info.describe())
                    .unwrap_or_else(|_| "another lode process".to_string());
                return Err(StateError::Locked {
                    environment: environment.to_string(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(storage("lock", &path)(e)),
        }
        // A holder that lets go empties the file; one that still names a holder died holding it
        // (killed or crashed), and the kernel released its lock. Say whose lock is taken over.
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        if let Ok(dead) = serde_json::from_str::<LockInfo>(&previous) {
            tracing::warn!(
                "took over the lock of {}, which ended without releasing it (killed or crashed); \
                 its write-ahead log, if any, is replayed",
                dead.describe()
            );
        }
        file.set_len(0).map_err(storage("write", &path))?;
        file.rewind().map_err(storage("write", &path))?;
        file.write_all(
            serde_json::to_string(info)
                .expect("lock info serialises")
                .as_bytes(),
        )
        .map_err(storage("write", &path))?;
        file.sync_all().map_err(storage("fsync", &path))?;
        Ok(Box::new(FileLock { file }))
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.dir.join("lock");
        let Ok(file) = File::open(&path) else {
            return Ok(None);
        };
        if file.try_lock_shared().is_ok() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(storage("read", &path))?;
        Ok(serde_json::from_str(&text).ok())
    }

    fn force_unlock(&self, environment: &str, id: &str) -> Result<(), StateError> {
        // An OS lock dies with its process; a live holder's lock cannot be broken from outside.
        match self.lock_holder()? {
            None => Ok(()),
            Some(info) if info.id == id => Err(StateError::Locked {
                environment: environment.to_string(),
                holder: format!(
                    "{} — a running local process; stop it instead",
                    info.describe()
                ),
            }),
            Some(info) => Err(StateError::WrongLockId {
                environment: environment.to_string(),
                given: id.to_string(),
                actual: info.id,
            }),
        }
    }
}
