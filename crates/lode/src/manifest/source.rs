//! Where manifest files come from: the work tree under the manifest root, or the tree of any git
//! revision read through git2 without touching the work tree (so a dirty tree is fine). Both end
//! as the same in-memory `ManifestFiles`, so loading and validation cannot tell them apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Manifest, environment and payload files larger than this (8 MiB) are refused, naming the
/// file and the limit: nothing a person reviews is this big. The work tree reader reads at most
/// one byte more of any file, so a huge file under the root costs no more memory than that.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Where the manifests were read from, recorded in plans and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The revision as the user wrote it; `None` for the work tree.
    pub rev: Option<String>,
    /// The commit the revision resolved to (or HEAD for the work tree, when in a repository).
    pub commit: Option<String>,
    /// The work tree differs from HEAD under the manifest root.
    pub dirty: bool,
    /// sha256 over every file's path and content.
    pub digest: String,
}

impl SourceInfo {
    /// A short, human description: `abc1234`, `abc1234 (dirty)`, or `work tree`.
    pub fn describe(&self) -> String {
        match (&self.commit, self.dirty) {
            (Some(commit), false) => commit[..commit.len().min(12)].to_string(),
            (Some(commit), true) => {
                format!("{} + uncommitted changes", &commit[..commit.len().min(12)])
            }
            (None, _) => "work tree (not in git)".to_string(),
        }
    }
}

/// Every file under the manifest root, in memory.
#[derive(Debug, Clone)]
pub struct ManifestFiles {
    /// The manifest root on disk (for messages and for `.lode/`).
    pub root: PathBuf,
    /// Relative path (with `/`) to content.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Symlinks that point outside the root (never followed).
    pub escaping_links: BTreeSet<String>,
    pub info: SourceInfo,
}

