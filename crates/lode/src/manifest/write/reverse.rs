//! Reverse interpolation: turning live values back into what a person writes in a manifest.
//! Secrets become `${env.NAME}` (never their value), another managed object's id, URL or table
//! name becomes `${ref.KIND.NAME.FIELD}`, values the variables supply become `${var.NAME}`, and
//! a literal `${` becomes `$${`. Each inserted token is final: nothing rescans it. Matches need
//! word boundaries, the longest value wins, and a value two variables share is written as a
//! variable only where the key (or the position in `catalog.schema.table`) says which one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::manifest::interpolate::env_names_in;
use crate::manifest::load::str_field;
use crate::manifest::{Address, Kind, Loaded, ManifestFiles, normalize_workspace_path};

/// Everything reverse interpolation knows besides the object it writes.
pub struct ReverseContext<'a> {
    /// The variables as `load_desired` resolved them (`Loaded.variables`).
    pub variables: BTreeMap<String, String>,
    /// The declared resources: their specs (interpolated), dependencies, and, once the caller
    /// has read them live, their ids and outputs (the targets of `${ref...}`).
    pub declared: BTreeMap<Address, DeclaredObject>,
    /// `${env.NAME}` names lode knows: the environment's `env_defaults` and every name the
    /// existing manifests and payloads use.
    pub env_names: BTreeSet<String>,
    /// The environment's `env_defaults`, looked up after the process environment.
    pub env_defaults: BTreeMap<String, String>,
    /// The process environment (`std::env::var` in the CLI).
    pub env_lookup: &'a dyn Fn(&str) -> Option<String>,
}

/// A resource the manifests declare, as reverse interpolation sees it.
#[derive(Debug, Clone)]
pub struct DeclaredObject {
    pub spec: Value,
    pub depends_on: Vec<Address>,
    pub id: Option<String>,
    pub outputs: BTreeMap<String, Value>,
}

impl<'a> ReverseContext<'a> {
    /// The context of the manifests `loaded` was read from (`files`).
    pub fn new(
        loaded: &Loaded,
        files: &ManifestFiles,
        env_lookup: &'a dyn Fn(&str) -> Option<String>,
    ) -> ReverseContext<'a> {
        let env_defaults = loaded.environment.env_defaults.clone();
        let mut env_names: BTreeSet<String> = env_defaults.keys().cloned().collect();
        for bytes in files.files.values() {
            if let Ok(text) = std::str::from_utf8(bytes) {
                env_names.extend(env_names_in(text));
            }
        }
        let declared = loaded
            .desired
            .resources
            .values()
            .map(|resource| {
                (
                    resource.address.clone(),
                    DeclaredObject {
                        spec: resource.spec.clone(),
                        depends_on: resource.depends_on.clone(),
                        id: None,
                        outputs: BTreeMap::new(),
                    },
                )
            })
            .collect();
        ReverseContext {
            variables: loaded.variables.clone(),
            declared,
            env_names,
            env_defaults,
            env_lookup,
        }
    }

    /// Records what a declared resource is live (its id and outputs become `${ref...}` targets).
    pub fn set_live(
        &mut self,
        address: &Address,
        id: Option<String>,
        outputs: BTreeMap<String, Value>,
    ) {
        if let Some(object) = self.declared.get_mut(address) {
            object.id = id;
            object.outputs = outputs;
        }
    }

    /// A `${env.NAME}` value as `load_desired` finds it: the process environment, then
    /// `env_defaults`.
    pub fn env_value(&self, name: &str) -> Option<String> {
        (self.env_lookup)(name).or_else(|| self.env_defaults.get(name).cloned())
    }
}

/// A secret written as `${env.NAME}`, reported by name. The value never leaves this struct
/// (and its `Debug` does not show it).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUse {
    pub address: Address,
    /// Where in the spec (a JSON pointer, `/oauthClientSecret`), or the payload field.
    pub pointer: String,
    pub env: String,
    /// Whether `NAME` has a value now (process environment or `env_defaults`).
    pub set: bool,
    /// The live value it replaced, when the live system shows it (not for write-only fields):
    /// what the generated manifests must load with until `NAME` is set.
    pub(crate) live_value: Option<String>,
}

impl SecretUse {
    /// The live value the token replaced, for loading the generated manifests in memory.
    pub fn live_value(&self) -> Option<&str> {
        self.live_value.as_deref()
    }
}

impl std::fmt::Debug for SecretUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretUse")
            .field("address", &self.address)
            .field("pointer", &self.pointer)
            .field("env", &self.env)
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

/// A value several variables hold, where nothing said which one is meant: left literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguity {
    pub address: Address,
    pub pointer: String,
    pub value: String,
    pub variables: Vec<String>,
}

/// What kind of text a string is, which decides the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A spec value.
    Field,
    /// SQL (a `.sql` payload): `catalog.schema.table` names are recognised.
    Sql,
    /// Program text or markup (scripts, HTML): only whole values with `.`, `/` or `:`, ids
    /// and URLs are recognised, not single words.
    Code,
}

