//! Fuzzes manifest loading: the demo manifests, with one file replaced (or one added) by the
//! fuzzer's bytes, go through `ManifestFiles::from_memory` and `load_desired`, the path every
//! `lode validate`, `plan` and `apply` takes. Any input may be rejected with errors; none may
//! panic, hang, overflow the stack or grow memory without bound.
//!
//! Input layout: the first byte picks the file: its low seven bits the slot
//! (`DEMO[bits % (DEMO.len() + 1)]`, the last slot being a new manifest `fuzz.yaml`), its high
//! bit whether the other demo files stay (clear: cross-file references, payloads, cycles) or
//! only `lode.yaml` does (set: the parser and one document's checks, many times faster). The
//! rest of the input is that file's content.

#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use lode::manifest::{LoadManifestsError, ManifestFiles, load_desired};

macro_rules! demo {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../manifests/", $path)) as &[u8])),*]
    };
}

/// The demo manifest root, file by file.
const DEMO: &[(&str, &[u8])] = demo![
    "lode.yaml",
    "environments/dev.yaml",
    "checks/databricks.yaml",
    "checks/ignition.yaml",
    "databricks/chat.yaml",
    "databricks/chat/index.html",
    "databricks/genie.yaml",
    "databricks/monitor.yaml",
    "databricks/pipeline.yaml",
    "databricks/pipeline/gold.sql",
    "databricks/pipeline/silver.sql",
    "databricks/schema.yaml",
    "databricks/seeds/equipment_master.csv",
    "databricks/seeds/equipment_types.csv",
    "databricks/tables.yaml",
    "ignition/perspective.yaml",
    "ignition/project.yaml",
    "ignition/scripts.yaml",
    "ignition/scripts/fault_injection.py",
    "ignition/scripts/physics_simulation.py",
    "ignition/scripts/session_startup.py",
    "ignition/tags.yaml",
    "ignition/udts.yaml",
    "ignition/views/equipment.view.json",
    "ignition/zerobus.yaml",
];

/// A new manifest file next to the demo's.
const ADDED: &str = "fuzz.yaml";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    let slot = (selector & 0x7f) as usize % (DEMO.len() + 1);
    let alone = selector & 0x80 != 0;
    let target = DEMO.get(slot).map_or(ADDED, |(path, _)| *path);
    let mut files: BTreeMap<String, Vec<u8>> = DEMO
        .iter()
        .filter(|(path, _)| !alone || *path == "lode.yaml")
        .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
        .collect();
    files.insert(target.to_string(), content.to_vec());
    let files = ManifestFiles::from_memory(PathBuf::from("/fuzz"), files);
    // The dev environment when its file is the one being fuzzed, the built-in local otherwise.
    let env = if target.starts_with("environments/") {
        "dev"
    } else {
        "local"
    };
    match load_desired(&files, env, &|_| None) {
        Ok(_) => {}
        Err(LoadManifestsError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "invalid without a reason");
            assert!(
                errors.len() <= 201,
                "{} errors: the report is capped",
                errors.len()
            );
            for error in &errors {
                assert!(error.line >= 1 && error.column >= 1, "unlocated: {error:?}");
                assert!(!error.file.is_empty(), "no file: {error:?}");
                // A position must be in its file (the line after a final newline included).
                if let Some(bytes) = files.text(&error.file) {
                    let lines = bytes.split(|b| *b == b'\n').count();
                    assert!(
                        error.line <= lines,
                        "line {} of {lines}: {error:?}",
                        error.line
                    );
                }
            }
        }
        Err(other) => panic!("in-memory files cannot fail to read: {other}"),
    }
});
