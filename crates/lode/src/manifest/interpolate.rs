//! `${...}` interpolation in manifest strings and payload files: `${var.x}` (from `lode.yaml` and
//! the environment), `${env.NAME}` and `${env.NAME:-default}` (from the process environment; in
//! manifests these are secrets and are masked everywhere), and `${ref.kind.name.field}`, which
//! stays in place for the engine to resolve once the referenced resource exists. `$${` is a
//! literal `${`.

use std::collections::BTreeMap;

use super::Address;

/// One `${...}` reference found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Var(String),
    Env {
        name: String,
        default: Option<String>,
    },
    Ref {
        address: Address,
        field: String,
    },
}

/// Why a `${...}` could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    #[error("unknown variable `{0}`")]
    UnknownVariable(String),
    #[error("environment variable `{0}` is not set")]
    MissingEnv(String),
    #[error(
        "`${{{0}}}` is not a reference: use `${{var.x}}`, `${{env.NAME}}` or `${{ref.kind.name.field}}`"
    )]
    Malformed(String),
    #[error("unterminated `${{` (no closing `}}`)")]
    Unterminated,
}

impl InterpolateError {
    /// Whether the error could come from an invalid lode.yaml or environment file (whose
    /// variables and `${env...}` defaults are then unknown) rather than from the text itself.
    pub fn follows_from_config(&self) -> bool {
        matches!(
            self,
            InterpolateError::UnknownVariable(_) | InterpolateError::MissingEnv(_)
        )
    }

    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            InterpolateError::UnknownVariable(name) => format!(
                "define `{name}` under `variables:` in lode.yaml or in the environment file"
            ),
            InterpolateError::MissingEnv(name) => {
                format!("export {name}, or give a default for local use: `${{env.{name}:-value}}`")
            }
            InterpolateError::Malformed(_) => "write `$${` for a literal `${`".to_string(),
            InterpolateError::Unterminated => {
                "close it with `}`, or write `$${` for a literal `${`".to_string()
            }
        }
    }
}

/// A literal part of a text and the `${...}` token (with its parsed reference) after it.
type Part = (String, Option<(String, Reference)>);

/// Splits `text` into literal parts and references; the token text is kept for error positions.
fn scan(text: &str) -> Result<Vec<Part>, (String, InterpolateError)> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(index) = rest.find("${") {
        if index > 0 && rest.as_bytes()[index - 1] == b'$' {
            literal.push_str(&rest[..index - 1]);
            literal.push_str("${");
            rest = &rest[index + 2..];
            continue;
        }
        literal.push_str(&rest[..index]);
        let after = &rest[index + 2..];
        let end = after.find('}').ok_or_else(|| {
            (
                rest[index..].chars().take(40).collect(),
                InterpolateError::Unterminated,
            )
        })?;
        let inner = &after[..end];
        let token = format!("${{{inner}}}");
        let reference = parse_reference(inner).map_err(|e| (token.clone(), e))?;
        parts.push((std::mem::take(&mut literal), Some((token, reference))));
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    parts.push((literal, None));
    Ok(parts)
}

fn parse_reference(inner: &str) -> Result<Reference, InterpolateError> {
    let malformed = || InterpolateError::Malformed(inner.to_string());
    if let Some(name) = inner.strip_prefix("var.") {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(malformed());
        }
        return Ok(Reference::Var(name.to_string()));
    }
    if let Some(rest) = inner.strip_prefix("env.") {
        let (name, default) = match rest.split_once(":-") {
            Some((name, default)) => (name, Some(default.to_string())),
            None => (rest, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(malformed());
        }
        return Ok(Reference::Env {
            name: name.to_string(),
            default,
        });
    }
    if let Some(rest) = inner.strip_prefix("ref.") {
        // The name may contain dots and slashes; the kind is first and the field is last.
        let (kind, rest) = rest.split_once('.').ok_or_else(malformed)?;
        let (name, field) = rest.rsplit_once('.').ok_or_else(malformed)?;
        let kind = super::Kind::parse(kind).ok_or_else(malformed)?;
        if name.is_empty() || field.is_empty() {
            return Err(malformed());
        }
        return Ok(Reference::Ref {
            address: Address::new(kind, name),
            field: field.to_string(),
        });
    }
    Err(malformed())
}

/// Everything interpolation reads, and what it learns (secrets, references).
pub struct Interpolator<'a> {
    pub variables: &'a BTreeMap<String, String>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `${env.*}` values used so far (masked in all output).
    pub secrets: Vec<String>,
    /// `${ref.*}` targets used so far (implicit dependencies).
    pub references: Vec<Address>,
    /// Whether `${env.*}` values count as secrets (true in manifests, false in environment files).
    pub env_is_secret: bool,
}