/// Why the manifest files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadSourceError {
    #[error("no manifest root: {0} has no lode.yaml")]
    NoRoot(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--rev needs a git repository, but {0} is not inside one")]
    NotARepository(PathBuf),
    #[error("unknown revision `{rev}`: {message}")]
    UnknownRevision { rev: String, message: String },
    #[error(
        "revision `{rev}` is not in this repository's history: it is a shallow clone ({message})"
    )]
    ShallowClone { rev: String, message: String },
    #[error("revision `{rev}` has no folder {path}")]
    RootMissingAtRevision { rev: String, path: String },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn digest_files(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for (path, content) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(sha256_hex(content).as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// Folders never read as manifests: lode's own data (`.lode/`, and `snapshots/` at the root,
/// which every changing apply writes to and so must not change the manifest digest a saved plan
/// is checked against), VCS and build output. `rel` is the folder's path from the root.
fn skipped_dir(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with('.') || name == "target" || name == "node_modules" || rel == "snapshots"
}

impl ManifestFiles {
    /// Reads the work tree under `root`.
    pub fn from_work_tree(root: &Path) -> Result<ManifestFiles, ReadSourceError> {
        if !root.join("lode.yaml").is_file() {
            return Err(ReadSourceError::NoRoot(root.to_path_buf()));
        }
        let canonical_root = root.canonicalize().map_err(|source| ReadSourceError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let mut files = BTreeMap::new();
        let mut escaping_links = BTreeSet::new();
        walk_dir(
            &canonical_root,
            &canonical_root,
            "",
            &mut files,
            &mut escaping_links,
        )?;
        let (commit, dirty) = work_tree_revision(&canonical_root);
        let mut manifest_files = ManifestFiles::from_memory(canonical_root, files);
        manifest_files.escaping_links = escaping_links;
        manifest_files.info.commit = commit;
        manifest_files.info.dirty = dirty;
        Ok(manifest_files)
    }

    /// Manifest files already in memory (relative path with `/` to content), as the work tree
    /// reader builds them; also the entry point of the manifest fuzzer. No revision, no links.
    pub fn from_memory(root: PathBuf, files: BTreeMap<String, Vec<u8>>) -> ManifestFiles {
        let digest = digest_files(&files);
        ManifestFiles {
            root,
            files,
            escaping_links: BTreeSet::new(),
            info: SourceInfo {
                rev: None,
                commit: None,
                dirty: false,
                digest,
            },
        }
    }

    /// Reads the tree of git revision `rev` at the manifest root's place in the repository.
    pub fn from_git_revision(root: &Path, rev: &str) -> Result<ManifestFiles, ReadSourceError> {
        let canonical_root = root.canonicalize().map_err(|source| ReadSourceError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let repo = git2::Repository::discover(&canonical_root)
            .map_err(|_| ReadSourceError::NotARepository(canonical_root.clone()))?;
        let workdir = repo
            .workdir()
            .and_then(|w| w.canonicalize().ok())
            .ok_or_else(|| ReadSourceError::NotARepository(canonical_root.clone()))?;
        let prefix = canonical_root
            .strip_prefix(&workdir)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let object = repo.revparse_single(rev).map_err(|e| {
            if repo.is_shallow() {
                ReadSourceError::ShallowClone {
                    rev: rev.to_string(),
                    message: e.message().to_string(),
                }
            } else {
                ReadSourceError::UnknownRevision {
                    rev: rev.to_string(),
                    message: e.message().to_string(),
                }
            }
        })?;
        let commit = object
            .peel_to_commit()
            .map_err(|e| ReadSourceError::UnknownRevision {
                rev: rev.to_string(),
                message: e.message().to_string(),
            })?;
        let tree = commit.tree()?;
        let subtree = if prefix.as_os_str().is_empty() {
            tree
        } else {
            let entry =
                tree.get_path(&prefix)
                    .map_err(|_| ReadSourceError::RootMissingAtRevision {
                        rev: rev.to_string(),
                        path: prefix.display().to_string(),
                    })?;
            repo.find_tree(entry.id())
                .map_err(|_| ReadSourceError::RootMissingAtRevision {
                    rev: rev.to_string(),
                    path: prefix.display().to_string(),
                })?
        };
        let mut files = BTreeMap::new();
        let mut escaping_links = BTreeSet::new();
        let mut links = Vec::new();
        let mut walk_error = None;
        subtree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            let name = entry.name().unwrap_or_default();
            if entry.kind() == Some(git2::ObjectType::Tree) {
                return if skipped_dir(&format!("{dir}{name}")) {
                    git2::TreeWalkResult::Skip
                } else {
                    git2::TreeWalkResult::Ok
                };
            }
            let path = format!("{dir}{name}");
            match repo.find_blob(entry.id()) {
                Ok(blob) if entry.filemode() == 0o120000 => {
                    // A symlink's blob is its target; lode never follows one out of the root.
                    let target = String::from_utf8_lossy(blob.content()).to_string();
                    match normalize_relative(&format!("{dir}{target}"))
                        .filter(|_| !target.starts_with('/'))
                    {
                        Some(resolved) => links.push((path, resolved)),
                        None => {
                            escaping_links.insert(path);
                        }
                    }
                }
                Ok(blob) => {
                    files.insert(path, blob.content().to_vec());
                }
                Err(e) => {
                    walk_error = Some(e);
                    return git2::TreeWalkResult::Abort;
                }
            }
            git2::TreeWalkResult::Ok
        })?;
        if let Some(e) = walk_error {
            return Err(e.into());
        }
        // In-root links read as their targets, as they do in the work tree.
        for (link, target) in links {
            if let Some(content) = files.get(&target).cloned() {
                files.insert(link, content);
            }
        }
        if !files.contains_key("lode.yaml") {
            return Err(ReadSourceError::RootMissingAtRevision {
                rev: rev.to_string(),
                path: format!("{}/lode.yaml", prefix.display()),
            });
        }
        let digest = digest_files(&files);
        Ok(ManifestFiles {
            root: canonical_root,
            files,
            escaping_links,
            info: SourceInfo {
                rev: Some(rev.to_string()),
                commit: Some(commit.id().to_string()),
                dirty: false,
                digest,
            },
        })
    }

    /// A file's text, or why it cannot be used.
    pub fn text(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|v| v.as_slice())
    }
}

/// Normalises `a/./b/../c` to `a/c`; `None` if the path climbs above its start or is absolute.
pub fn normalize_relative(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

fn walk_dir(
    root: &Path,
    dir: &Path,
    rel: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    escaping_links: &mut BTreeSet<String>,
) -> Result<(), ReadSourceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadSourceError::Io { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        let rel_path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_symlink() {
            match path.canonicalize() {
                Ok(target) if target.starts_with(root) => {
                    if target.is_file() {
                        files.insert(rel_path, read_bounded(&target).map_err(io(&path))?);
                    }
                }
                _ => {
                    escaping_links.insert(rel_path);
                }
            }
        } else if file_type.is_dir() {
            if !skipped_dir(&rel_path) {
                walk_dir(root, &path, &rel_path, files, escaping_links)?;
            }
        } else if file_type.is_file() {
            files.insert(rel_path, read_bounded(&path).map_err(io(&path))?);
        }
    }
    Ok(())
}

/// A file's content, cut after `MAX_FILE_BYTES + 1` bytes: enough for the loader to tell it is
/// too large, without holding a multi-gigabyte file in memory.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut content = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut content)?;
    Ok(content)
}

/// HEAD's commit and whether the work tree differs from it under `root`, when in a repository.
fn work_tree_revision(root: &Path) -> (Option<String>, bool) {
    let Ok(repo) = git2::Repository::discover(root) else {
        return (None, false);
    };
    let commit = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id().to_string());
    let prefix = repo
        .workdir()
        .and_then(|w| w.canonicalize().ok())
        .and_then(|w| root.strip_prefix(w).ok().map(|p| p.to_path_buf()))
        .unwrap_or_default();
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    if !prefix.as_os_str().is_empty() {
        options.pathspec(prefix.to_string_lossy().as_ref());
    }
    // Only files the manifest digest reads count: lode's own `.lode/` and `snapshots/`, which
    // every run may write, must not make the next run's manifests "dirty" (a saved plan would
    // then never match the plan derived again when it is applied).
    let read_as_manifest = |path: &str| {
        let Ok(relative) = Path::new(path).strip_prefix(&prefix) else {
            return false;
        };
        let relative = relative.to_string_lossy().replace('\\', "/");
        let mut folder = String::new();
        let parts: Vec<&str> = relative.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !folder.is_empty() {
                folder.push('/');
            }
            folder.push_str(part);
            if skipped_dir(&folder) {
                return false;
            }
        }
        true
    };
    let dirty = repo
        .statuses(Some(&mut options))
        .map(|s| {
            s.iter()
                .any(|e| !e.status().is_ignored() && e.path().is_ok_and(read_as_manifest))
        })
        .unwrap_or(false);
    (commit, dirty)
}
