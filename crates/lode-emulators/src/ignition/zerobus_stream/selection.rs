//! Which tags the connector's direct subscriptions cover, by `tagSelectionMode` as the module's
//! `TagSubscriptionService` resolves them: `folder` (the atomic tags under `tagFolderPath`, at
//! any depth when `includeSubfolders`, else its direct children), `pattern` (a Java regular
//! expression that must match the *whole* path with its provider, `[default]Mining/...`, as
//! `Pattern.matcher(path).matches()` does) and `explicit` (the paths in `explicitTagPaths`). A
//! mode the module does not know falls back to `explicit`, as it does. Ignition tag paths ignore
//! case, so folder and explicit paths compare without it; a path written without `[provider]`
//! means the `default` provider. The module browses the tag tree once when it subscribes; the
//! emulator tests each change's path instead, so a tag created later is covered too.

use std::collections::HashSet;

use regex::Regex;
use serde_json::Value;

/// The provider a path without `[provider]` names.
const DEFAULT_PROVIDER: &str = "default";

/// Why the configured selection cannot subscribe to anything.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SelectTagsError {
    #[error("tagPathPattern `{pattern}` is not a valid regular expression: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}

/// The configured selection, ready to test tag paths.
#[derive(Debug, Clone)]
pub enum TagSelection {
    Folder {
        provider: String,
        /// Lower-case folder names from the provider's root; empty for the whole provider.
        folder: Vec<String>,
        include_subfolders: bool,
    },
    Pattern(Regex),
    /// Lower-case `[provider]path`s.
    Explicit(HashSet<String>),
}

/// A tag path split into its lower-case provider and path segments.
fn split(path: &str) -> (String, Vec<String>) {
    let path = path.trim();
    let (provider, rest) = match path.strip_prefix('[').and_then(|p| p.split_once(']')) {
        Some((provider, rest)) if !provider.is_empty() => (provider, rest),
        Some((_, rest)) => (DEFAULT_PROVIDER, rest),
        None => (DEFAULT_PROVIDER, path),
    };
    let segments = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect();
    (provider.to_lowercase(), segments)
}

fn canonical(path: &str) -> String {
    let (provider, segments) = split(path);
    format!("[{provider}]{}", segments.join("/"))
}

impl TagSelection {
    /// The selection the configuration describes.
    pub fn from_config(config: &Value) -> Result<TagSelection, SelectTagsError> {
        let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
        let mode = text("tagSelectionMode").trim().to_lowercase();
        match mode.as_str() {
            "folder" => {
                let (provider, folder) = split(text("tagFolderPath"));
                Ok(TagSelection::Folder {
                    provider,
                    folder,
                    include_subfolders: config
                        .get("includeSubfolders")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                })
            }
            "pattern" => {
                let pattern = text("tagPathPattern");
                Regex::new(&format!("^(?:{pattern})$"))
                    .map(TagSelection::Pattern)
                    .map_err(|e| SelectTagsError::InvalidPattern {
                        pattern: pattern.to_string(),
                        reason: e.to_string(),
                    })
            }
            _ => Ok(TagSelection::Explicit(
                config
                    .get("explicitTagPaths")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|p| !p.trim().is_empty())
                    .map(canonical)
                    .collect(),
            )),
        }
    }

    /// Whether a change of the tag at `path` (`[provider]Folder/Tag`) is streamed.
    pub fn selects(&self, path: &str) -> bool {
        match self {
            TagSelection::Folder {
                provider,
                folder,
                include_subfolders,
            } => {
                let (tag_provider, segments) = split(path);
                tag_provider == *provider
                    && segments.len() > folder.len()
                    && segments.starts_with(folder)
                    && (*include_subfolders || segments.len() == folder.len() + 1)
            }
            TagSelection::Pattern(regex) => regex.is_match(path),
            TagSelection::Explicit(paths) => paths.contains(&canonical(path)),
        }
    }

    /// How the diagnostics describe the selection.
    pub fn describe(&self) -> String {
        match self {
            TagSelection::Folder {
                provider,
                folder,
                include_subfolders,
            } => format!(
                "folder [{provider}]{} (includeSubfolders={include_subfolders})",
                folder.join("/")
            ),
            TagSelection::Pattern(regex) => format!("pattern {}", regex.as_str()),
            TagSelection::Explicit(paths) => format!("explicit, {} tag path(s)", paths.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CR_VIBRATION: &str = "[default]Mining/Equipment/CR_002/Vibration_MM_S";
    const FAULT: &str = "[default]Mining/Simulation/Fault_Enabled";

    fn select(config: Value) -> TagSelection {
        TagSelection::from_config(&config).unwrap()
    }

    #[test]
    fn issue_16_folder_selection_with_and_without_subfolders() {
        let deep = select(
            json!({"tagSelectionMode": "folder", "tagFolderPath": "[default]Mining/Equipment"}),
        );
        assert!(deep.selects(CR_VIBRATION));
        assert!(deep.selects("[DEFAULT]mining/equipment/cr_002/vibration_mm_s"));
        assert!(!deep.selects(FAULT));
        assert!(!deep.selects("[other]Mining/Equipment/CR_002/Vibration_MM_S"));
        assert!(!deep.selects("[default]Mining/Equipment"));
        assert!(!deep.selects("[default]Mining/EquipmentSpare/X"));
        let shallow = select(json!({
            "tagSelectionMode": "folder",
            "tagFolderPath": "[default]Mining/Equipment/CR_002/",
            "includeSubfolders": false,
        }));
        assert!(shallow.selects(CR_VIBRATION));
        assert!(!shallow.selects("[default]Mining/Equipment/CR_002/Motor/Current"));
        let provider_root =
            select(json!({"tagSelectionMode": "Folder", "tagFolderPath": "Mining"}));
        assert!(provider_root.selects(FAULT));
    }

    #[test]
    fn issue_16_pattern_selection_is_a_whole_path_regex() {
        let pattern = select(json!({
            "tagSelectionMode": "pattern",
            "tagPathPattern": r"\[default\]Mining/Equipment/CR_\d+/Vibration.*",
        }));
        assert!(pattern.selects(CR_VIBRATION));
        assert!(!pattern.selects("[default]Mining/Equipment/HT_001/Vibration_MM_S"));
        // matches(), not find(): a pattern for part of the path selects nothing.
        let partial = select(json!({"tagSelectionMode": "pattern", "tagPathPattern": "Vibration"}));
        assert!(!partial.selects(CR_VIBRATION));
        let broken = TagSelection::from_config(
            &json!({"tagSelectionMode": "pattern", "tagPathPattern": "(["}),
        );
        assert!(matches!(
            broken,
            Err(SelectTagsError::InvalidPattern { .. })
        ));
    }

    #[test]
    fn issue_16_explicit_selection_and_the_fallback_for_unknown_modes() {
        let explicit = select(json!({
            "tagSelectionMode": "explicit",
            "explicitTagPaths": [CR_VIBRATION, "Mining/Simulation/Fault_Enabled"],
        }));
        assert!(explicit.selects(CR_VIBRATION));
        assert!(explicit.selects(FAULT));
        assert!(!explicit.selects("[default]Mining/Equipment/CR_002/Motor_Current"));
        let unknown =
            select(json!({"tagSelectionMode": "everything", "explicitTagPaths": [FAULT]}));
        assert!(unknown.selects(FAULT));
        assert!(!unknown.selects(CR_VIBRATION));
    }
}
