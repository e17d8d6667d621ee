//! The chat page in a real browser, as the runbook validates it (issue #3): after `lode apply`
//! the emulator serves the uploaded chat page and the Genie conversation API from one origin;
//! headless Chromium, driven over the W3C WebDriver protocol by chromedriver, opens the page,
//! asks "Show me current crusher status", must see an answer built from the gold table by the
//! space's example query for that question (its text, and its rows as a table), and must log no
//! console errors.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver` packages, which
//! `.ci/run` installs. When they are missing this test fails (it never skips): a skipped browser
//! test would let a broken chat page through CI unnoticed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Repo, assert_contains};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const QUESTION: &str = "Show me current crusher status";
/// How long the page may take to show Genie's answer. The emulator answers within a second;
/// the margin is for a loaded CI machine, and polling ends as soon as the answer is there.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The W3C key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What the gold pipeline would have produced for the three instrumented crushers in one
/// 1-minute window: vibration and bearing temperature, with CR_002 in vibration alarm.
/// CR_004 is in the asset register but not instrumented, so it has no gold rows: an answer that
/// names it came from `equipment_master`, not from the gold table.
pub(crate) const GOLD_ROWS: &str =
    "INSERT INTO ot_telemetry_gold (equipment_id, equipment_type, site, metric, unit,
    window_start, window_end, avg_value, min_value, max_value, last_value, status, alarm_active,
    sample_count, vibration_limit_mm_s, temperature_limit_c, alarm_limit, critical_limit,
    max_alarm_priority, operating_status) VALUES
  ('CR_001', 'CRUSHER', 'Pilbara North Crushing Hub', 'Vibration_MM_S', 'mm/s',
    TIMESTAMP'2025-06-02 03:14:00', TIMESTAMP'2025-06-02 03:15:00', 17.2, 16.8, 17.9, 17.4,
    'NORMAL', false, 12, 40.0, 85.0, 40.0, 60.0, 0, 'RUNNING'),
  ('CR_001', 'CRUSHER', 'Pilbara North Crushing Hub', 'Bearing_Temp_C', '°C',
    TIMESTAMP'2025-06-02 03:14:00', TIMESTAMP'2025-06-02 03:15:00', 61.5, 61.2, 61.9, 61.8,
    'NORMAL', false, 6, 40.0, 85.0, 85.0, 95.0, 0, 'RUNNING'),
  ('CR_002', 'CRUSHER', 'Pilbara North Crushing Hub', 'Vibration_MM_S', 'mm/s',
    TIMESTAMP'2025-06-02 03:14:00', TIMESTAMP'2025-06-02 03:15:00', 45.1, 42.6, 47.3, 46.8,
    'ALARM', true, 12, 40.0, 85.0, 40.0, 60.0, 3, 'RUNNING'),
  ('CR_002', 'CRUSHER', 'Pilbara North Crushing Hub', 'Bearing_Temp_C', '°C',
    TIMESTAMP'2025-06-02 03:14:00', TIMESTAMP'2025-06-02 03:15:00', 78.4, 77.9, 79.1, 79.0,
    'WARNING', false, 6, 40.0, 85.0, 85.0, 95.0, 0, 'RUNNING'),
  ('CR_003', 'CRUSHER', 'Pilbara North Crushing Hub', 'Vibration_MM_S', 'mm/s',
    TIMESTAMP'2025-06-02 03:14:00', TIMESTAMP'2025-06-02 03:15:00', 16.4, 15.9, 16.9, 16.1,
    'NORMAL', false, 12, 40.0, 85.0, 40.0, 60.0, 0, 'RUNNING'),
  ('CR_003', 'CRUSHER', 'Pilbara North Crushing Hub', 'Bearing_Temp_C', '°C',
    TIMESTAMP'2025-06-02 03:14:00', TIMESTAMP'2025-06-02 03:15:00', 58.7, 58.5, 59.0, 58.9,
    'NORMAL', false, 6, 40.0, 85.0, 85.0, 95.0, 0, 'RUNNING')";