impl Interpolator<'_> {
    /// Resolves `${var.*}` and `${env.*}` in `text`; `${ref.*}` tokens stay for the engine.
    /// On error returns the offending token (to locate it) and the error.
    pub fn interpolate(&mut self, text: &str) -> Result<String, (String, InterpolateError)> {
        if !text.contains("${") {
            return Ok(text.to_string());
        }
        let mut out = String::new();
        for (literal, reference) in scan(text)? {
            out.push_str(&literal);
            let Some((token, reference)) = reference else {
                continue;
            };
            match reference {
                Reference::Var(name) => {
                    let value = self
                        .variables
                        .get(&name)
                        .ok_or_else(|| (token.clone(), InterpolateError::UnknownVariable(name)))?;
                    out.push_str(value);
                }
                Reference::Env { name, default } => {
                    let value = (self.env)(&name)
                        // As in the shell's `:-`, an empty value takes the default too.
                        .filter(|v| default.is_none() || !v.is_empty())
                        .or(default)
                        .ok_or_else(|| (token.clone(), InterpolateError::MissingEnv(name)))?;
                    if self.env_is_secret && !value.is_empty() && !self.secrets.contains(&value) {
                        self.secrets.push(value.clone());
                    }
                    out.push_str(&value);
                }
                Reference::Ref { address, .. } => {
                    // The engine resolves it once the referenced object exists.
                    if !self.references.contains(&address) {
                        self.references.push(address);
                    }
                    out.push_str(&token);
                }
            }
        }
        Ok(out)
    }
}

/// The `${ref.*}` references in a text (after variable interpolation).
pub fn references_in(text: &str) -> Vec<(String, Address, String)> {
    let Ok(parts) = scan(text) else {
        return Vec::new();
    };
    parts
        .into_iter()
        .filter_map(|(_, r)| match r {
            Some((token, Reference::Ref { address, field })) => Some((token, address, field)),
            _ => None,
        })
        .collect()
}

/// The names of the `${env.NAME}` references in a text, each once, in order of appearance.
/// Malformed `${...}` tokens are skipped, not reported: `lode import` reads every manifest and
/// payload with this to learn which names hold secrets.
pub fn env_names_in(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(index) = rest.find("${") {
        let escaped = index > 0 && rest.as_bytes()[index - 1] == b'$';
        let after = &rest[index + 2..];
        if escaped {
            rest = after;
            continue;
        }
        let Some(end) = after.find('}') else {
            break;
        };
        if let Ok(Reference::Env { name, .. }) = parse_reference(&after[..end])
            && !names.contains(&name)
        {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, (String, InterpolateError)> {
        let variables = BTreeMap::from([("project".to_string(), "mining".to_string())]);
        let env = |name: &str| match name {
            "TOKEN" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let mut i = Interpolator {
            variables: &variables,
            env: &env,
            secrets: Vec::new(),
            references: Vec::new(),
            env_is_secret: true,
        };
        i.interpolate(text)
    }

    #[test]
    fn resolves_variables_env_and_escapes() {
        assert_eq!(run("a ${var.project} b").unwrap(), "a mining b");
        assert_eq!(run("${env.TOKEN}").unwrap(), "s3cret");
        assert_eq!(run("${env.MISSING:-dflt}").unwrap(), "dflt");
        // As in the shell, `:-` also replaces an empty value.
        assert_eq!(run("${env.EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(run("[${env.EMPTY}]").unwrap(), "[]");
        assert_eq!(run("$${var.project}").unwrap(), "${var.project}");
        assert_eq!(
            run("${ref.project.mining.title}").unwrap(),
            "${ref.project.mining.title}"
        );
    }

    #[test]
    fn issue_17_env_names_are_found_once_and_escapes_are_not_names() {
        assert_eq!(
            env_names_in(
                "a: ${env.ZEROBUS_CLIENT_SECRET}\nb: $${env.LITERAL} ${env.TOKEN:-x} ${env.ZEROBUS_CLIENT_SECRET} ${var.x} ${bad"
            ),
            ["ZEROBUS_CLIENT_SECRET", "TOKEN"]
        );
    }

    #[test]
    fn reports_unknown_and_malformed() {
        assert_eq!(
            run("${var.nope}").unwrap_err().1,
            InterpolateError::UnknownVariable("nope".into())
        );
        assert_eq!(
            run("${env.MISSING}").unwrap_err().1,
            InterpolateError::MissingEnv("MISSING".into())
        );
        assert!(matches!(
            run("${foo}").unwrap_err().1,
            InterpolateError::Malformed(_)
        ));
        assert_eq!(
            run("${var.x").unwrap_err().1,
            InterpolateError::Unterminated
        );
    }
}