/// Where a string is: its resource, its JSON pointer in the spec, the key it is the value of.
pub struct Site<'s> {
    pub address: &'s Address,
    pub pointer: &'s str,
    pub key: Option<&'s str>,
    pub text: TextKind,
}

/// Fields lode cannot read back (the live system shows `****`), with the `${env.NAME}` each is
/// written as: one fixed name per field, the demo's.
pub const WRITE_ONLY_ENV_NAMES: &[(Kind, &str, &str)] = &[(
    Kind::ZerobusConnection,
    "oauthClientSecret",
    "ZEROBUS_CLIENT_SECRET",
)];

/// Fields whose values lode links by value (docs/manifests.md "Dependencies"): the value
/// already makes the dependency, so it is written with variables, never as a `${ref...}` (a
/// pipeline's `libraries` keep `${var.workspace_root}/pipeline/silver.sql`, as the demo does).
fn linked_by_value(kind: Kind, field: &str) -> bool {
    matches!(
        (kind, field),
        (Kind::GenieSpace, "tables")
            | (Kind::QualityMonitor, "table" | "output_schema")
            | (Kind::Table | Kind::Pipeline, "catalog" | "schema")
            | (Kind::Schema, "catalog" | "name")
            | (Kind::Pipeline, "libraries")
            // Table names a pipeline reads by parameter: its `depends_on` names the tables.
            | (Kind::Pipeline, "configuration")
    )
}

/// Fields the loader stores without `/Workspace` (`normalize_workspace_path`).
fn normalized_workspace_path(kind: Kind, field: &str) -> bool {
    matches!(
        (kind, field),
        (Kind::WorkspaceFile, "path")
            | (Kind::GenieSpace, "parent_path")
            | (Kind::QualityMonitor, "assets_dir")
    )
}

/// Lower-case words of a key or variable name: `oauthClientId` → oauth, client, id.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a variable name and a key (or a position: `catalog`, `schema`, `table`) belong
/// together: one's words appear in a row in the other's (`project` ↔ `ignition_project`,
/// `provider` ↔ `tag_provider`), or both end in the same two words (`oauthClientId` ↔
/// `zerobus_client_id`).
pub fn affinity(variable: &str, key: &str) -> bool {
    let (a, b) = (words(variable), words(key));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let contains =
        |long: &[String], short: &[String]| long.windows(short.len()).any(|window| window == short);
    if contains(&a, &b) || contains(&b, &a) {
        return true;
    }
    a.len() >= 2 && b.len() >= 2 && a[a.len() - 2..] == b[b.len() - 2..]
}

/// Whether a key names a secret: its last word is one (`oauthClientSecret`, `api_key`,
/// `password`), so `oauthTokenEndpoint` is not one.
fn is_secret_key(key: &str) -> bool {
    let words = words(key);
    let Some(last) = words.last() else {
        return false;
    };
    let before = words.len().checked_sub(2).map(|i| words[i].as_str());
    match last.as_str() {
        "secret" | "password" | "passwd" | "token" | "credential" | "credentials" | "apikey" => {
            true
        }
        "key" => matches!(before, Some("api" | "private")),
        _ => false,
    }
}

/// `${env.<KIND>_<NAME>_<KEY>}`'s name: upper snake case of its parts.
fn secret_env_name(address: &Address, key: &str) -> String {
    let mut parts = words(address.kind.as_str());
    parts.extend(words(&address.name));
    parts.extend(words(key));
    parts.join("_").to_uppercase()
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether a variable's value may ever be replaced: not too short, not a number or boolean.
fn replaceable(value: &str) -> bool {
    value.chars().count() >= 3
        && value != "true"
        && value != "false"
        && value.parse::<f64>().is_err()
}

/// A value with `.`, `/` or `:` (a URL, a host, a path, a qualified name) is replaced wherever
/// it occurs; a single word only where a key or position says it is that variable.
fn is_word(value: &str) -> bool {
    !value.contains(['.', '/', ':'])
}

/// A piece of an output string: literal text (escaped when written) or an inserted token.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Token(String),
}

fn render(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text.replace("${", "$${")),
            Piece::Token(token) => out.push_str(token),
        }
    }
    out
}

/// Replaces the occurrences of `value` in the text pieces accepted by `accept(before, after)`
/// (the characters around the match) with `token`; returns how many.
fn replace_occurrences(
    pieces: &mut Vec<Piece>,
    value: &str,
    token: &str,
    accept: &dyn Fn(Option<char>, Option<char>) -> bool,
) -> usize {
    let mut count = 0;
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces.drain(..) {
        let Piece::Text(text) = piece else {
            out.push(piece);
            continue;
        };
        let mut rest = text.as_str();
        let mut kept = String::new();
        while let Some(index) = rest.find(value) {
            let before = kept
                .chars()
                .last()
                .filter(|_| index == 0)
                .or_else(|| rest[..index].chars().last());
            let after = rest[index + value.len()..].chars().next();
            if accept(before, after) {
                kept.push_str(&rest[..index]);
                if !kept.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut kept)));
                }
                out.push(Piece::Token(token.to_string()));
                count += 1;
                rest = &rest[index + value.len()..];
            } else {
                // Step over one character: a later occurrence may overlap this one.
                let step = rest[index..].chars().next().map_or(1, char::len_utf8);
                kept.push_str(&rest[..index + step]);
                rest = &rest[index + step..];
            }
        }
        kept.push_str(rest);
        if !kept.is_empty() {
            out.push(Piece::Text(kept));
        }
    }
    *pieces = out;
    count
}

