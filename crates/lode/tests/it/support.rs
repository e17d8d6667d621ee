//! Test support: a temporary git repository holding a copy of the demo manifests, and a way to
//! run the `lode` binary in it.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;

/// The repository's own demo manifests.
pub fn demo_manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".lode" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary git repository whose root is a manifest root.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

/// The output of one `lode` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Repo {
    /// A repository with the demo manifests committed as the first revision.
    pub fn demo() -> Repo {
        let repo = Repo::empty();
        copy_dir(&demo_manifests(), repo.path());
        repo.commit("v1: the demo");
        repo
    }

    pub fn empty() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args([
                "-c",
                "user.name=lode tests",
                "-c",
                "user.email=tests@lode.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap()
    }

    /// Appends one more YAML document to a manifest file.
    pub fn append_document(&self, relative: &str, document: &str) {
        let text = self.read(relative);
        self.write(relative, &format!("{text}---\n{document}"));
    }

    /// Replaces `from` with `to` in a file, asserting that `from` is there.
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    /// The demo without its flow checks (telemetry_fresh, telemetry_latency,
    /// genie_answer_rows), committed: for tests of other things on a local stack that is not
    /// live, where nothing streams and those checks fail by design (verify.rs tests them).
    pub fn without_flow_checks(&self) {
        const FILE: &str = "checks/databricks.yaml";
        let kept: Vec<String> = self
            .read(FILE)
            .split("\n---\n")
            .filter(|document| {
                !["telemetry_fresh", "telemetry_latency", "genie_answer_rows"]
                    .iter()
                    .any(|name| document.contains(&format!("\nname: {name}\n")))
            })
            .map(str::to_string)
            .collect();
        let text = kept.join("\n---\n");
        for name in ["telemetry_fresh", "telemetry_latency", "genie_answer_rows"] {
            assert!(
                !text.contains(&format!("name: {name}\n")),
                "{name} is still in {FILE}"
            );
        }
        self.write(FILE, &text);
        self.commit("the stack is not live in this test: no flow checks");
    }

    /// Runs one SQL statement on the local environment's tables through the emulator's SQL
    /// engine, with `main.mining_demo` as the default schema (no emulator may serve the folder
    /// meanwhile). Tests write what the Zerobus connector and the pipeline would have written.
    pub fn local_sql(&self, statement: &str) {
        let engine = lode_emulators::databricks::sql::SqlEngine::new(
            self.path().join(".lode/local/databricks/tables"),
        )
        .expect("the applied tables folder opens");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(engine.execute(statement, Some("main"), Some("mining_demo"), &[]))
            .unwrap_or_else(|e| panic!("{statement}\nfailed: {e:?}"));
    }

    /// The local environment's gateway data directory.
    pub fn gateway(&self) -> PathBuf {
        self.path().join(".lode/local/ignition")
    }

    /// Runs `lode` with `args` in the repository, with colour off.
    pub fn lode(&self, args: &[&str]) -> Run {
        self.lode_with_env(args, &[])
    }

    /// Runs `lode` with extra environment variables.
    pub fn lode_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let output = cargo_bin_cmd!("lode")
            .args(args)
            .envs(vars.iter().copied())
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("LODE_ENV")
            .env_remove("LODE_DIR")
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).to_string(),
        }
    }

    /// `lode` with `args` in the repository, with colour off, to spawn (several at once).
    pub fn lode_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin!("lode"));
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("LODE_ENV")
            .env_remove("LODE_DIR");
        command
    }

    /// Runs `lode` and asserts the exit code.
    pub fn lode_ok(&self, args: &[&str], code: i32) -> Run {
        let run = self.lode(args);
        assert_eq!(
            run.code, code,
            "lode {args:?} exited {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        run
    }
}

/// The Python of the databricks-sdk virtualenv (`.ci/run` builds it; `LODE_SDK_PYTHON`
/// overrides), if there is one.
pub fn sdk_python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("LODE_SDK_PYTHON") {
        return Some(PathBuf::from(python));
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/emulator-sdk-venv/bin/python");
    venv.exists().then_some(venv)
}

/// Every file under `dir` with its parsed content (JSON parsed, so formatting never matters),
/// minus what the gateway rewrites on its own.
pub fn gateway_tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut files = std::collections::BTreeMap::new();
    collect(dir, dir, &mut files);
    files
}

fn collect(root: &Path, dir: &Path, files: &mut std::collections::BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let normalized = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(mut value) => {
                if let Some(attributes) =
                    value.get_mut("attributes").and_then(|a| a.as_object_mut())
                {
                    attributes.remove("lastModification");
                    attributes.remove("lastModificationSignature");
                }
                lode::engine::canonical::canonical_json(&value)
            }
            Err(_) => text,
        };
        files.insert(relative, normalized);
    }
}

/// A protected atomic tag, for tests of `lifecycle.protect`.
pub const PROTECTED_SHIFT_TAG: &str = "kind: tag\nname: Mining/Simulation/Shift\nlifecycle:\n  protect: true\nspec:\n  tagType: AtomicTag\n  valueSource: memory\n  dataType: String\n  value: day\n";

/// One more haul truck instance.
pub const HT_006: &str = "kind: tag\nname: Mining/Equipment/HT_006\nspec:\n  tagType: UdtInstance\n  typeId: HaulTruck\n  parameters:\n    AssetId:\n      dataType: String\n      value: HT_006\n";

/// Asserts that `haystack` contains `needle`, printing the whole haystack when it does not.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

/// Serves the `local` workspace emulator's data folder under `root` from this process, as a
/// standing `lode emulator serve` would, so the `lode` commands a test runs use it. Stopped
/// when the returned emulator is dropped. `who` names the test in the folder's claim.
pub fn serve_local_workspace(
    root: &Path,
    who: &str,
) -> lode_emulators::databricks::RunningEmulator {
    let serving = lode_emulators::databricks::serve_folder(
        lode_emulators::databricks::EmulatorConfig {
            data_dir: root.join(".lode/local/databricks"),
            token: lode::app::connect::LOCAL_EMULATOR_TOKEN.into(),
            oauth_client: None,
            port: 0,
            faults: None,
        },
        &lode_emulators::data_folder::Claim {
            command: who.into(),
            standing: true,
            offer_to_others: true,
            wait: std::time::Duration::ZERO,
            on_wait: &|_| {},
        },
    )
    .expect("the workspace emulator starts on the data folder");
    match serving {
        lode_emulators::data_folder::Serving::Own(emulator) => emulator,
        lode_emulators::data_folder::Serving::Shared(holder) => {
            panic!("the data folder is already served by {holder:?}")
        }
    }
}
