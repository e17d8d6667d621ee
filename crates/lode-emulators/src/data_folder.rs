//! Who serves a data folder, and on which port. Two emulators on one folder would be two writers
//! of the same Delta tables and gateway files, and an emulator that took whatever port was free
//! would move every URL that names it (lode writes the chat page's URL into a gateway script),
//! so each data folder has:
//!
//! - **one port for its lifetime**, chosen when the folder is first served and recorded in a port
//!   file created with create-new semantics (`databricks/port`, `ignition/.emulator-port`); every
//!   later server of the folder binds exactly that port, or fails saying what holds it;
//! - **one serving process at a time**: an OS lock on `.emulator-lock` in the folder, held for as
//!   long as the process serves it (the kernel releases it when the process ends, however it
//!   ends). The file names the holder: pid, command, URL, and whether it is a standing server
//!   others may use.
//!
//! A process that finds the folder held uses the holder's server when that is a standing one
//! offered to others (`lode emulator serve` on the folder's own port and credentials; a future
//! `lode up`), refuses at once when it is a standing one it cannot use, and otherwise (another
//! command's in-process emulator) waits for the holder to finish, for a bounded time, telling its
//! caller whom it waits for.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The lock file in every served data folder (a dot file: the gateway's loaders skip it).
pub const LOCK_FILE: &str = ".emulator-lock";

/// How often a waiting process tries the lock again.
const POLL: Duration = Duration::from_millis(50);

/// How long the folder's port may stay busy once the lock is ours: long enough for the sockets
/// of a holder that was killed to close (the kernel may release its lock a moment before its
/// listener), short enough that a port taken by another program fails fast.
const PORT_RELEASE: Duration = Duration::from_secs(2);

/// Where a folder's first port is drawn from: below the ephemeral ranges of Linux (32768-60999),
/// macOS and Windows (49152-65535), so no outgoing connection of any program sits on the port
/// while the folder is not served.
const FIRST_PORTS: std::ops::Range<u16> = 20000..32768;

/// The process that serves a data folder, as its lock file names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// What the process runs, for people (`lode plan`, `lode emulator serve`).
    pub command: String,
    /// The base URL it serves the folder at.
    pub url: String,
    /// A server that runs until it is stopped, not one command's emulator.
    pub standing: bool,
    /// Other processes may use this server instead of their own: it is standing, on the
    /// folder's port, and accepts the credentials they would give their own.
    pub shared: bool,
}

impl Holder {
    /// `lode plan` (pid 1234) at http://127.0.0.1:20817
    pub fn describe(&self) -> String {
        format!("`{}` (pid {}) at {}", self.command, self.pid, self.url)
    }
}

/// How a process means to serve a data folder.
pub struct Claim<'a> {
    /// What this process runs, recorded for whoever waits for it.
    pub command: String,
    /// A server that runs until it is stopped (`lode emulator serve`): it never uses another
    /// process's server, and a standing holder is refused at once rather than waited for.
    pub standing: bool,
    /// Whether a standing server offers itself to other processes; it does only when it also
    /// serves on the folder's port.
    pub offer_to_others: bool,
    /// The longest wait for another command to release the folder.
    pub wait: Duration,
    /// Called when the wait for a holder starts (again for each new holder).
    pub on_wait: &'a dyn Fn(&Holder),
}

/// The outcome of a claim.
pub enum Claimed {
    /// This process serves the folder: the listener is bound to its port.
    Own(Tenancy),
    /// Another process's standing server serves it; use that.
    Shared(Holder),
}

/// A data folder's server, as a process that asked to serve the folder has it.
pub enum Serving<T> {
    /// Its own server (`RunningEmulator`, `RunningGateway`), stopped when dropped.
    Own(T),
    /// Another process's standing server, which it uses instead.
    Shared(Holder),
}

/// The folder's lock and listener, held by the process that serves the folder.
pub struct Tenancy {
    pub listener: TcpListener,
    pub url: String,
    pub lock: FolderLock,
}

