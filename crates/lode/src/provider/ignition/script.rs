//! Jython payload files as Ignition 8.3 stores them: the `def` line followed by the body, every
//! body line indented by one tab (spaces make Ignition fail with "expecting INDENT" on every
//! run). Manifests hold only the body, so this is where the two forms meet.

/// The file content for a body under `signature`.
pub fn encode(signature: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + signature.len() + 64);
    out.push_str(signature);
    out.push('\n');
    let body = body.trim_end_matches('\n');
    if body.trim().is_empty() {
        out.push_str("\tpass\n");
        return out;
    }
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push('\t');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The body of a script file: the `def` line dropped and one tab removed from each line.
/// A lone `pass` body (what `encode` writes for an empty body) reads back as empty.
pub fn decode(file: &str) -> String {
    let file = file.replace("\r\n", "\n");
    let mut lines = file.split('\n');
    let first = lines.next().unwrap_or("");
    let rest: Vec<&str> = if first.trim_start().starts_with("def ") {
        lines.collect()
    } else {
        file.split('\n').collect()
    };
    let body: Vec<&str> = rest
        .iter()
        .map(|line| line.strip_prefix('\t').unwrap_or(line))
        .collect();
    let body = body.join("\n");
    let trimmed = body.trim_end_matches(['\n', ' ', '\t']);
    if trimmed == "pass" {
        return "\n".to_string();
    }
    format!("{trimmed}\n")
}

/// A timer script with `enabled: false`, if it is an enabled timer (the emergency stop).
pub fn disabled_timer(spec: &serde_json::Value) -> Option<serde_json::Value> {
    if spec.get("type").and_then(serde_json::Value::as_str) != Some("timer")
        || spec.get("enabled") == Some(&serde_json::Value::Bool(false))
    {
        return None;
    }
    let mut stopped = spec.clone();
    stopped["enabled"] = serde_json::Value::Bool(false);
    Some(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_body_with_nested_blocks() {
        let body = "import math\nif x:\n\ty = 1\n\nprint y\n";
        let file = encode("def handleTimerEvent():", body);
        assert_eq!(
            file,
            "def handleTimerEvent():\n\timport math\n\tif x:\n\t\ty = 1\n\n\tprint y\n"
        );
        assert_eq!(decode(&file), body);
    }

    #[test]
    fn empty_body_becomes_pass() {
        assert_eq!(
            encode("def onStartup():", "\n"),
            "def onStartup():\n\tpass\n"
        );
        assert_eq!(decode("def onStartup():\n\tpass\n"), "\n");
    }
}
