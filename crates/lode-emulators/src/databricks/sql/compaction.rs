//! Auto compaction, as Databricks runs it after a write. A table that a stream appends to every
//! second gains a small data file every second; left alone, every read of it lists and opens
//! more files and every load of its snapshot carries more add actions, without end. Databricks
//! compacts small files after a write has committed (auto compaction, which Unity Catalog
//! managed tables get by default), with Delta's thresholds: once a table holds at least
//! [`MIN_NUM_FILES`] files smaller than [`MIN_FILE_SIZE`], those files are rewritten into files
//! of up to [`MAX_FILE_SIZE`]. The emulator does the same after every append (INSERT, a Zerobus
//! batch, a streaming table's refresh), in one `OPTIMIZE` commit (`auto: true` in DESCRIBE
//! HISTORY) whose add and remove actions say `dataChange = false`: the rows are the same, so
//! every version keeps reading what it read (time travel included; nothing is vacuumed) and a
//! streaming read skips the commit ([`super::lakehouse`]). Runs of small files are compacted in
//! insertion order, and each new file takes the modification time of the newest file it
//! replaces, so a query without ORDER BY still returns rows in insertion order (the order the
//! engine reads files in). `delta.autoOptimize.autoCompact = false` turns it off for a table.

use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, LogicalFileView};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::TryStreamExt;

use super::SqlError;
use super::storage::{self, Commit};

/// Delta's `spark.databricks.delta.autoCompact.minNumFiles`: how many small files a table must
/// hold before a write compacts them.
const MIN_NUM_FILES: usize = 50;

/// Delta's `spark.databricks.delta.autoCompact.maxFileSize`: the size compacted files grow to.
const MAX_FILE_SIZE: i64 = 128 * 1024 * 1024;

/// Delta's `spark.databricks.delta.autoCompact.minFileSize` (half the maximum unless set):
/// files below it are small, and are compacted again until they reach it.
const MIN_FILE_SIZE: i64 = MAX_FILE_SIZE / 2;

/// The table property that turns auto compaction on or off (`auto`, `legacy`, `true`, `false`).
const AUTO_COMPACT: &str = "delta.autoOptimize.autoCompact";

/// Runs after a write to `t` committed, by the writer that holds the table's lock: compacts the
/// table's small files when there are enough of them. Like Databricks' post-commit hook, a
/// failure here never fails the write, which has committed; it is logged and the next write
/// tries again. Returns the version of the compaction's commit, if it made one.
pub(crate) async fn after_write(t: &mut DeltaTable) -> Option<u64> {
    match compact_small_files(t).await {
        Ok(version) => version,
        Err(e) => {
            let table = t.table_url().to_string();
            tracing::warn!(%table, "auto compaction failed: {e}");
            None
        }
    }
}

/// Compacts `t`'s small files when at least [`MIN_NUM_FILES`] of them are live (see the module
/// doc). Returns the version of the `OPTIMIZE` commit, or `None` when nothing was due.
async fn compact_small_files(t: &mut DeltaTable) -> Result<Option<u64>, SqlError> {
    let disabled = storage::configuration(t)?
        .get(AUTO_COMPACT)
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    if disabled {
        return Ok(None);
    }
    let snap = t.snapshot()?;
    let mut files: Vec<LogicalFileView> = snap
        .snapshot()
        .file_views(t.log_store().as_ref(), None)
        .try_collect()
        .await?;
    // Insertion order, as the engine reads files (see `storage::files`).
    files.reverse();
    files.sort_by_key(|f| f.modification_time());
    let small = files.iter().filter(|f| f.size() < MIN_FILE_SIZE).count();
    if small < MIN_NUM_FILES {
        return Ok(None);
    }
    let bins = bins_of_small_files(files);
    if bins.is_empty() {
        return Ok(None);
    }
    let schema = snap.snapshot().arrow_schema();
    let mut actions = Vec::new();
    let (mut removed_bytes, mut removed_files) = (0i64, 0usize);
    let (mut added_bytes, mut added_files) = (0i64, 0usize);
    for bin in &bins {
        let mut writer = RecordBatchWriter::for_table(t)?;
        for file in bin {
            for batch in storage::read_data_file(t, &file.object_store_path(), &schema).await? {
                writer.write(batch).await?;
            }
        }
        let newest = bin.iter().map(|f| f.modification_time()).max().unwrap_or(0);
        for mut add in writer.flush().await? {
            add.data_change = false;
            add.modification_time = newest;
            added_bytes += add.size;
            added_files += 1;
            actions.push(Action::Add(add));
        }
        for file in bin {
            removed_bytes += file.size();
            removed_files += 1;
            actions.push(Action::Remove(file.remove_action(false)));
        }
    }
    // Databricks' operation parameters and metrics for an auto compaction's OPTIMIZE.
    let commit = Commit::new("OPTIMIZE")
        .param("predicate", "[]")
        .param("zOrderBy", "[]")
        .param("batchId", "0")
        .param("auto", "true")
        .metric("numRemovedFiles", removed_files)
        .metric("numRemovedBytes", removed_bytes)
        .metric("numAddedFiles", added_files)
        .metric("numAddedBytes", added_bytes)
        .metric("numBatches", bins.len());
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: MAX_FILE_SIZE,
    };
    let read_version = Some(storage::version(t));
    let version = CommitBuilder::from(commit.properties(read_version))
        .with_actions(actions)
        .build(Some(snap), t.log_store(), operation)
        .await?
        .version();
    t.update_state().await?;
    Ok(Some(version as u64))
}

/// The groups of files one compaction rewrites, each into one file: runs of consecutive small
/// files (in insertion order; a file at or above [`MIN_FILE_SIZE`] ends a run) of at most
/// [`MAX_FILE_SIZE`] together. A group of one file would be rewritten into itself, so it is left.
fn bins_of_small_files(files: Vec<LogicalFileView>) -> Vec<Vec<LogicalFileView>> {
    let mut bins = Vec::new();
    let mut bin: Vec<LogicalFileView> = Vec::new();
    let mut bin_size = 0i64;
    for file in files {
        let size = file.size();
        if size >= MIN_FILE_SIZE || bin_size + size > MAX_FILE_SIZE {
            bins.push(std::mem::take(&mut bin));
            bin_size = 0;
        }
        if size < MIN_FILE_SIZE {
            bin_size += size;
            bin.push(file);
        }
    }
    bins.push(bin);
    bins.retain(|b| b.len() > 1);
    bins
}