/// The OS lock on a folder's lock file; released, and the file emptied, when dropped. Keep it
/// until the server has stopped, so the next holder finds the port free.
pub struct FolderLock {
    file: File,
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // An empty file is a clean release; one that still names a holder is a holder that died.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Why a data folder could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ClaimFolderError {
    #[error("cannot use the emulator data folder {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} holds no port number ({content:?}): delete it, and the emulator takes a new port \
         (the next apply then rewrites the URLs that name the old one)",
        .path.display()
    )]
    BadPortRecord { path: PathBuf, content: String },
    #[error(
        "port {port}, which {} keeps for this data folder, is in use by another program: stop \
         that program, or delete the file to give the folder a new port (the next apply then \
         rewrites the URLs that name the old one)",
        .path.display()
    )]
    PortInUse { port: u16, path: PathBuf },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error(
        "the emulator data folder {} is still in use by {} after waiting {} s",
        .folder.display(),
        .holder.as_ref().map(Holder::describe).unwrap_or_else(|| "another process".into()),
        .waited.as_secs()
    )]
    StillInUse {
        folder: PathBuf,
        holder: Option<Holder>,
        waited: Duration,
    },
    #[error(
        "the emulator data folder {} is served by {}, {}",
        .folder.display(),
        .holder.describe(),
        if .holder.shared { "a standing server already" } else {
            "which other processes cannot use (another port or other credentials than the folder's)"
        }
    )]
    ServedByStandingServer { folder: PathBuf, holder: Holder },
}

/// Claims `folder` for this process: waits for a command that holds it, uses a standing server
/// that offers it, and otherwise binds `port` (0: the folder's own port, chosen and recorded in
/// `port_file` the first time) and records this process as the holder.
pub fn claim(
    folder: &Path,
    port_file: &str,
    port: u16,
    claim: &Claim<'_>,
) -> Result<Claimed, ClaimFolderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ClaimFolderError::Io { path, source }
    };
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    let lock_path = folder.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    let started = Instant::now();
    let mut announced: Option<Holder> = None;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(source)) => return Err(io(&lock_path)(source)),
        }
        // Unreadable while the holder is still writing it; the next poll reads it whole.
        let holder = read_holder(&lock_path);
        if let Some(holder) = &holder {
            if holder.shared && !claim.standing {
                return Ok(Claimed::Shared(holder.clone()));
            }
            if holder.standing {
                return Err(ClaimFolderError::ServedByStandingServer {
                    folder: folder.to_path_buf(),
                    holder: holder.clone(),
                });
            }
            if announced.as_ref() != Some(holder) {
                (claim.on_wait)(holder);
                announced = Some(holder.clone());
            }
        }
        if started.elapsed() >= claim.wait {
            return Err(ClaimFolderError::StillInUse {
                folder: folder.to_path_buf(),
                holder,
                waited: claim.wait,
            });
        }
        std::thread::sleep(POLL);
    }
    let lock = FolderLock { file };
    let port_path = folder.join(port_file);
    let (recorded, listener) = folder_port(&port_path, port)?;
    let listener = match listener {
        Some(listener) => listener,
        None if port == 0 || port == recorded => bind_when_free(recorded, &port_path)?,
        None => crate::server::bind_loopback(port)
            .map(|(listener, _)| listener)
            .map_err(|source| ClaimFolderError::Bind { port, source })?,
    };
    let bound = listener
        .local_addr()
        .map_err(|source| ClaimFolderError::Bind { port, source })?
        .port();
    let url = format!("http://127.0.0.1:{bound}");
    let holder = Holder {
        pid: std::process::id(),
        command: claim.command.clone(),
        url: url.clone(),
        standing: claim.standing,
        shared: claim.standing && claim.offer_to_others && bound == recorded,
    };
    let record = serde_json::to_vec(&holder).expect("a holder serialises");
    let mut file = &lock.file;
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(&record))
        .and_then(|()| file.sync_data())
        .map_err(io(&lock_path))?;
    Ok(Claimed::Own(Tenancy {
        listener,
        url,
        lock,
    }))
}

