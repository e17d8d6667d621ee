//! The one place lode writes to the terminal. stdout carries data only (a plan, JSON, a
//! report: what a program may pipe on); stderr carries everything said to the person: progress,
//! notes, warnings, errors and their `hint:` lines. The printer decides colour (`--color`,
//! `NO_COLOR`, `CLICOLOR_FORCE`, and whether the stream is a terminal) and verbosity (`-q`
//! keeps errors and warnings only, `-v` adds progress lines even when stderr is not a
//! terminal; `RUST_LOG` still sets the log filter).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::app::Reporter;

/// `--color`: when output may carry ANSI colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (or `CLICOLOR_FORCE` forces it).
    #[default]
    Auto,
    Always,
    Never,
}

/// How much the printer says on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors and warnings only.
    Quiet,
    /// Also what happened; progress lines on a terminal.
    Normal,
    /// Also progress lines everywhere.
    Verbose,
}

/// Prints data to stdout and messages to stderr.
#[derive(Debug, Clone)]
pub struct Printer {
    color: ColorChoice,
    verbosity: Verbosity,
    /// Set by a command run with `--format json`: stdout then carries exactly one JSON
    /// document (written with [`Printer::document`]), and any other data goes to stderr.
    json_output: Arc<AtomicBool>,
}

impl Printer {
    pub fn new(color: ColorChoice, verbosity: Verbosity) -> Printer {
        Printer {
            color,
            verbosity,
            json_output: Arc::new(AtomicBool::new(false)),
        }
    }

    /// From now on stdout is for the one JSON document only.
    pub fn reserve_stdout_for_json(&self) {
        self.json_output.store(true, Ordering::SeqCst);
    }

    /// Whether `stream` gets colour.
    pub fn color_for(&self, stream: &impl IsTerminal) -> bool {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                if set("NO_COLOR") {
                    false
                } else if set("CLICOLOR_FORCE") {
                    true
                } else {
                    stream.is_terminal()
                        && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
                }
            }
        }
    }

    /// Whether stdout gets colour.
    pub fn stdout_color(&self) -> bool {
        self.color_for(&std::io::stdout())
    }

    /// Whether stderr gets colour.
    pub fn stderr_color(&self) -> bool {
        self.color_for(&std::io::stderr())
    }

    /// Data, exactly as given (the caller ends it with a newline if it wants one). Under
    /// `--format json` it goes to stderr, so stdout stays one JSON document.
    pub fn data(&self, text: &str) {
        if self.json_output.load(Ordering::SeqCst) {
            self.stderr(text);
            return;
        }
        self.stdout(text);
    }

    /// The JSON document of a `--format json` command, already rendered.
    pub fn document(&self, json: &str) {
        self.stdout(json);
        if !json.ends_with('\n') {
            self.stdout("\n");
        }
    }

    fn stdout(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`lode plan | head`) is not an error worth a panic.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// One JSON document on stdout, pretty-printed, with a final newline.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
        self.document(&text);
    }

    /// A line for the person (stderr), unless quiet.
    pub fn status(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.stderr(&format!("{message}\n"));
        }
    }

    /// Text for the person without a newline (a prompt), always shown.
    pub fn prompt(&self, message: &str) {
        self.stderr(message);
    }

    /// `warning: …` on stderr, always shown.
    pub fn warning(&self, message: &str) {
        self.stderr(&format!("warning: {message}\n"));
    }

    /// One line that reports a failure (`error: …`), always shown.
    pub fn error_line(&self, message: &str) {
        self.stderr(&format!("{message}\n"));
    }

    /// An error or its rendering, always shown.
    pub fn error(&self, text: &str) {
        self.stderr(text);
    }

    /// A progress line: on a terminal at normal verbosity, everywhere with `-v`.
    pub fn progress_line(&self, message: &str) {
        let show = match self.verbosity {
            Verbosity::Quiet => false,
            Verbosity::Normal => std::io::stderr().is_terminal(),
            Verbosity::Verbose => true,
        };
        if show {
            self.stderr(&format!("{message}\n"));
        }
    }

    fn stderr(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }
}

impl Reporter for Printer {
    fn warn(&self, message: &str) {
        self.warning(message);
    }

    fn info(&self, message: &str) {
        self.status(message);
    }

    fn progress(&self, message: &str) {
        self.progress_line(message);
    }
}