#[test]
fn the_chat_page_answers_from_the_gold_table_in_a_real_browser() {
    // Checked first, so a machine without the browser fails in a second with the fix, instead
    // of after a full apply with an obscure spawn error.
    for binary in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: this test drives headless Chromium through chromedriver. \
             Run .ci/run's setup (it installs Debian's `chromium` and `chromium-driver` \
             packages with apt-get) before `cargo test`."
        );
    }

    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);

    // The pipeline update created the gold table empty (there is no telemetry yet); give it the
    // rows a pipeline run over streamed crusher tags would have written.
    give_the_demo_gold_rows(repo.path());

    // The apply's emulator ran inside `lode` and is gone; serve the same data folder from this
    // process, on the port the apply used, as `lode emulator serve` would.
    let emulator = crate::support::serve_local_workspace(repo.path(), "the chat page test");

    let space_id = genie_space_id(&emulator.url);
    // Only the space id is in the address: the page must reach the API with the session cookie
    // the workspace sets when it serves the page, never with a token.
    let page = format!(
        "{}/workspace-files/Shared/mining_demo/chat/index.html?space={space_id}",
        emulator.url
    );

    let driver = Chromedriver::start();
    let browser = Browser::open(&driver);
    browser.navigate(&page);

    let question = browser.find("#question");
    browser.command(
        "POST",
        &format!("/element/{question}/value"),
        json!({"text": QUESTION}),
    );
    let send = browser.find("#send");
    browser.command("POST", &format!("/element/{send}/click"), json!({}));

    let answer = browser.wait_for_answer();
    // The space's example query for the question ran on the gold table: its text sums up the
    // rows inserted above (CR_002 in vibration alarm), and the uninstrumented CR_004 is not
    // there.
    assert_contains(
        &answer,
        "The example query for \"Show me current crusher status\"",
    );
    assert_contains(&answer, "returned 3 rows");
    assert_contains(&answer, "equipment_id CR_002");
    assert_contains(&answer, "condition ALARM");
    assert!(
        !answer.contains("CR_004"),
        "the answer names CR_004, which has no gold rows:\n{answer}"
    );
    // The rows are shown as a table: one line per crusher, with its condition and its latest
    // vibration and bearing temperature.
    let header: Vec<String> = browser
        .find_all(".answer table thead th")
        .iter()
        .map(|th| browser.text(th))
        .collect();
    assert_eq!(
        &header[..4],
        ["equipment_id", "site", "operating_status", "condition"],
        "{header:?}"
    );
    let rows: Vec<String> = browser
        .find_all(".answer table tbody tr")
        .iter()
        .map(|tr| browser.text(tr))
        .collect();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for (row, (crusher, condition, vibration, bearing)) in rows.iter().zip([
        ("CR_001", "NORMAL", "17.4", "61.8"),
        ("CR_002", "ALARM", "46.8", "79"),
        ("CR_003", "NORMAL", "16.1", "58.9"),
    ]) {
        assert!(row.starts_with(crusher), "{row}");
        for value in [condition, vibration, bearing, "RUNNING"] {
            assert_contains(row, value);
        }
    }
    assert_contains(
        &browser.text(&browser.find(".answer table caption")),
        "3 rows.",
    );

    let severe: Vec<Value> = browser
        .command("POST", "/se/log", json!({"type": "browser"}))
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(
        severe.is_empty(),
        "the chat page logged console errors: {severe:#?}"
    );
}

/// Issue #16: with the stack live (`lode up`), the chat page answers from the gold rows the
/// pipeline computed from streamed tags: one row per instrumented crusher, as a table.
#[test]
fn issue_16_the_chat_page_shows_a_live_answer_in_a_real_browser() {
    for binary in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: run .ci/run's setup (Debian's `chromium` and `chromium-driver`)"
        );
    }
    let _live = crate::live_stack::one_live_stack();
    let repo = Repo::demo();
    repo.lode_ok(&["apply", "--auto-approve"], 0);
    let (_stack, workspace) = crate::live_stack::up(&repo);
    crate::live_stack::verify_until_it_passes(&repo, Duration::from_secs(240));

    let page = format!(
        "{workspace}/workspace-files/Shared/mining_demo/chat/index.html?space={}",
        genie_space_id(&workspace)
    );
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver);
    browser.navigate(&page);
    let question = browser.find("#question");
    browser.command(
        "POST",
        &format!("/element/{question}/value"),
        json!({"text": QUESTION}),
    );
    let send = browser.find("#send");
    browser.command("POST", &format!("/element/{send}/click"), json!({}));
    let answer = browser.wait_for_answer();
    assert_contains(&answer, "returned 3 rows");
    let rows: Vec<String> = browser
        .find_all(".answer table tbody tr")
        .iter()
        .map(|tr| browser.text(tr))
        .collect();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for (row, crusher) in rows.iter().zip(["CR_001", "CR_002", "CR_003"]) {
        assert!(row.starts_with(crusher), "{row}");
    }
}

/// Writes [`GOLD_ROWS`] into the demo's gold table in the applied data folder under `repo`,
/// through the emulator's SQL engine (no emulator serves the folder meanwhile).
pub(crate) fn give_the_demo_gold_rows(repo: &Path) {
    let engine =
        lode_emulators::databricks::sql::SqlEngine::new(repo.join(".lode/local/databricks/tables"))
            .expect("the applied tables folder opens");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(engine.execute(GOLD_ROWS, Some("main"), Some("mining_demo"), &[]))
        .expect("the gold rows insert");
}