/// The folder's port, chosen and recorded now if it has none yet, without serving the folder:
/// for URLs that must be known before any emulator starts (the built-in local environments put
/// the workspace emulator's URL into manifest variables).
pub fn reserve_port(folder: &Path, port_file: &str) -> Result<u16, ClaimFolderError> {
    std::fs::create_dir_all(folder).map_err(|source| ClaimFolderError::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    folder_port(&folder.join(port_file), 0).map(|(port, _listener)| port)
}

/// The process that serves `folder` now, if one does: the lock is held and the lock file names
/// its holder. (A lock file that names a process which no longer holds the lock is a holder
/// that died.) How a client finds the running server of a data folder.
pub fn serving_holder(folder: &Path) -> std::io::Result<Option<Holder>> {
    let lock_path = folder.join(LOCK_FILE);
    let file = match OpenOptions::new().read(true).write(true).open(&lock_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // A holder writes its record right after taking the lock: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match file.try_lock() {
            // Free: nobody serves the folder (dropping the file releases the lock again).
            Ok(()) => return Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        if let Some(holder) = read_holder(&lock_path) {
            return Ok(Some(holder));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// The holder a lock file names, if it names one whole.
pub fn read_holder(lock_path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(lock_path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The folder's port: the recorded one, or else `wanted` (0: a free one chosen now), recorded
/// with create-new semantics and returned with its listener (so no one can take it between the
/// choice and the bind).
fn folder_port(
    port_path: &Path,
    wanted: u16,
) -> Result<(u16, Option<TcpListener>), ClaimFolderError> {
    if let Some(port) = read_port(port_path)? {
        return Ok((port, None));
    }
    let listener = if wanted == 0 {
        bind_first_port()
    } else {
        crate::server::bind_loopback(wanted).map(|(listener, _)| listener)
    }
    .map_err(|source| ClaimFolderError::Bind {
        port: wanted,
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| ClaimFolderError::Bind { port: 0, source })?
        .port();
    let io = |source| ClaimFolderError::Io {
        path: port_path.to_path_buf(),
        source,
    };
    let folder = port_path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(folder).map_err(io)?;
    temp.write_all(port.to_string().as_bytes()).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    match temp.persist_noclobber(port_path) {
        Ok(_) => Ok((port, Some(listener))),
        // Recorded meanwhile by a process that does not take the lock (an older lode): theirs
        // stands, as URLs may already name it.
        Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
            let port = read_port(port_path)?.ok_or_else(|| ClaimFolderError::BadPortRecord {
                path: port_path.to_path_buf(),
                content: String::new(),
            })?;
            Ok((port, None))
        }
        Err(error) => Err(io(error.error)),
    }
}

fn read_port(port_path: &Path) -> Result<Option<u16>, ClaimFolderError> {
    let text = match std::fs::read_to_string(port_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ClaimFolderError::Io {
                path: port_path.to_path_buf(),
                source,
            });
        }
    };
    match text.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(Some(port)),
        _ => Err(ClaimFolderError::BadPortRecord {
            path: port_path.to_path_buf(),
            content: text,
        }),
    }
}

/// A listener on a free port from [`FIRST_PORTS`], or on any free port if none of a few tries
/// is free.
fn bind_first_port() -> std::io::Result<TcpListener> {
    let span = u128::from(FIRST_PORTS.end - FIRST_PORTS.start);
    for _ in 0..32 {
        let offset = u16::try_from(uuid::Uuid::new_v4().as_u128() % span).unwrap_or_default();
        if let Ok((listener, _)) = crate::server::bind_loopback(FIRST_PORTS.start + offset) {
            return Ok(listener);
        }
    }
    crate::server::bind_loopback(0).map(|(listener, _)| listener)
}

/// Binds `port`, waiting a moment if it is busy (see [`PORT_RELEASE`]).
fn bind_when_free(port: u16, port_path: &Path) -> Result<TcpListener, ClaimFolderError> {
    let started = Instant::now();
    loop {
        match crate::server::bind_loopback(port) {
            Ok((listener, _)) => return Ok(listener),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                if started.elapsed() >= PORT_RELEASE {
                    return Err(ClaimFolderError::PortInUse {
                        port,
                        path: port_path.to_path_buf(),
                    });
                }
                std::thread::sleep(POLL);
            }
            Err(source) => return Err(ClaimFolderError::Bind { port, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn command(wait: Duration, on_wait: &dyn Fn(&Holder)) -> Claim<'_> {
        Claim {
            command: "lode plan".into(),
            standing: false,
            offer_to_others: false,
            wait,
            on_wait,
        }
    }

    fn own(claimed: Claimed) -> Tenancy {
        match claimed {
            Claimed::Own(tenancy) => tenancy,
            Claimed::Shared(holder) => panic!("shared {holder:?}, not owned"),
        }
    }

    #[test]
    fn a_folder_keeps_the_port_it_was_first_served_on() {
        let dir = tempfile::tempdir().unwrap();
        let first = own(claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {})).unwrap());
        let recorded = std::fs::read_to_string(dir.path().join("port")).unwrap();
        assert_eq!(first.url, format!("http://127.0.0.1:{recorded}"));
        assert!(FIRST_PORTS.contains(&recorded.parse::<u16>().unwrap()));
        let holder = read_holder(&dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.url, first.url);
        let url = first.url.clone();
        drop(first);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(),
            "",
            "a clean release empties the lock file"
        );
        let second = own(claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {})).unwrap());
        assert_eq!(second.url, url);
    }

    #[test]
    fn a_second_command_waits_for_the_first_and_gets_the_same_port() {
        let dir = tempfile::tempdir().unwrap();
        let first = own(claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {})).unwrap());
        let url = first.url.clone();
        let (waiting, waits) = mpsc::channel();
        let folder = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let tell = move |holder: &Holder| waiting.send(holder.clone()).unwrap();
            own(claim(&folder, "port", 0, &command(Duration::from_secs(60), &tell)).unwrap()).url
        });
        let waited_for = waits.recv().unwrap();
        assert_eq!(waited_for.url, url);
        assert_eq!(waited_for.command, "lode plan");
        drop(first);
        assert_eq!(second.join().unwrap(), url);
    }

    #[test]
    fn a_wait_is_bounded_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = own(claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {})).unwrap());
        let error = match claim(
            dir.path(),
            "port",
            0,
            &command(Duration::from_millis(200), &|_| {}),
        ) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("claimed a held folder"),
        };
        assert!(
            error.contains(&format!("`lode plan` (pid {})", std::process::id()))
                && error.contains("still in use"),
            "{error}"
        );
    }

    #[test]
    fn a_command_uses_a_standing_server_that_offers_itself() {
        let dir = tempfile::tempdir().unwrap();
        let server = Claim {
            command: "lode emulator serve".into(),
            standing: true,
            offer_to_others: true,
            wait: Duration::ZERO,
            on_wait: &|_| {},
        };
        let served = own(claim(dir.path(), "port", 0, &server).unwrap());
        match claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {})).unwrap() {
            Claimed::Shared(holder) => {
                assert_eq!(holder.url, served.url);
                assert!(holder.standing && holder.shared);
            }
            Claimed::Own(_) => panic!("a second server on a served folder"),
        }
        // A second standing server is refused at once.
        let error = claim(dir.path(), "port", 0, &server).err().unwrap();
        assert!(
            matches!(error, ClaimFolderError::ServedByStandingServer { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_standing_server_on_another_port_is_refused_not_used() {
        let dir = tempfile::tempdir().unwrap();
        // The folder's port is recorded first, then served elsewhere.
        drop(own(claim(
            dir.path(),
            "port",
            0,
            &command(Duration::ZERO, &|_| {}),
        )
        .unwrap()));
        let elsewhere = bind_first_port().unwrap().local_addr().unwrap().port();
        let server = Claim {
            command: "lode emulator serve".into(),
            standing: true,
            offer_to_others: true,
            wait: Duration::ZERO,
            on_wait: &|_| {},
        };
        let _served = own(claim(dir.path(), "port", elsewhere, &server).unwrap());
        let error = claim(
            dir.path(),
            "port",
            0,
            &command(Duration::from_secs(60), &|_| {}),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("which other processes cannot use")
                && error.contains("`lode emulator serve`"),
            "{error}"
        );
    }

    #[test]
    fn a_port_file_without_a_port_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("port"), "eighty").unwrap();
        let error = claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {}))
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("holds no port number") && error.contains("delete it"),
            "{error}"
        );
    }

    #[test]
    fn a_recorded_port_taken_by_another_program_is_an_error_not_a_new_port() {
        let dir = tempfile::tempdir().unwrap();
        let squatter = bind_first_port().unwrap();
        let port = squatter.local_addr().unwrap().port();
        std::fs::write(dir.path().join("port"), port.to_string()).unwrap();
        let error = claim(dir.path(), "port", 0, &command(Duration::ZERO, &|_| {}))
            .err()
            .unwrap();
        assert!(
            matches!(error, ClaimFolderError::PortInUse { port: p, .. } if p == port),
            "{error}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("port")).unwrap(),
            port.to_string()
        );
    }
}