/// Word boundaries around a match, and no `$` right before it (`$${` would read as a literal).
fn bounded(before: Option<char>, after: Option<char>) -> bool {
    !before.is_some_and(|c| is_word_char(c) || c == '$') && !after.is_some_and(is_word_char)
}

/// An object whose id and outputs other objects may reference: an imported one (the declared
/// ones come from the context).
#[derive(Debug, Clone, Copy)]
pub struct ReferenceSource<'a> {
    pub address: &'a Address,
    pub spec: &'a Value,
    pub id: Option<&'a str>,
    pub outputs: &'a BTreeMap<String, Value>,
}

/// A `${ref...}` target: an id, URL, workspace path or table name of a declared or imported
/// object.
struct ReferenceTarget {
    value: String,
    address: Address,
    field: String,
    /// `full_name`: only a whole string that equals it.
    whole_only: bool,
}

/// Dependencies between resources, for refusing a reference that would close a cycle.
#[derive(Default)]
pub struct DependencyGraph {
    edges: BTreeMap<Address, BTreeSet<Address>>,
}

impl DependencyGraph {
    pub fn add(&mut self, from: &Address, to: &Address) {
        if from != to {
            self.edges
                .entry(from.clone())
                .or_default()
                .insert(to.clone());
        }
    }

    /// Whether `to` can be reached from `from` along dependencies.
    pub fn reaches(&self, from: &Address, to: &Address) -> bool {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([from]);
        while let Some(current) = queue.pop_front() {
            if current == to {
                return true;
            }
            if !seen.insert(current) {
                continue;
            }
            queue.extend(self.edges.get(current).into_iter().flatten());
        }
        false
    }
}

/// What reverse interpolation did that the user must hear about.
#[derive(Debug, Default)]
pub struct ReverseReport {
    pub secrets: Vec<SecretUse>,
    pub ambiguous: Vec<Ambiguity>,
    /// Values kept literal for a reason the user may want to know (a reference that would
    /// close a dependency cycle).
    pub warnings: Vec<String>,
    /// The `${ref...}` dependencies inserted: resource → the resources it now references.
    pub references: BTreeMap<Address, BTreeSet<Address>>,
}

/// Reverse interpolation over one import (or one pull).
pub struct Reverser<'c> {
    context: &'c ReverseContext<'c>,
    /// Values with `.`, `/` or `:`, longest first, with the variables that hold each.
    spread: Vec<(String, Vec<String>)>,
    /// Single-word values and the variables that hold each.
    words: BTreeMap<String, Vec<String>>,
    /// Known secret values, longest first, with their `${env.NAME}` name.
    secrets: Vec<(String, String)>,
    references: Vec<ReferenceTarget>,
    pub graph: DependencyGraph,
    /// Decided references: (from, to) → allowed.
    decided: BTreeMap<(Address, Address), bool>,
    pub report: ReverseReport,
}