/// The id of the demo's Genie space, read through the API with the emulator's token.
fn genie_space_id(emulator_url: &str) -> String {
    let spaces: Value = reqwest::blocking::Client::new()
        .get(format!("{emulator_url}/api/2.0/genie/spaces"))
        .bearer_auth(lode::app::connect::LOCAL_EMULATOR_TOKEN)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .expect("the Genie spaces list");
    let matching: Vec<&Value> = spaces["spaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["title"] == "Mining Operations Intelligence")
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one demo Genie space expected: {spaces:#}"
    );
    matching[0]["space_id"]
        .as_str()
        .expect("the space has an id")
        .to_string()
}

/// A chromedriver child process on a free local port; killed when dropped.
struct Chromedriver {
    child: Child,
    url: String,
    /// Holds the browser profile and chromedriver's stderr, removed after the process is gone.
    dir: tempfile::TempDir,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let dir = tempfile::tempdir().unwrap();
        let stderr_path = dir.path().join("chromedriver.stderr");
        // chromedriver cannot report a port it picked itself, so take a free one from the OS.
        // Another process may grab it before chromedriver binds; then chromedriver exits and a
        // new port is tried, a bounded number of times.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free local port")
                .port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(
                    std::fs::File::create(&stderr_path).expect("a chromedriver log file"),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER} ({e}); run .ci/run's setup"));
            // chromedriver says when it listens, or exits: no timing guesses either way.
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let started = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|line| line.contains("started successfully"));
            if started {
                // Keep draining its stdout so a chatty chromedriver never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return Chromedriver {
                    child,
                    url: format!("http://127.0.0.1:{port}"),
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "chromedriver did not start:\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session of headless Chromium; deleted (the browser closed) when dropped.
struct Browser {
    http: reqwest::blocking::Client,
    session: String,
}

impl Browser {
    fn open(driver: &Chromedriver) -> Browser {
        // Generous, because starting a browser on a busy machine can take seconds; every
        // command returns as soon as it is done.
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let profile = driver.dir.path().join("profile");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // No sandbox: CI containers run as root, where Chromium's sandbox cannot start.
                // The rest keeps the browser from reaching out to the network or needing a GPU.
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            // The console log is what the runbook looks at for errors.
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let response = send(
            http.post(format!("{}/session", driver.url))
                .json(&capabilities),
        );
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {response:#}"))
            .to_string();
        Browser {
            http,
            session: format!("{}/session/{session}", driver.url),
        }
    }

    /// One WebDriver command on this session; its `value`, or a panic with the driver's error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        send(request)["value"].take()
    }

    fn navigate(&self, url: &str) {
        // Returns once the page has loaded, so its script has run and the form is ready.
        self.command("POST", "/url", json!({"url": url}));
    }

    /// The element reference of the one element matching `css`, waiting (bounded) for it: on a
    /// loaded machine the page can still be arriving when navigation returns.
    fn find(&self, css: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let element = self.command(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            );
            if let Some(reference) = element[ELEMENT_KEY].as_str() {
                return reference.to_string();
            }
            if std::time::Instant::now() > deadline {
                panic!("no element {css} within 30 s: {element:#}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.command(
            "POST",
            "/elements",
            json!({"using": "css selector", "value": css}),
        )
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e[ELEMENT_KEY].as_str().map(str::to_string))
        .collect()
    }

    fn text(&self, element: &str) -> String {
        self.command("GET", &format!("/element/{element}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The text of Genie's answer once the page shows it. An error box instead fails at once
    /// with its text, rather than waiting out the timeout.
    fn wait_for_answer(&self) -> String {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            if let Some(answer) = self.find_all(".answer").first() {
                return self.text(answer);
            }
            if let Some(error) = self.find_all(".error").first() {
                panic!("the chat page shows an error: {}", self.text(error));
            }
            assert!(
                Instant::now() < deadline,
                "no answer within {ANSWER_TIMEOUT:?}; the page shows:\n{}",
                self.text(&self.find("#messages"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closes Chromium; chromedriver is killed right after, which would also end it.
        let _ = self.http.delete(&self.session).send();
    }
}

/// Sends a WebDriver request; a W3C error response (`value.error`) is a test failure.
fn send(request: reqwest::blocking::RequestBuilder) -> Value {
    let response = request.send().expect("chromedriver answers");
    let status = response.status();
    let body: Value = response.json().expect("chromedriver answers JSON");
    assert!(
        status.is_success() && body["value"]["error"].is_null(),
        "WebDriver command failed ({status}): {body:#}"
    );
    body
}