impl<'c> Reverser<'c> {
    /// A reverser whose `${ref...}` targets are the declared objects plus `imported`
    /// (address, spec, id, outputs), and whose dependency graph holds `edges` besides the
    /// declared resources' own.
    pub fn new(context: &'c ReverseContext<'c>, imported: &[ReferenceSource]) -> Reverser<'c> {
        let mut by_value: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in &context.variables {
            if replaceable(value) {
                by_value
                    .entry(value.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
        let mut spread: Vec<(String, Vec<String>)> = Vec::new();
        let mut word_values = BTreeMap::new();
        for (value, names) in by_value {
            if is_word(&value) {
                word_values.insert(value, names);
            } else {
                spread.push((value, names));
            }
        }
        spread.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));

        let mut secrets: Vec<(String, String)> = Vec::new();
        for name in &context.env_names {
            if let Some(value) = context.env_value(name)
                && value.chars().count() >= 3
                && !secrets.iter().any(|(v, _)| *v == value)
            {
                secrets.push((value, name.clone()));
            }
        }
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));

        let mut references = Vec::new();
        let mut graph = DependencyGraph::default();
        let declared = context
            .declared
            .iter()
            .map(|(address, object)| ReferenceSource {
                address,
                spec: &object.spec,
                id: object.id.as_deref(),
                outputs: &object.outputs,
            });
        for source in declared.chain(imported.iter().copied()) {
            collect_targets(&source, &mut references);
        }
        for (address, object) in &context.declared {
            for dependency in &object.depends_on {
                graph.add(address, dependency);
            }
        }
        references.sort_by(|a, b| {
            b.value
                .len()
                .cmp(&a.value.len())
                .then(a.address.cmp(&b.address))
        });
        Reverser {
            context,
            spread,
            words: word_values,
            secrets,
            references,
            graph,
            decided: BTreeMap::new(),
            report: ReverseReport::default(),
        }
    }

    /// Every string of `spec` (a spec of `address`), reverse interpolated.
    pub fn spec(&mut self, address: &Address, spec: &Value) -> Value {
        self.value(address, spec, "", None, TextKind::Field)
    }

    /// `value` at JSON pointer `pointer` under key `key`, reverse interpolated.
    pub fn value(
        &mut self,
        address: &Address,
        value: &Value,
        pointer: &str,
        key: Option<&str>,
        text: TextKind,
    ) -> Value {
        match value {
            Value::String(string) => {
                let site = Site {
                    address,
                    pointer,
                    key,
                    text,
                };
                Value::String(self.string(string, &site))
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let pointer = format!("{pointer}/{index}");
                        self.value(address, item, &pointer, key, text)
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| {
                        let pointer =
                            format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                        (
                            k.clone(),
                            self.value(address, item, &pointer, Some(k), text),
                        )
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// One string, reverse interpolated.
    pub fn string(&mut self, text: &str, site: &Site) -> String {
        let kind = site.address.kind;
        let field = top_field(site.pointer);
        if let Some((_, _, name)) = WRITE_ONLY_ENV_NAMES
            .iter()
            .find(|(k, f, _)| *k == kind && site.pointer == format!("/{f}"))
        {
            return self.secret_token(site, name, None);
        }
        if !text.is_empty() && site.text == TextKind::Field && site.key.is_some_and(is_secret_key) {
            let known = self
                .secrets
                .iter()
                .find(|(value, _)| value == text)
                .map(|(_, name)| name.clone());
            let name = known
                .unwrap_or_else(|| secret_env_name(site.address, site.key.unwrap_or_default()));
            return self.secret_token(site, &name, Some(text.to_string()));
        }
        let mut pieces = vec![Piece::Text(text.to_string())];

        // Known secret values, wherever they occur: a secret is never written out.
        for index in 0..self.secrets.len() {
            let (value, name) = self.secrets[index].clone();
            let token = format!("${{env.{name}}}");
            if replace_occurrences(&mut pieces, &value, &token, &|_, _| true) > 0 {
                self.secret_token(site, &name, Some(value));
            }
        }

        // References: ids, URLs and workspace paths anywhere; a table's full name only as the
        // whole value of a field lode does not link by value.
        for index in 0..self.references.len() {
            let target = &self.references[index];
            if target.address == *site.address {
                continue;
            }
            let whole = matches!(pieces.as_slice(), [Piece::Text(t)] if *t == target.value);
            if target.whole_only && !(whole && site.text == TextKind::Field) {
                continue;
            }
            if site.text == TextKind::Field && linked_by_value(kind, field) {
                continue;
            }
            let occurs = pieces.iter().any(|p| match p {
                Piece::Text(t) => t.contains(&target.value),
                Piece::Token(_) => false,
            });
            if !occurs {
                continue;
            }
            let (value, to, field_name) = (
                target.value.clone(),
                target.address.clone(),
                target.field.clone(),
            );
            if !self.allow_reference(site.address, &to, &value, site.pointer) {
                continue;
            }
            let token = format!("${{ref.{}.{}.{field_name}}}", to.kind, to.name);
            if replace_occurrences(&mut pieces, &value, &token, &bounded) > 0 {
                self.graph.add(site.address, &to);
                self.report
                    .references
                    .entry(site.address.clone())
                    .or_default()
                    .insert(to);
            }
        }

        // Variables whose values are URLs, hosts, paths or qualified names: anywhere.
        for index in 0..self.spread.len() {
            let (value, names) = self.spread[index].clone();
            let occurs = pieces
                .iter()
                .any(|p| matches!(p, Piece::Text(t) if t.contains(&value)));
            let normalized = (site.text == TextKind::Field
                && normalized_workspace_path(kind, field)
                && value.starts_with("/Workspace/"))
            .then(|| normalize_workspace_path(&value));
            let occurs_normalized = normalized.as_ref().is_some_and(
                |n| matches!(pieces.first(), Some(Piece::Text(t)) if t.starts_with(n.as_str())),
            );
            if !occurs && !occurs_normalized {
                continue;
            }
            let Some(name) = self.choose(&names, site.key, site, &value) else {
                continue;
            };
            let token = format!("${{var.{name}}}");
            if occurs {
                replace_occurrences(&mut pieces, &value, &token, &bounded);
            }
            // `/Shared/x/file` in a field stored without `/Workspace`: the variable's
            // `/Workspace/Shared/x` normalises back to it.
            if let Some(normalized) = normalized
                && let Some(Piece::Text(first)) = pieces.first().cloned()
                && let Some(rest) = first.strip_prefix(normalized.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                pieces[0] = Piece::Token(token);
                if !rest.is_empty() {
                    pieces.insert(1, Piece::Text(rest.to_string()));
                }
            }
        }

        // A single word that is the whole value of a key naming its variable.
        let whole = match pieces.as_slice() {
            [Piece::Text(whole)] => Some(whole.clone()),
            _ => None,
        };
        // The names of list items (members, alarms, columns) are identities, never variables.
        let item_name = site.key == Some("name") && site.pointer.matches('/').count() > 1;
        if let Some(whole) = whole
            && site.text == TextKind::Field
            && !item_name
            && let Some(names) = self.words.get(&whole).cloned()
        {
            let matching: Vec<String> = names
                .iter()
                .filter(|n| site.key.is_some_and(|key| affinity(n, key)))
                .cloned()
                .collect();
            match matching.as_slice() {
                [name] => pieces = vec![Piece::Token(format!("${{var.{name}}}"))],
                [] => {}
                several => self.ambiguous(site, &whole, several),
            }
        }

        // Single words as parts of `catalog.schema[.table]` names, by position.
        if site.text != TextKind::Code && !self.words.is_empty() {
            pieces = self.qualified_names(pieces, site);
        }
        render(&pieces)
    }

    fn secret_token(&mut self, site: &Site, name: &str, live_value: Option<String>) -> String {
        let set = self.context.env_value(name).is_some();
        let use_ = SecretUse {
            address: site.address.clone(),
            pointer: site.pointer.to_string(),
            env: name.to_string(),
            set,
            live_value,
        };
        if !self.report.secrets.contains(&use_) {
            self.report.secrets.push(use_);
        }
        format!("${{env.{name}}}")
    }

    /// The one variable `names` (which share `value`) that `key` points at, if it is one.
    fn choose(
        &mut self,
        names: &[String],
        key: Option<&str>,
        site: &Site,
        value: &str,
    ) -> Option<String> {
        if let [only] = names {
            return Some(only.clone());
        }
        let matching: Vec<String> = names
            .iter()
            .filter(|n| key.is_some_and(|k| affinity(n, k)))
            .cloned()
            .collect();
        if let [only] = matching.as_slice() {
            return Some(only.clone());
        }
        self.ambiguous(site, value, names);
        None
    }

    fn ambiguous(&mut self, site: &Site, value: &str, names: &[String]) {
        let ambiguity = Ambiguity {
            address: site.address.clone(),
            pointer: site.pointer.to_string(),
            value: value.to_string(),
            variables: names.to_vec(),
        };
        if !self.report.ambiguous.contains(&ambiguity) {
            self.report.ambiguous.push(ambiguity);
        }
    }

    /// Whether `from` may reference `to`: not itself, and not if `to` already depends on
    /// `from` (the reference would close a cycle).
    fn allow_reference(
        &mut self,
        from: &Address,
        to: &Address,
        value: &str,
        pointer: &str,
    ) -> bool {
        let key = (from.clone(), to.clone());
        if let Some(&allowed) = self.decided.get(&key) {
            return allowed;
        }
        let allowed = from != to && !self.graph.reaches(to, from);
        if !allowed && from != to {
            self.report.warnings.push(format!(
                "{from} {pointer}: kept `{value}` as it is: `${{ref.{}.{}...}}` would make {from} and {to} depend on each other",
                to.kind, to.name
            ));
        }
        self.decided.insert(key, allowed);
        allowed
    }

    /// Replaces single-word variables that are parts of `a.b` / `a.b.c` names in the text
    /// pieces, where the part's position (catalog, schema, table) names the variable.
    fn qualified_names(&mut self, pieces: Vec<Piece>, site: &Site) -> Vec<Piece> {
        let mut out = Vec::new();
        for piece in pieces {
            let Piece::Text(text) = piece else {
                out.push(piece);
                continue;
            };
            let mut literal = String::new();
            let mut chars = text.char_indices().peekable();
            let mut last = 0;
            while let Some((start, c)) = chars.next() {
                if !(is_word_char(c) || c == '.') {
                    continue;
                }
                let preceded = text[..start].chars().last();
                if preceded.is_some_and(|p| is_word_char(p) || p == '.') {
                    continue;
                }
                let mut end = start + c.len_utf8();
                while let Some(&(index, next)) = chars.peek() {
                    if is_word_char(next) || next == '.' {
                        end = index + next.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let run = &text[start..end];
                // A pipeline parameter, `${catalog.key}`, is not a table name.
                if text[..start].ends_with("${") {
                    continue;
                }
                let parts: Vec<&str> = run.split('.').collect();
                let positions: &[&str] = match parts.len() {
                    3 => &["catalog", "schema", "table"],
                    2 => &["catalog", "schema"],
                    _ => continue,
                };
                let identifiers = parts.iter().all(|p| {
                    p.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                });
                if !identifiers {
                    continue;
                }
                let mut replaced: Vec<Piece> = Vec::new();
                let mut any = false;
                for (index, (part, position)) in parts.iter().zip(positions).enumerate() {
                    if index > 0 {
                        replaced.push(Piece::Text(".".into()));
                    }
                    let chosen = self.words.get(*part).cloned().and_then(|names| {
                        let matching: Vec<String> = names
                            .iter()
                            .filter(|n| affinity(n, position))
                            .cloned()
                            .collect();
                        match matching.as_slice() {
                            [one] => Some(one.clone()),
                            [] => None,
                            several => {
                                self.ambiguous(site, part, several);
                                None
                            }
                        }
                    });
                    match chosen {
                        Some(name) => {
                            any = true;
                            replaced.push(Piece::Token(format!("${{var.{name}}}")));
                        }
                        None => replaced.push(Piece::Text((*part).to_string())),
                    }
                }
                if !any {
                    continue;
                }
                literal.push_str(&text[last..start]);
                for piece in replaced {
                    match piece {
                        Piece::Text(t) => literal.push_str(&t),
                        token => {
                            if !literal.is_empty() {
                                out.push(Piece::Text(std::mem::take(&mut literal)));
                            }
                            out.push(token);
                        }
                    }
                }
                last = end;
            }
            literal.push_str(&text[last..]);
            if !literal.is_empty() {
                out.push(Piece::Text(literal));
            }
        }
        out
    }
}

/// The spec field a JSON pointer starts with: `/tables/0` → `tables`.
fn top_field(pointer: &str) -> &str {
    pointer
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
}

/// The `${ref...}` targets an object offers: its id, its `url` and `workspace_path` outputs,
/// and a table's full name.
fn collect_targets(source: &ReferenceSource, targets: &mut Vec<ReferenceTarget>) {
    let ReferenceSource {
        address,
        spec,
        id,
        outputs,
    } = *source;
    let mut push = |value: &str, field: &str, whole_only: bool| {
        if value.chars().count() >= 3 && replaceable(value) {
            targets.push(ReferenceTarget {
                value: value.to_string(),
                address: address.clone(),
                field: field.to_string(),
                whole_only,
            });
        }
    };
    if let Some(id) = id {
        push(id, "id", false);
    }
    for field in ["url", "workspace_path"] {
        if let Some(value) = outputs.get(field).and_then(Value::as_str) {
            push(value, field, false);
        }
    }
    if address.kind == Kind::Table {
        let full_name = outputs
            .get("full_name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{}.{}.{}",
                    str_field(spec, "catalog"),
                    str_field(spec, "schema"),
                    str_field(spec, "name")
                )
            });
        push(&full_name, "full_name", true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context<'a>(
        variables: &[(&str, &str)],
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> ReverseContext<'a> {
        ReverseContext {
            variables: variables
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            declared: BTreeMap::new(),
            env_names: BTreeSet::from(["API_TOKEN".to_string()]),
            env_defaults: BTreeMap::new(),
            env_lookup: env,
        }
    }

    fn demo_variables() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ignition_project", "mining_demo"),
            ("tag_provider", "default"),
            ("workspace_url", "http://localhost:8080"),
            ("catalog", "main"),
            ("schema", "mining_demo"),
            ("workspace_root", "/Workspace/Shared/mining_demo"),
            ("zerobus_endpoint", "localhost:8080"),
            ("zerobus_client_id", "mining-demo-zerobus-sp"),
            ("short", "ab"),
            ("count", "1000"),
        ]
    }

    #[test]
    fn issue_17_affinity_matches_keys_and_variable_names_by_their_words() {
        assert!(affinity("ignition_project", "project"));
        assert!(affinity("tag_provider", "provider"));
        assert!(affinity("schema", "schema"));
        assert!(affinity("zerobus_client_id", "oauthClientId"));
        assert!(affinity("workspace_url", "workspaceUrl"));
        assert!(!affinity("schema", "project"));
        assert!(!affinity("ignition_project", "schema"));
        assert!(!affinity("catalog", "name"));
        assert!(is_secret_key("oauthClientSecret"));
        assert!(is_secret_key("api_key"));
        assert!(is_secret_key("privateKey"));
        assert!(!is_secret_key("oauthTokenEndpoint"));
        assert!(!is_secret_key("monkey"));
    }

    #[test]
    fn issue_17_variables_come_back_where_keys_and_positions_name_them() {
        let env = |_: &str| None;
        let ctx = context(&demo_variables(), &env);
        let mut reverser = Reverser::new(&ctx, &[]);
        let address = Address::new(Kind::Pipeline, "p");
        let spec = json!({
            "catalog": "main",
            "schema": "mining_demo",
            "project": "mining_demo",
            "name": "mining_demo",
            "libraries": [{"file": {"path": "/Workspace/Shared/mining_demo/pipeline/silver.sql"}}],
            "configuration": {"mining_demo.bronze_table": "main.mining_demo.ot_telemetry_bronze"},
            "sql": "SELECT * FROM main.mining_demo.gold JOIN t ON t.id = main.x WHERE s = '${mining_demo.bronze_table}'",
            "url": "see http://localhost:8080/x and http://localhost:80801",
            "provider": "default",
            "folder": "[default]Mining/Equipment",
            "short": "ab",
            "count": "1000",
            "truth": "true",
        });
        let out = reverser.spec(&address, &spec);
        assert_eq!(
            out,
            json!({
                "catalog": "${var.catalog}",
                "schema": "${var.schema}",
                "project": "${var.ignition_project}",
                "name": "mining_demo",
                "libraries": [{"file": {"path": "${var.workspace_root}/pipeline/silver.sql"}}],
                "configuration": {"mining_demo.bronze_table": "${var.catalog}.${var.schema}.ot_telemetry_bronze"},
                "sql": "SELECT * FROM ${var.catalog}.${var.schema}.gold JOIN t ON t.id = ${var.catalog}.x WHERE s = '$${mining_demo.bronze_table}'",
                "url": "see ${var.workspace_url}/x and http://localhost:80801",
                "provider": "${var.tag_provider}",
                "folder": "[default]Mining/Equipment",
                "short": "ab",
                "count": "1000",
                "truth": "true",
            })
        );
        // `mining_demo` as a whole value under `name` could be `schema` or `ignition_project`:
        // no key says which, so it stays literal, and nothing is reported for a key with no
        // affinity at all.
        assert!(
            reverser.report.ambiguous.is_empty(),
            "{:?}",
            reverser.report.ambiguous
        );
    }

    #[test]
    fn issue_17_a_shared_value_no_key_decides_is_left_literal_and_reported() {
        let env = |_: &str| None;
        let ctx = context(
            &[("landing", "/Volumes/a/b"), ("staging", "/Volumes/a/b")],
            &env,
        );
        let mut reverser = Reverser::new(&ctx, &[]);
        let address = Address::new(Kind::Pipeline, "p");
        let out = reverser.spec(
            &address,
            &json!({"root_path": "/Volumes/a/b/c", "landing": "/Volumes/a/b"}),
        );
        assert_eq!(
            out,
            json!({"root_path": "/Volumes/a/b/c", "landing": "${var.landing}"})
        );
        assert_eq!(reverser.report.ambiguous.len(), 1);
        assert_eq!(reverser.report.ambiguous[0].pointer, "/root_path");
        assert_eq!(
            reverser.report.ambiguous[0].variables,
            ["landing", "staging"]
        );
    }

    #[test]
    fn issue_17_workspace_paths_stored_without_workspace_get_the_variable_back() {
        let env = |_: &str| None;
        let ctx = context(&demo_variables(), &env);
        let mut reverser = Reverser::new(&ctx, &[]);
        let file = Address::new(Kind::WorkspaceFile, "f");
        assert_eq!(
            reverser.spec(
                &file,
                &json!({"path": "/Shared/mining_demo/chat/index.html"})
            ),
            json!({"path": "${var.workspace_root}/chat/index.html"})
        );
        let genie = Address::new(Kind::GenieSpace, "g");
        assert_eq!(
            reverser.spec(
                &genie,
                &json!({"parent_path": "/Shared/mining_demo", "title": "/Shared/mining_demo"})
            ),
            json!({"parent_path": "${var.workspace_root}", "title": "/Shared/mining_demo"})
        );
        // `/Shared/mining_demo_old` is another folder.
        assert_eq!(
            reverser.spec(&file, &json!({"path": "/Shared/mining_demo_old/x"})),
            json!({"path": "/Shared/mining_demo_old/x"})
        );
    }

    #[test]
    fn issue_17_references_come_before_variables_and_never_close_a_cycle() {
        let env = |_: &str| None;
        let ctx = context(&demo_variables(), &env);
        let space = Address::new(Kind::GenieSpace, "ops");
        let page = Address::new(Kind::WorkspaceFile, "chat_index");
        let bronze = Address::new(Kind::Table, "bronze");
        let space_spec = json!({"title": "Ops"});
        let page_spec = json!({"path": "/Shared/mining_demo/chat/index.html"});
        let bronze_spec = json!({"catalog": "main", "schema": "mining_demo", "name": "bronze"});
        let no_outputs = BTreeMap::new();
        let page_outputs = BTreeMap::from([(
            "url".to_string(),
            json!("http://localhost:8080/workspace-files/Shared/mining_demo/chat/index.html"),
        )]);
        let source = |address, spec, id, outputs| ReferenceSource {
            address,
            spec,
            id,
            outputs,
        };
        let imported = [
            source(&space, &space_spec, Some("01f0c0ffee"), &no_outputs),
            source(&page, &page_spec, None, &page_outputs),
            source(&bronze, &bronze_spec, None, &no_outputs),
        ];
        let mut reverser = Reverser::new(&ctx, &imported);
        let script = Address::new(Kind::SessionEvent, "session_startup");
        let site = Site {
            address: &script,
            pointer: "/script",
            key: None,
            text: TextKind::Code,
        };
        let text = "id = \"01f0c0ffee\"\nurl = \"http://localhost:8080/workspace-files/Shared/mining_demo/chat/index.html\" + \"?space=\"\nbase = \"http://localhost:8080\"\nother = \"01f0c0ffee2\"\n";
        assert_eq!(
            reverser.string(text, &site),
            "id = \"${ref.genie_space.ops.id}\"\nurl = \"${ref.workspace_file.chat_index.url}\" + \"?space=\"\nbase = \"${var.workspace_url}\"\nother = \"01f0c0ffee2\"\n"
        );
        let zerobus = Address::new(Kind::ZerobusConnection, "telemetry");
        assert_eq!(
            reverser.spec(&zerobus, &json!({"targetTable": "main.mining_demo.bronze", "note": "main.mining_demo.bronze table"})),
            json!({"targetTable": "${ref.table.bronze.full_name}", "note": "${var.catalog}.${var.schema}.bronze table"})
        );
        // A Genie space lists tables by value: variables, not references.
        assert_eq!(
            reverser.spec(&space, &json!({"tables": ["main.mining_demo.bronze"]})),
            json!({"tables": ["${var.catalog}.${var.schema}.bronze"]})
        );
        // The page depends on the script, which now references the space: once the space
        // depends on the page, the page may not reference the space.
        let mut cyclic = Reverser::new(&ctx, &imported);
        cyclic.graph.add(&page, &script);
        assert_eq!(
            cyclic.string("01f0c0ffee", &site),
            "${ref.genie_space.ops.id}"
        );
        let site_on_page = Site {
            address: &page,
            pointer: "/content",
            key: None,
            text: TextKind::Code,
        };
        cyclic.graph.add(&space, &page);
        assert_eq!(cyclic.string("01f0c0ffee", &site_on_page), "01f0c0ffee");
        assert_eq!(
            cyclic.report.warnings.len(),
            1,
            "{:?}",
            cyclic.report.warnings
        );
    }

    #[test]
    fn issue_17_secrets_become_env_tokens_and_are_reported_by_name_only() {
        let env = |name: &str| (name == "API_TOKEN").then(|| "tok-123456".to_string());
        let ctx = context(&demo_variables(), &env);
        let mut reverser = Reverser::new(&ctx, &[]);
        let zerobus = Address::new(Kind::ZerobusConnection, "telemetry");
        let out = reverser.spec(
            &zerobus,
            &json!({"oauthClientSecret": "****", "workspaceUrl": "http://localhost:8080", "note": "uses tok-123456 today"}),
        );
        assert_eq!(
            out,
            json!({"oauthClientSecret": "${env.ZEROBUS_CLIENT_SECRET}", "workspaceUrl": "${var.workspace_url}", "note": "uses ${env.API_TOKEN} today"})
        );
        let view = Address::new(Kind::SessionProps, "Main Site");
        let out = reverser.spec(
            &view,
            &json!({"props": {"custom": {"apiKey": "abc-secret", "password": ""}}}),
        );
        assert_eq!(
            out,
            json!({"props": {"custom": {"apiKey": "${env.SESSION_PROPS_MAIN_SITE_API_KEY}", "password": ""}}})
        );
        let shown: Vec<(String, String, bool)> = reverser
            .report
            .secrets
            .iter()
            .map(|s| (s.pointer.clone(), s.env.clone(), s.set))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "/oauthClientSecret".to_string(),
                    "ZEROBUS_CLIENT_SECRET".to_string(),
                    false
                ),
                ("/note".to_string(), "API_TOKEN".to_string(), true),
                (
                    "/props/custom/apiKey".to_string(),
                    "SESSION_PROPS_MAIN_SITE_API_KEY".to_string(),
                    false
                ),
            ]
        );
        let debug = format!("{:?}", reverser.report.secrets);
        assert!(
            !debug.contains("abc-secret") && !debug.contains("tok-123456"),
            "{debug}"
        );
    }

    #[test]
    fn issue_17_literal_dollar_braces_are_escaped_and_read_back() {
        let env = |_: &str| None;
        let ctx = context(&demo_variables(), &env);
        let mut reverser = Reverser::new(&ctx, &[]);
        let address = Address::new(Kind::WorkspaceFile, "page");
        let site = Site {
            address: &address,
            pointer: "/content",
            key: None,
            text: TextKind::Code,
        };
        for text in [
            "`${name}` and $${x} and $",
            "$http://localhost:8080",
            "a$${b",
        ] {
            let written = reverser.string(text, &site);
            let variables = ctx.variables.clone();
            let no_env = |_: &str| None;
            let mut interpolator = crate::manifest::interpolate::Interpolator {
                variables: &variables,
                env: &no_env,
                secrets: Vec::new(),
                references: Vec::new(),
                env_is_secret: true,
            };
            assert_eq!(
                interpolator.interpolate(&written).unwrap(),
                text,
                "{written}"
            );
        }
    }
}
