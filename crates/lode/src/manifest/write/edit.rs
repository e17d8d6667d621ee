//! The format-preserving manifest editor of `lode pull`: it reads one YAML document into a tree
//! of nodes with byte spans (granit-parser), and changes a manifest by splicing bytes: replace a
//! value, insert a key or a list item, remove an entry. Everything else in the file (comments,
//! key order, quoting, other documents) is left byte for byte as it was. Scalars keep their
//! style, flow collections stay flow, literal blocks keep their indicator and indentation, so
//! a changed line of a multi-line text changes that line only. Documents whose anchors,
//! aliases or merge keys would let one edit change other nodes are refused.
//!
//! It also maps a spec path to where it is written (`locate`: the document, or the payload file
//! that holds a script, a view or a workspace file's content) and rewrites payloads: text by a
//! line diff that keeps every raw line whose interpolated form is unchanged, JSON documents in
//! their original key order.

use std::collections::VecDeque;
use std::fmt;

use granit_parser::{Event, Options, Parser, ScalarStyle, StructureStyle};
use serde_json::{Map, Value, json};

use super::emit::{self, Depth};
use crate::manifest::load::payload_path;
use crate::manifest::yaml::split_documents;
use crate::manifest::{Kind, ManifestFiles, Origin};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A mapping's key.
    Key(String),
    /// The item of a sequence of mappings whose `name` is this (tag members, alarms, columns).
    Named(String),
    /// A sequence's item by position.
    Index(usize),
}

/// A path from a document's root, e.g. `spec.tags[Speed_KPH].alarms[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentPath(pub Vec<PathSegment>);

impl DocumentPath {
    /// The path of a spec field: `spec` followed by `segments`.
    pub fn in_spec(segments: &[PathSegment]) -> DocumentPath {
        let mut path = vec![PathSegment::Key("spec".into())];
        path.extend_from_slice(segments);
        DocumentPath(path)
    }
}

impl fmt::Display for DocumentPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if index == 0 => write!(f, "{key}")?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Named(name) => write!(f, "[{name}]")?,
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// What to do at a path. Values are live values: the editor writes each in its written form
/// (`WrittenForm::written`), and leaves a raw value alone when its interpolated form already
/// equals the live one.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Replace the value at the path (which must exist).
    Replace(Value),
    /// Add `key: value` to the mapping at the path, or `value` as the last item of the
    /// sequence at the path (`key: None`).
    Insert { key: Option<String>, value: Value },
    /// Remove the entry or item at the path (which must exist).
    Remove,
    /// Make the path hold this value (replace or insert, creating missing mappings), or remove
    /// it (`None`).
    Set(Option<Value>),
    /// The sequence at the path is a set (Genie `tables`): keep the items still wanted in their
    /// order, remove the others, append the new ones.
    SetItems(Vec<Value>),
}

/// One edit of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentEdit {
    pub path: DocumentPath,
    pub change: Change,
}

/// How live values are written and raw values read: reverse interpolation one way, `${...}`
/// interpolation the other.
pub trait WrittenForm {
    /// `live` (at `path`) as the manifest should say it.
    fn written(&self, path: &DocumentPath, live: &Value) -> Value;
    /// A raw manifest string as the loader reads it; `None` when it cannot be interpolated.
    fn interpolated(&self, raw: &str) -> Option<String>;
}

/// Values written as they are: for manifests without variables, and for tests.
pub struct Verbatim;

impl WrittenForm for Verbatim {
    fn written(&self, _: &DocumentPath, live: &Value) -> Value {
        live.clone()
    }
    fn interpolated(&self, raw: &str) -> Option<String> {
        Some(raw.to_string())
    }
}

/// Why a manifest or payload could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum ManifestEditError {
    #[error("{file}:{line}: {what}; lode pull does not edit such a document")]
    Refused {
        file: String,
        line: usize,
        what: String,
    },
    #[error("{file}:{line}: the YAML cannot be read: {message}")]
    Unreadable {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: the document has no `{path}`")]
    Missing {
        file: String,
        line: usize,
        path: String,
    },
    #[error("{file}: no document is declared at line {line}")]
    NoDocument { file: String, line: usize },
    #[error("{file}: {message}")]
    Payload { file: String, message: String },
}

impl ManifestEditError {
    /// What the user should do.
    pub fn hint(&self) -> &'static str {
        match self {
            ManifestEditError::Refused { .. } => {
                "make the change by hand (or write the values out without anchors and aliases), commit it, and run `lode pull` again"
            }
            ManifestEditError::Unreadable { .. } | ManifestEditError::Payload { .. } => {
                "fix the file (`lode validate` shows what is wrong) and run `lode pull` again"
            }
            ManifestEditError::Missing { .. } | ManifestEditError::NoDocument { .. } => {
                "the manifests changed while lode pull ran; run it again"
            }
        }
    }

    /// The file and line the error is about.
    pub fn position(&self) -> (&str, usize) {
        match self {
            ManifestEditError::Refused { file, line, .. }
            | ManifestEditError::Unreadable { file, line, .. }
            | ManifestEditError::Missing { file, line, .. }
            | ManifestEditError::NoDocument { file, line } => (file, *line),
            ManifestEditError::Payload { file, .. } => (file, 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The span tree.

/// A node of a parsed document; byte offsets are the file's.
#[derive(Debug, Clone)]
struct Node {
    start: usize,
    end: usize,
    kind: NodeKind,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Scalar { style: ScalarStyle, value: String },
    Mapping { flow: bool, entries: Vec<Entry> },
    Sequence { flow: bool, items: Vec<Node> },
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    key_start: usize,
    key_end: usize,
    value: Node,
}

impl Node {
    fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. }
        )
    }

    fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// A document of a file: its bytes and its root.
struct ParsedDocument {
    root: Node,
}

/// Byte offsets of the start of each line of `text` (index 0 = line 1).
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn line_of(starts: &[usize], offset: usize) -> usize {
    starts.partition_point(|&s| s <= offset)
}

/// The start of the line holding `offset`.
fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The offset just after the end of the line holding `offset` (after its `\n`, or the end).
fn line_end(text: &str, offset: usize) -> usize {
    text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1)
}

/// The column (in bytes; manifests indent with spaces) of `offset`.
fn column(text: &str, offset: usize) -> usize {
    offset - line_start(text, offset)
}

/// The byte range of the document declared at `line` (any line of it) in `text`.
fn document_range(text: &str, line: usize) -> Option<(usize, usize)> {
    let starts = line_starts(text);
    for document in split_documents(text) {
        let lines = document.text.matches('\n').count().max(1);
        if line >= document.first_line && line < document.first_line + lines {
            let start = *starts.get(document.first_line - 1)?;
            let end = (start + document.text.len()).min(text.len());
            return Some((start, end));
        }
    }
    None
}

fn parse_document(
    file: &str,
    text: &str,
    line: usize,
) -> Result<ParsedDocument, ManifestEditError> {
    let (start, end) = document_range(text, line).ok_or_else(|| ManifestEditError::NoDocument {
        file: file.to_string(),
        line,
    })?;
    // The parser sees the whole file up to the document's end, with everything before the
    // document blanked out (same byte lengths), so its offsets are the file's.
    let mut source = String::with_capacity(end);
    for byte in text[..start].bytes() {
        source.push(if byte == b'\n' { '\n' } else { ' ' });
    }
    let body = &text[start..end];
    // `--- kind: x` starts the document on the marker's line.
    if let Some(rest) = body.strip_prefix("---") {
        source.push_str("   ");
        source.push_str(rest);
    } else {
        source.push_str(body);
    }
    let starts = line_starts(text);
    let mut options = Options::default();
    options.set_emit_comments(false);
    let mut parser = Parser::new_from_str_with_options(&source, options);
    let mut builder = TreeBuilder {
        file,
        text,
        starts: &starts,
        events: Vec::new(),
        position: 0,
    };
    while let Some(result) = parser.next_event() {
        let (event, span) = result.map_err(|error| ManifestEditError::Unreadable {
            file: file.to_string(),
            line: error.marker().line(),
            message: error.info().to_string(),
        })?;
        let range = span.byte_range().unwrap_or(0..0);
        builder.events.push((event.into_owned_event(), range));
    }
    builder.document()
}

/// An event without borrowed text.
#[derive(Debug, Clone)]
enum OwnedEvent {
    Scalar {
        value: String,
        style: ScalarStyle,
        anchor: usize,
        tagged: bool,
    },
    SequenceStart {
        flow: bool,
        anchor: usize,
        tagged: bool,
    },
    SequenceEnd,
    MappingStart {
        flow: bool,
        anchor: usize,
        tagged: bool,
    },
    MappingEnd,
    Alias,
    Other,
}

trait IntoOwnedEvent {
    fn into_owned_event(self) -> OwnedEvent;
}

impl IntoOwnedEvent for Event<'_> {
    fn into_owned_event(self) -> OwnedEvent {
        match self {
            Event::Scalar(value, style, anchor, tag) => OwnedEvent::Scalar {
                value: value.into_owned(),
                style,
                anchor,
                tagged: tag.is_some(),
            },
            Event::SequenceStart(style, anchor, tag) => OwnedEvent::SequenceStart {
                flow: style == StructureStyle::Flow,
                anchor,
                tagged: tag.is_some(),
            },
            Event::SequenceEnd => OwnedEvent::SequenceEnd,
            Event::MappingStart(style, anchor, tag) => OwnedEvent::MappingStart {
                flow: style == StructureStyle::Flow,
                anchor,
                tagged: tag.is_some(),
            },
            Event::MappingEnd => OwnedEvent::MappingEnd,
            Event::Alias(_) | Event::UnresolvedAlias(_) => OwnedEvent::Alias,
            _ => OwnedEvent::Other,
        }
    }
}

struct TreeBuilder<'a> {
    file: &'a str,
    text: &'a str,
    starts: &'a [usize],
    events: Vec<(OwnedEvent, std::ops::Range<usize>)>,
    position: usize,
}

impl TreeBuilder<'_> {
    fn refuse(&self, offset: usize, what: impl Into<String>) -> ManifestEditError {
        ManifestEditError::Refused {
            file: self.file.to_string(),
            line: line_of(self.starts, offset),
            what: what.into(),
        }
    }

    fn next(&mut self) -> Option<(OwnedEvent, std::ops::Range<usize>)> {
        while let Some((event, range)) = self.events.get(self.position).cloned() {
            self.position += 1;
            if !matches!(event, OwnedEvent::Other) {
                return Some((event, range));
            }
        }
        None
    }

    fn document(&mut self) -> Result<ParsedDocument, ManifestEditError> {
        let Some((event, range)) = self.next() else {
            return Err(ManifestEditError::NoDocument {
                file: self.file.to_string(),
                line: 1,
            });
        };
        let after = range.start;
        let root = self.node(event, range, after)?;
        Ok(ParsedDocument { root })
    }

    fn check_properties(
        &self,
        offset: usize,
        anchor: usize,
        tagged: bool,
    ) -> Result<(), ManifestEditError> {
        if anchor != 0 {
            return Err(self.refuse(
                offset,
                "the document uses a YAML anchor (`&name`): an edit could change what its aliases say",
            ));
        }
        if tagged {
            return Err(self.refuse(offset, "the document uses a YAML tag (`!name`)"));
        }
        Ok(())
    }

    /// The node that `event` starts; `after` is where the text before it ends (its key, its
    /// `-`, the previous item), where a block scalar's `|` or `>` is looked for.
    fn node(
        &mut self,
        event: OwnedEvent,
        range: std::ops::Range<usize>,
        after: usize,
    ) -> Result<Node, ManifestEditError> {
        match event {
            OwnedEvent::Scalar {
                value,
                style,
                anchor,
                tagged,
            } => {
                self.check_properties(range.start, anchor, tagged)?;
                // The parser's span of a block scalar starts at its content; the node starts
                // at its `|` or `>`, so that a replacement rewrites the header too.
                let (start, end) = match style {
                    // `key:` with nothing after it: the parser puts the empty value at the next
                    // token, possibly lines below; it is written right after the `:`.
                    ScalarStyle::Plain if value.is_empty() && range.start == range.end => {
                        let at = self.text[after..]
                            .find(':')
                            .map_or(after, |i| after + i + 1)
                            .min(range.start.max(after));
                        (at, at)
                    }
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        let from = after.min(range.start);
                        let indicator = self.text[from..range.start.max(from)]
                            .find(['|', '>'])
                            .map(|i| from + i)
                            .ok_or_else(|| self.refuse(range.start, "a `|` or `>` block has no header"))?;
                        (indicator, block_scalar_end(self.text, indicator))
                    }
                    _ => (range.start, range.end),
                };
                Ok(Node {
                    start,
                    end,
                    kind: NodeKind::Scalar { style, value },
                })
            }
            OwnedEvent::Alias => Err(self.refuse(
                range.start,
                "the document uses a YAML alias (`*name`): an edit could change the value it repeats",
            )),
            OwnedEvent::MappingStart {
                flow,
                anchor,
                tagged,
            } => {
                self.check_properties(range.start, anchor, tagged)?;
                let mut entries: Vec<Entry> = Vec::new();
                loop {
                    let Some((event, key_range)) = self.next() else {
                        return Err(self.refuse(range.start, "the document ends inside a mapping"));
                    };
                    if let OwnedEvent::MappingEnd = event {
                        let end = if flow {
                            key_range.end.max(range.start)
                        } else {
                            entries.last().map_or(range.start, |e| e.value.end)
                        };
                        return Ok(Node {
                            start: range.start,
                            end,
                            kind: NodeKind::Mapping { flow, entries },
                        });
                    }
                    let key_after = entries.last().map_or(range.start, |e| e.value.end);
                    let key_node = self.node(event, key_range.clone(), key_after)?;
                    let Some(key) = key_node.scalar().map(str::to_string) else {
                        return Err(self.refuse(key_range.start, "the document has a mapping key that is not text"));
                    };
                    if key == "<<" && matches!(key_node.kind, NodeKind::Scalar { style: ScalarStyle::Plain, .. }) {
                        return Err(self.refuse(
                            key_range.start,
                            "the document uses a YAML merge key (`<<`): an edit could change the mapping it merges",
                        ));
                    }
                    if entries.iter().any(|e| e.key == key) {
                        return Err(self.refuse(
                            key_range.start,
                            format!("the key `{key}` appears twice in one mapping"),
                        ));
                    }
                    let Some((event, value_range)) = self.next() else {
                        return Err(self.refuse(key_range.start, "a key has no value"));
                    };
                    let value = self.node(event, value_range, key_node.end)?;
                    entries.push(Entry {
                        key,
                        key_start: key_node.start,
                        key_end: key_node.end,
                        value,
                    });
                }
            }
            OwnedEvent::SequenceStart {
                flow,
                anchor,
                tagged,
            } => {
                self.check_properties(range.start, anchor, tagged)?;
                let mut items: Vec<Node> = Vec::new();
                loop {
                    let Some((event, item_range)) = self.next() else {
                        return Err(self.refuse(range.start, "the document ends inside a list"));
                    };
                    if let OwnedEvent::SequenceEnd = event {
                        let end = if flow {
                            item_range.end.max(range.start)
                        } else {
                            items.last().map_or(range.start, |i| i.end)
                        };
                        return Ok(Node {
                            start: range.start,
                            end,
                            kind: NodeKind::Sequence { flow, items },
                        });
                    }
                    let item_after = items.last().map_or(range.start, |i| i.end);
                    items.push(self.node(event, item_range, item_after)?);
                }
            }
            OwnedEvent::MappingEnd | OwnedEvent::SequenceEnd | OwnedEvent::Other => {
                Err(self.refuse(range.start, "the document's structure is not one lode reads"))
            }
        }
    }
}

/// The end of a literal or folded block scalar whose indicator (`|`, `>`) is at `start`: after
/// its last content line (and, with `+`, after the blank lines it keeps).
fn block_scalar_end(text: &str, start: usize) -> usize {
    let header_end = line_end(text, start);
    let header = &text[start..header_end];
    let keep = header.split('#').next().unwrap_or("").contains('+');
    // The block belongs to the key or `-` on its header line: content is indented deeper.
    let owner_indent = {
        let line = &text[line_start(text, start)..start];
        line.len() - line.trim_start_matches(' ').len()
    };
    let mut end = header_end;
    let mut offset = header_end;
    let mut content_indent: Option<usize> = None;
    while offset < text.len() {
        let next = line_end(text, offset);
        let line = text[offset..next].trim_end_matches(['\n', '\r']);
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line.trim().is_empty() {
            if keep {
                end = next;
            }
            offset = next;
            continue;
        }
        let needed = content_indent.unwrap_or(owner_indent + 1);
        if indent < needed {
            break;
        }
        content_indent.get_or_insert(indent);
        end = next;
        offset = next;
    }
    end
}

// ---------------------------------------------------------------------------------------------
// Finding nodes.

/// Where a node sits: in a mapping entry or a sequence item, and of which parent.
#[derive(Clone)]
enum Slot<'n> {
    Root,
    Entry { parent: &'n Node, index: usize },
    Item { parent: &'n Node, index: usize },
}

fn child<'n>(node: &'n Node, segment: &PathSegment) -> Option<(&'n Node, Slot<'n>)> {
    match (&node.kind, segment) {
        (NodeKind::Mapping { entries, .. }, PathSegment::Key(key)) => {
            entries.iter().position(|e| e.key == *key).map(|index| {
                (
                    &entries[index].value,
                    Slot::Entry {
                        parent: node,
                        index,
                    },
                )
            })
        }
        (NodeKind::Sequence { items, .. }, PathSegment::Index(index)) => {
            items.get(*index).map(|item| {
                (
                    item,
                    Slot::Item {
                        parent: node,
                        index: *index,
                    },
                )
            })
        }
        (NodeKind::Sequence { items, .. }, PathSegment::Named(name)) => items
            .iter()
            .position(|item| match &item.kind {
                NodeKind::Mapping { entries, .. } => entries
                    .iter()
                    .any(|e| e.key == "name" && e.value.scalar() == Some(name.as_str())),
                _ => false,
            })
            .map(|index| {
                (
                    &items[index],
                    Slot::Item {
                        parent: node,
                        index,
                    },
                )
            }),
        _ => None,
    }
}

fn find<'n>(root: &'n Node, path: &DocumentPath) -> Option<(&'n Node, Slot<'n>)> {
    let mut current = (root, Slot::Root);
    for segment in &path.0 {
        current = child(current.0, segment)?;
    }
    Some(current)
}

/// The deepest node of `path` that exists, and how many segments it took.
fn deepest<'n>(root: &'n Node, path: &DocumentPath) -> (&'n Node, usize) {
    let mut node = root;
    for (taken, segment) in path.0.iter().enumerate() {
        match child(node, segment) {
            Some((next, _)) => node = next,
            None => return (node, taken),
        }
    }
    (node, path.0.len())
}

/// Whether `node` lies inside a flow collection of `root`.
fn inside_flow(root: &Node, node: &Node) -> bool {
    fn walk(current: &Node, target: &Node, in_flow: bool) -> Option<bool> {
        if std::ptr::eq(current, target) {
            return Some(in_flow);
        }
        let in_flow = in_flow || current.is_flow();
        match &current.kind {
            NodeKind::Mapping { entries, .. } => {
                entries.iter().find_map(|e| walk(&e.value, target, in_flow))
            }
            NodeKind::Sequence { items, .. } => items.iter().find_map(|i| walk(i, target, in_flow)),
            NodeKind::Scalar { .. } => None,
        }
    }
    walk(root, node, false).unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Edits.

/// One byte splice of a file.
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

/// Applies `edits` to the document declared at `document_line` of `text` (the file `file`),
/// one after the other; returns the new file text.
pub fn apply_edits(
    file: &str,
    text: &str,
    document_line: usize,
    edits: &[DocumentEdit],
    form: &dyn WrittenForm,
) -> Result<String, ManifestEditError> {
    let mut current = text.to_string();
    let mut queue: VecDeque<Step> = edits
        .iter()
        .map(|edit| Step {
            path: edit.path.clone(),
            action: Action::Edit(edit.change.clone()),
        })
        .collect();
    while let Some(step) = queue.pop_front() {
        let document = parse_document(file, &current, document_line)?;
        let editor = Editor {
            file,
            text: &current,
            root: &document.root,
            form,
        };
        match editor.plan(&step)? {
            Planned::Steps(steps) => {
                for step in steps.into_iter().rev() {
                    queue.push_front(step);
                }
            }
            Planned::Splice(splice) => {
                current = format!(
                    "{}{}{}",
                    &current[..splice.start],
                    splice.text,
                    &current[splice.end..]
                );
            }
            Planned::Nothing => {}
        }
    }
    Ok(current)
}

/// One thing to do at a path: a caller's change, or the rewrite of a block list's items that
/// `Set` plans (kept items keep their bytes, new ones are written in their siblings' style).
struct Step {
    path: DocumentPath,
    action: Action,
}

enum Action {
    Edit(Change),
    Items(Vec<Value>),
}

/// What a step comes to on the document as it is now.
enum Planned {
    /// Smaller steps, done next (`Set` and `SetItems` are planned on the current document, one
    /// after the other, so that paths by index stay right).
    Steps(Vec<Step>),
    Splice(Splice),
    Nothing,
}

fn step(path: DocumentPath, change: Change) -> Step {
    Step {
        path,
        action: Action::Edit(change),
    }
}

fn joined(path: &DocumentPath, segment: PathSegment) -> DocumentPath {
    let mut path = path.clone();
    path.0.push(segment);
    path
}

/// What identifies a list item across a change: its `name`, when it is a mapping with one
/// (tag members, alarms, columns), else its whole value.
fn identity(value: &Value) -> Value {
    match value.get("name") {
        Some(name @ Value::String(_)) if value.is_object() => json!({"name": name}),
        _ => value.clone(),
    }
}

/// For each item of `new`, the old item it is (by name, or by value), each old item used once.
fn alignment(old: &[Value], new: &[Value]) -> Vec<Option<usize>> {
    let mut used = vec![false; old.len()];
    new.iter()
        .map(|item| {
            let wanted = identity(item);
            let found =
                (0..old.len()).find(|&i| !used[i] && equivalent(&identity(&old[i]), &wanted));
            if let Some(i) = found {
                used[i] = true;
            }
            found
        })
        .collect()
}

fn missing(file: &str, text: &str, offset: usize, path: &DocumentPath) -> ManifestEditError {
    ManifestEditError::Missing {
        file: file.to_string(),
        line: line_of(&line_starts(text), offset),
        path: path.to_string(),
    }
}

struct Editor<'a> {
    file: &'a str,
    text: &'a str,
    root: &'a Node,
    form: &'a dyn WrittenForm,
}

impl Editor<'_> {
    fn line(&self, offset: usize) -> usize {
        line_of(&line_starts(self.text), offset)
    }

    fn refuse(&self, offset: usize, what: impl Into<String>) -> ManifestEditError {
        ManifestEditError::Refused {
            file: self.file.to_string(),
            line: self.line(offset),
            what: what.into(),
        }
    }

    fn plan(&self, current: &Step) -> Result<Planned, ManifestEditError> {
        let path = &current.path;
        let found = find(self.root, path);
        let missing_here = || missing(self.file, self.text, self.root.start, path);
        let change = match &current.action {
            Action::Items(items) => {
                let (node, _) = found.ok_or_else(missing_here)?;
                return self.rewrite_items(node, items).map(Planned::Splice);
            }
            Action::Edit(change) => change,
        };
        match change {
            Change::Replace(live) => {
                let (node, slot) = found.ok_or_else(missing_here)?;
                if self.unchanged(node, live) {
                    return Ok(Planned::Nothing);
                }
                let value = self.form.written(path, live);
                self.replace(node, slot, &value).map(Planned::Splice)
            }
            Change::Insert { key, value: live } => {
                let (node, slot) = found.ok_or_else(missing_here)?;
                let item_path = joined(
                    path,
                    match key {
                        Some(key) => PathSegment::Key(key.clone()),
                        None => PathSegment::Index(usize::MAX),
                    },
                );
                let value = self.form.written(&item_path, live);
                self.insert(node, slot, key.as_deref(), &value)
                    .map(Planned::Splice)
            }
            Change::Remove => {
                let (node, slot) = found.ok_or_else(missing_here)?;
                self.remove(node, slot).map(Planned::Splice)
            }
            Change::Set(None) => Ok(match found {
                Some(_) => Planned::Steps(vec![step(path.clone(), Change::Remove)]),
                None => Planned::Nothing,
            }),
            Change::Set(Some(live)) => match found {
                Some((node, _)) => Ok(self.plan_set(path, node, live)),
                None => self.plan_create(path, live).map(Planned::Steps),
            },
            Change::SetItems(wanted) => {
                Ok(Planned::Steps(self.plan_set_items(path, found, wanted)))
            }
        }
    }

    /// `Set` of a value that exists: nothing when it already says `live`; key by key in a
    /// block mapping and item by item in a block list, so that what did not change keeps its
    /// bytes (and its comments); else a replace.
    fn plan_set(&self, path: &DocumentPath, node: &Node, live: &Value) -> Planned {
        if self.unchanged(node, live) {
            return Planned::Nothing;
        }
        match (&node.kind, live) {
            (
                NodeKind::Mapping {
                    flow: false,
                    entries,
                },
                Value::Object(wanted),
            ) if !wanted.is_empty() => {
                let mut steps = Vec::new();
                for (key, value) in wanted {
                    let change = if entries.iter().any(|e| e.key == *key) {
                        Change::Set(Some(value.clone()))
                    } else {
                        Change::Insert {
                            key: Some(key.clone()),
                            value: value.clone(),
                        }
                    };
                    match change {
                        Change::Insert { .. } => steps.push(step(path.clone(), change)),
                        _ => steps.push(step(joined(path, PathSegment::Key(key.clone())), change)),
                    }
                }
                // Removed last, so the mapping is never empty on the way.
                for entry in entries.iter().filter(|e| !wanted.contains_key(&e.key)) {
                    steps.push(step(
                        joined(path, PathSegment::Key(entry.key.clone())),
                        Change::Remove,
                    ));
                }
                Planned::Steps(steps)
            }
            (NodeKind::Sequence { flow: false, items }, Value::Array(wanted))
                if !wanted.is_empty() =>
            {
                let old: Vec<Value> = items
                    .iter()
                    .map(|item| node_value(item, self.form).unwrap_or(Value::Null))
                    .collect();
                let kept = alignment(&old, wanted);
                let in_place = old.len() == wanted.len()
                    && kept.iter().enumerate().all(|(j, k)| *k == Some(j));
                if !in_place {
                    // First the list's shape, then (planned again) each kept item's content.
                    return Planned::Steps(vec![
                        Step {
                            path: path.clone(),
                            action: Action::Items(wanted.clone()),
                        },
                        step(path.clone(), Change::Set(Some(live.clone()))),
                    ]);
                }
                Planned::Steps(
                    wanted
                        .iter()
                        .enumerate()
                        .filter(|(index, value)| !equivalent(&old[*index], value))
                        .map(|(index, value)| {
                            step(
                                joined(path, PathSegment::Index(index)),
                                Change::Set(Some(value.clone())),
                            )
                        })
                        .collect(),
                )
            }
            _ => Planned::Steps(vec![step(path.clone(), Change::Replace(live.clone()))]),
        }
    }

    /// `Set` of a value that does not exist: one key or item added under the deepest mapping
    /// or list that exists, with mappings for the keys below it.
    fn plan_create(
        &self,
        path: &DocumentPath,
        live: &Value,
    ) -> Result<Vec<Step>, ManifestEditError> {
        let (node, taken) = deepest(self.root, path);
        let rest = &path.0[taken..];
        let container = DocumentPath(path.0[..taken].to_vec());
        let mut nested = live.clone();
        for segment in rest[1..].iter().rev() {
            match segment {
                PathSegment::Key(key) => {
                    let mut map = Map::new();
                    map.insert(key.clone(), nested);
                    nested = Value::Object(map);
                }
                _ => return Err(missing(self.file, self.text, node.start, path)),
            }
        }
        let insert = |key: Option<String>| {
            vec![step(
                container.clone(),
                Change::Insert {
                    key,
                    value: nested.clone(),
                },
            )]
        };
        match (&rest[0], &node.kind) {
            (PathSegment::Key(key), _) => Ok(insert(Some(key.clone()))),
            (PathSegment::Named(_), NodeKind::Sequence { .. }) if rest.len() == 1 => {
                Ok(insert(None))
            }
            (PathSegment::Index(i), NodeKind::Sequence { items, .. })
                if rest.len() == 1 && *i == items.len() =>
            {
                Ok(insert(None))
            }
            _ => Err(missing(self.file, self.text, node.start, path)),
        }
    }

    /// `SetItems`: the items still wanted stay in their order (raw), the others go, the new
    /// ones are appended.
    fn plan_set_items(
        &self,
        path: &DocumentPath,
        found: Option<(&Node, Slot)>,
        wanted: &[Value],
    ) -> Vec<Step> {
        let Some((node, _)) = found else {
            return vec![step(
                path.clone(),
                Change::Set(Some(Value::Array(wanted.to_vec()))),
            )];
        };
        let NodeKind::Sequence { items, .. } = &node.kind else {
            return vec![step(
                path.clone(),
                Change::Replace(Value::Array(wanted.to_vec())),
            )];
        };
        let kept: Vec<Option<Value>> = items.iter().map(|i| node_value(i, self.form)).collect();
        let mut steps = Vec::new();
        // Removed from the end, so the indexes of the items before stay right.
        for (index, live) in kept.iter().enumerate().rev() {
            if !live
                .as_ref()
                .is_some_and(|v| wanted.iter().any(|w| equivalent(v, w)))
            {
                steps.push(step(
                    joined(path, PathSegment::Index(index)),
                    Change::Remove,
                ));
            }
        }
        for value in wanted {
            if !kept.iter().flatten().any(|k| equivalent(k, value)) {
                steps.push(step(
                    path.clone(),
                    Change::Insert {
                        key: None,
                        value: value.clone(),
                    },
                ));
            }
        }
        steps
    }

    /// A block list rewritten to hold `wanted`'s items: each item that is still there (by
    /// name, or by value) keeps its lines, comments before it included; new items are written
    /// at the siblings' indentation and in their style.
    fn rewrite_items(&self, node: &Node, wanted: &[Value]) -> Result<Splice, ManifestEditError> {
        let NodeKind::Sequence { flow: false, items } = &node.kind else {
            return Err(self.refuse(node.start, "only a block list's items can be rewritten"));
        };
        let first_dash = self.dash_before(items[0].start);
        let indent = column(self.text, first_dash);
        let start = line_start(self.text, first_dash);
        let mut chunks = Vec::new();
        let mut chunk_start = start;
        for item in items {
            let end = self.value_end(item);
            chunks.push(&self.text[chunk_start..end]);
            chunk_start = end;
        }
        let old: Vec<Value> = items
            .iter()
            .map(|item| node_value(item, self.form).unwrap_or(Value::Null))
            .collect();
        // New items take the style of the list's last item.
        let siblings_flow = items.last().is_some_and(Node::is_flow);
        let mut text = String::new();
        for (index, kept) in alignment(&old, wanted).into_iter().enumerate() {
            match kept {
                Some(old_index) => text.push_str(chunks[old_index]),
                None => {
                    let path = DocumentPath(vec![PathSegment::Index(index)]);
                    let value = self.form.written(&path, &wanted[index]);
                    match emit::flow_text(&value).filter(|_| siblings_flow && !value.is_string()) {
                        Some(flow) => text.push_str(&format!("{}- {flow}\n", " ".repeat(indent))),
                        None => emit::item_value(&mut text, indent, &value, Depth::Nested),
                    }
                }
            }
        }
        Ok(Splice {
            start,
            end: chunk_start,
            text,
        })
    }

    /// Whether `node` already says `live` once interpolated (so its raw text stays).
    fn unchanged(&self, node: &Node, live: &Value) -> bool {
        node_value(node, self.form).is_some_and(|read| equivalent(&read, live))
    }

    fn replace(&self, node: &Node, slot: Slot, value: &Value) -> Result<Splice, ManifestEditError> {
        let in_flow = inside_flow(self.root, node);
        if let NodeKind::Scalar { style, .. } = &node.kind {
            let multi_line_flow_scalar = matches!(
                style,
                ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
            ) && self.text[node.start..node.end].contains('\n');
            if multi_line_flow_scalar {
                return Err(self.refuse(
                    node.start,
                    "the value to change is a text spanning several lines without `|` or `>`",
                ));
            }
            if let Some(text) = self.scalar_in_style(node, *style, value, in_flow) {
                return Ok(Splice {
                    start: node.start,
                    end: node.end,
                    text,
                });
            }
        }
        // A collection (or a scalar that becomes one): re-rendered in the node's style.
        if in_flow || node.is_flow() {
            if let Some(flow) = emit::flow_text(value).or_else(|| scalar_inline(value)) {
                return Ok(Splice {
                    start: node.start,
                    end: node.end,
                    text: flow,
                });
            }
            if in_flow {
                return Err(self.refuse(
                    node.start,
                    "the new value does not fit in the `{...}` or `[...]` it is written in",
                ));
            }
        }
        match slot {
            Slot::Entry { parent, index } => {
                let NodeKind::Mapping { entries, .. } = &parent.kind else {
                    unreachable!("an entry's parent is a mapping")
                };
                let entry = &entries[index];
                let colon = self.colon_after(entry.key_end);
                let indent = column(self.text, entry.key_start);
                let mut rendered = String::new();
                // A block collection stays a block.
                let block = matches!(
                    node.kind,
                    NodeKind::Mapping { .. } | NodeKind::Sequence { .. }
                );
                emit::entry(
                    &mut rendered,
                    indent,
                    "k",
                    value,
                    if block { Depth::Block } else { Depth::Nested },
                );
                let after_key = &rendered[indent + 2..];
                Ok(Splice {
                    start: colon + 1,
                    end: self.value_end(node),
                    text: after_key.to_string(),
                })
            }
            Slot::Item { .. } => {
                let dash = self.dash_before(node.start);
                let indent = column(self.text, dash);
                let mut rendered = String::new();
                emit::item_value(&mut rendered, indent, value, Depth::Nested);
                Ok(Splice {
                    start: dash,
                    end: self.value_end(node),
                    text: rendered[indent..].to_string(),
                })
            }
            Slot::Root => Err(self.refuse(node.start, "the whole document cannot be replaced")),
        }
    }

    /// The end of a block value, through the end of its last line.
    fn value_end(&self, node: &Node) -> usize {
        if node.end > 0 && self.text[..node.end].ends_with('\n') {
            node.end
        } else {
            line_end(self.text, node.end)
        }
    }

    fn colon_after(&self, key_end: usize) -> usize {
        key_end
            + self.text[key_end..]
                .find(':')
                .expect("a mapping key is followed by `:`")
    }

    /// The `-` that introduces the sequence item starting at `start`.
    fn dash_before(&self, start: usize) -> usize {
        self.text[..start]
            .rfind('-')
            .expect("a block sequence item has a `-`")
    }

    /// A scalar's new text in its old style, when the value is a scalar.
    fn scalar_in_style(
        &self,
        node: &Node,
        style: ScalarStyle,
        value: &Value,
        in_flow: bool,
    ) -> Option<String> {
        let Value::String(text) = value else {
            return scalar_inline(value);
        };
        Some(match style {
            ScalarStyle::Plain => emit::plain_or_quoted(text, in_flow),
            ScalarStyle::SingleQuoted
                if !text.contains('\n') && !text.chars().any(char::is_control) =>
            {
                emit::single_quoted(text)
            }
            ScalarStyle::Literal | ScalarStyle::Folded => {
                if !emit::literal_can_hold(text) {
                    return Some(emit::double_quoted(text));
                }
                let indent = self.block_indent(node);
                let header_end = line_end(self.text, node.start);
                let header = self.text[node.start..header_end].trim_end_matches(['\n', '\r']);
                let comment = header.find(" #").map(|i| &header[i..]).unwrap_or("");
                if style == ScalarStyle::Folded
                    && let Some(body) = emit::fold(text, indent, self.block_width(node))
                {
                    return Some(format!(
                        ">{}{comment}\n{body}",
                        emit::literal_header_tail(text)
                    ));
                }
                format!(
                    "|{}{comment}\n{}",
                    emit::literal_header_tail(text),
                    emit::literal_body(indent, text)
                )
            }
            // Double-quoted, and single-quoted text a single-quoted scalar cannot hold.
            _ => emit::double_quoted(text),
        })
    }

    /// The content indentation of a block scalar (that of its first content line, else two
    /// more than its owner's).
    fn block_indent(&self, node: &Node) -> usize {
        let header_end = line_end(self.text, node.start);
        let body = &self.text[header_end..node.end.max(header_end)];
        body.lines()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches(' ').len())
            .unwrap_or_else(|| {
                let line = &self.text[line_start(self.text, node.start)..node.start];
                line.len() - line.trim_start_matches(' ').len() + 2
            })
    }

    /// The longest line of a folded block, which new text is wrapped at.
    fn block_width(&self, node: &Node) -> usize {
        let header_end = line_end(self.text, node.start);
        self.text[header_end..node.end.max(header_end)]
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(100)
            .max(40)
    }

    fn insert(
        &self,
        node: &Node,
        slot: Slot,
        key: Option<&str>,
        value: &Value,
    ) -> Result<Splice, ManifestEditError> {
        match (&node.kind, key) {
            (
                NodeKind::Mapping {
                    flow: true,
                    entries,
                },
                Some(key),
            ) => {
                let item = emit::flow_text(&Value::Object(Map::from_iter([(
                    key.to_string(),
                    value.clone(),
                )])))
                .ok_or_else(|| {
                    self.refuse(
                        node.start,
                        format!("`{key}` does not fit in the `{{...}}` it would go in"),
                    )
                })?;
                let item = &item[1..item.len() - 1];
                Ok(match entries.last() {
                    Some(last) => Splice {
                        start: last.value.end,
                        end: last.value.end,
                        text: format!(", {item}"),
                    },
                    None => Splice {
                        start: node.start + 1,
                        end: node.end.saturating_sub(1).max(node.start + 1),
                        text: item.to_string(),
                    },
                })
            }
            (NodeKind::Sequence { flow: true, items }, None) => {
                let item =
                    emit::flow_text(&Value::Array(vec![value.clone()])).ok_or_else(|| {
                        self.refuse(
                            node.start,
                            "the new item does not fit in the `[...]` it would go in",
                        )
                    })?;
                let item = &item[1..item.len() - 1];
                Ok(match items.last() {
                    Some(last) => Splice {
                        start: last.end,
                        end: last.end,
                        text: format!(", {item}"),
                    },
                    None => Splice {
                        start: node.start + 1,
                        end: node.end.saturating_sub(1).max(node.start + 1),
                        text: item.to_string(),
                    },
                })
            }
            (
                NodeKind::Mapping {
                    flow: false,
                    entries,
                },
                Some(key),
            ) => {
                let last = entries.last().expect("a block mapping has entries");
                let indent = column(self.text, entries[0].key_start);
                let mut rendered = String::new();
                emit::entry(&mut rendered, indent, key, value, Depth::Nested);
                Ok(self.after_line(self.value_end(&last.value), rendered))
            }
            (NodeKind::Sequence { flow: false, items }, None) => {
                let last = items.last().expect("a block sequence has items");
                let dash = self.dash_before(items[0].start);
                let indent = column(self.text, dash);
                let siblings_flow = last.is_flow();
                let mut rendered = String::new();
                match emit::flow_text(value).filter(|_| siblings_flow && value.is_object()) {
                    Some(flow) => rendered.push_str(&format!("{}- {flow}\n", " ".repeat(indent))),
                    None => emit::item_value(&mut rendered, indent, value, Depth::Nested),
                }
                Ok(self.after_line(self.value_end(last), rendered))
            }
            // `key:` with no value yet, or a scalar where a collection goes: replaced.
            (NodeKind::Scalar { .. }, _) => {
                let collection = match key {
                    Some(key) => Value::Object(Map::from_iter([(key.to_string(), value.clone())])),
                    None => Value::Array(vec![value.clone()]),
                };
                self.replace(node, slot, &collection)
            }
            _ => Err(self.refuse(
                node.start,
                "a key can only be added to a mapping, and an item to a list",
            )),
        }
    }

    /// Text inserted at `offset` (a line start), on lines of its own.
    fn after_line(&self, offset: usize, rendered: String) -> Splice {
        let text = if offset > 0 && !self.text[..offset].ends_with('\n') {
            format!("\n{rendered}")
        } else {
            rendered
        };
        Splice {
            start: offset,
            end: offset,
            text,
        }
    }

    fn remove(&self, node: &Node, slot: Slot) -> Result<Splice, ManifestEditError> {
        match slot {
            Slot::Root => Err(self.refuse(node.start, "the whole document cannot be removed")),
            Slot::Entry { parent, index } => {
                let NodeKind::Mapping { flow, entries } = &parent.kind else {
                    unreachable!("an entry's parent is a mapping")
                };
                let entry = &entries[index];
                if *flow {
                    return Ok(self.remove_flow(
                        entries.iter().map(|e| (e.key_start, e.value.end)).collect(),
                        index,
                    ));
                }
                if entries.len() == 1 {
                    return self.empty_collection(parent, "{}");
                }
                let start = line_start(self.text, entry.key_start);
                let before_key = &self.text[start..entry.key_start];
                if before_key.trim().is_empty() {
                    return Ok(Splice {
                        start,
                        end: self.value_end(&entry.value),
                        text: String::new(),
                    });
                }
                // `- first: x` of a list item: the next key moves up after the `-`.
                match entries.get(index + 1) {
                    Some(next) if index == 0 => Ok(Splice {
                        start: entry.key_start,
                        end: next.key_start,
                        text: String::new(),
                    }),
                    _ => {
                        Err(self.refuse(entry.key_start, "the entry shares its line with another"))
                    }
                }
            }
            Slot::Item { parent, index } => {
                let NodeKind::Sequence { flow, items } = &parent.kind else {
                    unreachable!("an item's parent is a sequence")
                };
                if *flow {
                    return Ok(
                        self.remove_flow(items.iter().map(|i| (i.start, i.end)).collect(), index)
                    );
                }
                if items.len() == 1 {
                    return self.empty_collection(parent, "[]");
                }
                let dash = self.dash_before(node.start);
                let start = line_start(self.text, dash);
                if !self.text[start..dash].trim().is_empty() {
                    return Err(self.refuse(dash, "the list item shares its line with another"));
                }
                Ok(Splice {
                    start,
                    end: self.value_end(node),
                    text: String::new(),
                })
            }
        }
    }

    /// Removes item `index` of a flow collection whose items span `ranges`, with one comma.
    fn remove_flow(&self, ranges: Vec<(usize, usize)>, index: usize) -> Splice {
        let (start, end) = ranges[index];
        if let Some(next) = ranges.get(index + 1) {
            Splice {
                start,
                end: next.0,
                text: String::new(),
            }
        } else if index > 0 {
            Splice {
                start: ranges[index - 1].1,
                end,
                text: String::new(),
            }
        } else {
            Splice {
                start,
                end,
                text: String::new(),
            }
        }
    }

    /// A block collection whose last entry goes: it becomes `{}` or `[]` after its key.
    fn empty_collection(
        &self,
        collection: &Node,
        empty: &str,
    ) -> Result<Splice, ManifestEditError> {
        let (_, slot) = locate_node(self.root, collection)
            .ok_or_else(|| self.refuse(collection.start, "the collection cannot be emptied"))?;
        let value = if empty == "{}" {
            Value::Object(Map::new())
        } else {
            Value::Array(Vec::new())
        };
        self.replace(collection, slot, &value)
    }
}

/// The slot of `target` in the tree under `root`.
fn locate_node<'n>(root: &'n Node, target: &Node) -> Option<(&'n Node, Slot<'n>)> {
    if std::ptr::eq(root, target) {
        return Some((root, Slot::Root));
    }
    fn walk<'n>(node: &'n Node, target: &Node) -> Option<(&'n Node, Slot<'n>)> {
        match &node.kind {
            NodeKind::Mapping { entries, .. } => entries.iter().enumerate().find_map(|(i, e)| {
                if std::ptr::eq(&e.value, target) {
                    Some((
                        &e.value,
                        Slot::Entry {
                            parent: node,
                            index: i,
                        },
                    ))
                } else {
                    walk(&e.value, target)
                }
            }),
            NodeKind::Sequence { items, .. } => items.iter().enumerate().find_map(|(i, item)| {
                if std::ptr::eq(item, target) {
                    Some((
                        item,
                        Slot::Item {
                            parent: node,
                            index: i,
                        },
                    ))
                } else {
                    walk(item, target)
                }
            }),
            NodeKind::Scalar { .. } => None,
        }
    }
    walk(root, target)
}

/// Whether two values are equal, numbers by value (`1.0` and `1` are one number).
fn equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equivalent(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equivalent(v, w)))
        }
        _ => a == b,
    }
}

/// A scalar value on one line: numbers, booleans and null as YAML writes them.
fn scalar_inline(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) if map.is_empty() => Some("{}".into()),
        Value::Array(items) if items.is_empty() => Some("[]".into()),
        Value::Object(_) | Value::Array(_) => None,
        Value::String(text) if text.contains('\n') => None,
        other => Some(emit::inline_scalar(other)),
    }
}

/// What a node says once read and interpolated, as JSON (YAML's plain `1`, `true`, `null`
/// typed as the loader types them), or `None` when it cannot be told.
fn node_value(node: &Node, form: &dyn WrittenForm) -> Option<Value> {
    Some(match &node.kind {
        NodeKind::Scalar { style, value } => {
            if *style == ScalarStyle::Plain {
                match value.as_str() {
                    "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
                    "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
                    "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
                    _ => {}
                }
                if let Ok(number) = value.parse::<i64>() {
                    return Some(Value::from(number));
                }
                if let Ok(number) = value.parse::<f64>()
                    && number.is_finite()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
                {
                    return Some(Value::from(number));
                }
            }
            Value::String(form.interpolated(value)?)
        }
        NodeKind::Mapping { entries, .. } => {
            let mut map = Map::new();
            for entry in entries {
                map.insert(entry.key.clone(), node_value(&entry.value, form)?);
            }
            Value::Object(map)
        }
        NodeKind::Sequence { items, .. } => Value::Array(
            items
                .iter()
                .map(|i| node_value(i, form))
                .collect::<Option<Vec<_>>>()?,
        ),
    })
}

/// The line of `file` (text `text`) where the value at `path` of the document declared at
/// `document_line` starts, or of the deepest part of the path that exists: where a conflict
/// is shown.
pub fn field_line(file: &str, text: &str, document_line: usize, path: &DocumentPath) -> usize {
    match parse_document(file, text, document_line) {
        Ok(document) => {
            let (node, _) = deepest(&document.root, path);
            line_of(&line_starts(text), node.start)
        }
        Err(_) => document_line,
    }
}

// ---------------------------------------------------------------------------------------------
// Where a spec path is written.

/// Where a spec field of a resource is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In the resource's document: `path` from the document's root. `unordered`: the sequence
    /// there is a set (apply `Change::SetItems`).
    Field {
        file: String,
        document_line: usize,
        path: DocumentPath,
        unordered: bool,
    },
    /// A text payload (a script body, a workspace file's content): rewrite it with
    /// `rewrite_text_payload`.
    TextPayload { file: String },
    /// A JSON payload (a view): rewrite it with `rewrite_json_payload`.
    JsonPayload { file: String },
    /// Never pulled, and why.
    NotPulled(String),
}

/// Where the spec field `spec_path` of the resource of `kind` declared at `origin` is written.
pub fn locate(
    files: &ManifestFiles,
    kind: Kind,
    origin: &Origin,
    spec_path: &[PathSegment],
) -> Result<Location, ManifestEditError> {
    let field = match spec_path.first() {
        Some(PathSegment::Key(field)) => field.as_str(),
        _ => {
            return Ok(Location::NotPulled("not a spec field".into()));
        }
    };
    let payload_field = match (kind, field) {
        (Kind::GatewayScript | Kind::SessionEvent, "script") => Some(("script", false)),
        (Kind::PerspectiveView, "view") => Some(("view", true)),
        (Kind::WorkspaceFile, "content") => Some(("source", false)),
        _ => None,
    };
    if kind == Kind::Table && field == "rows" {
        return Ok(Location::NotPulled(
            "table rows are data, not configuration: lode pull leaves seed files alone".into(),
        ));
    }
    let Some((manifest_field, json)) = payload_field else {
        let unordered = kind == Kind::GenieSpace && field == "tables" && spec_path.len() == 1;
        return Ok(Location::Field {
            file: origin.file.clone(),
            document_line: origin.line,
            path: DocumentPath::in_spec(spec_path),
            unordered,
        });
    };
    let text = files
        .text(&origin.file)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| ManifestEditError::NoDocument {
            file: origin.file.clone(),
            line: origin.line,
        })?;
    let document = parse_document(&origin.file, text, origin.line)?;
    let path = DocumentPath::in_spec(&[PathSegment::Key(manifest_field.to_string())]);
    let raw = find(&document.root, &path)
        .and_then(|(node, _)| node.scalar().map(str::to_string))
        .ok_or_else(|| ManifestEditError::Missing {
            file: origin.file.clone(),
            line: origin.line,
            path: path.to_string(),
        })?;
    let file = payload_path(&origin.file, &raw).ok_or_else(|| ManifestEditError::Refused {
        file: origin.file.clone(),
        line: origin.line,
        what: format!("`{manifest_field}: {raw}` points outside the manifest root"),
    })?;
    Ok(if json {
        Location::JsonPayload { file }
    } else {
        Location::TextPayload { file }
    })
}

// ---------------------------------------------------------------------------------------------
// Payloads.

/// A text payload of a resource of `kind` rewritten to say `live`: a line diff against the
/// interpolated original, in which every unchanged line keeps its raw text (`${var...}` and
/// all) and every new line is written in its written form. A script's trailing blank lines,
/// which the loader drops, stay as they were.
pub fn rewrite_text_payload(
    kind: Kind,
    original: &str,
    live: &str,
    form: &dyn WrittenForm,
) -> String {
    let mut raw_lines: Vec<&str> = original.split_inclusive('\n').collect();
    let mut kept_tail: Vec<&str> = Vec::new();
    if matches!(kind, Kind::GatewayScript | Kind::SessionEvent) {
        while raw_lines.last().is_some_and(|line| line.trim().is_empty()) {
            kept_tail.push(raw_lines.pop().expect("a last line"));
        }
        kept_tail.reverse();
    }
    let read_lines: Vec<String> = raw_lines
        .iter()
        .map(|line| {
            form.interpolated(line)
                .map(|read| read.replace("\r\n", "\n"))
                // A line that cannot be read matches no live line.
                .unwrap_or_else(|| format!("\u{0}{line}"))
        })
        .collect();
    let read_text: String = read_lines.concat();
    let diff = similar::TextDiff::from_lines(&read_text, live);
    let mut out = String::new();
    let path = DocumentPath::default();
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Equal => {
                let index = change.old_index().expect("an equal line has an old index");
                out.push_str(raw_lines[index]);
            }
            similar::ChangeTag::Insert => {
                let line = change.value();
                match form.written(&path, &Value::String(line.to_string())) {
                    Value::String(written) => out.push_str(&written),
                    _ => out.push_str(line),
                }
            }
            similar::ChangeTag::Delete => {}
        }
    }
    for line in kept_tail {
        out.push_str(line);
    }
    out
}

/// A JSON payload (a view) rewritten to say `live`: objects keep the original's key order with
/// new keys after it in live order, and strings whose raw form reads as the live value keep
/// their raw form; pretty-printed as Designer files are (two spaces).
pub fn rewrite_json_payload(
    file: &str,
    original: &str,
    live: &Value,
    form: &dyn WrittenForm,
) -> Result<String, ManifestEditError> {
    let raw: Value =
        serde_json::from_str(original).map_err(|error| ManifestEditError::Payload {
            file: file.to_string(),
            message: format!("not valid JSON ({error}); lode pull rewrites JSON payloads"),
        })?;
    let merged = json_in_original_order(&raw, live, form, &DocumentPath::default());
    let mut text = serde_json::to_string_pretty(&merged).expect("JSON values serialise");
    if original.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

fn json_in_original_order(
    raw: &Value,
    live: &Value,
    form: &dyn WrittenForm,
    path: &DocumentPath,
) -> Value {
    match (raw, live) {
        (Value::Object(raw_map), Value::Object(live_map)) => {
            let mut out = Map::new();
            for (key, raw_value) in raw_map {
                if let Some(live_value) = live_map.get(key) {
                    let mut inner = path.clone();
                    inner.0.push(PathSegment::Key(key.clone()));
                    out.insert(
                        key.clone(),
                        json_in_original_order(raw_value, live_value, form, &inner),
                    );
                }
            }
            for (key, live_value) in live_map {
                if !out.contains_key(key) {
                    let mut inner = path.clone();
                    inner.0.push(PathSegment::Key(key.clone()));
                    out.insert(key.clone(), form.written(&inner, live_value));
                }
            }
            Value::Object(out)
        }
        (Value::Array(raw_items), Value::Array(live_items)) => Value::Array(
            live_items
                .iter()
                .enumerate()
                .map(|(index, live_item)| {
                    let mut inner = path.clone();
                    inner.0.push(PathSegment::Index(index));
                    match raw_items.get(index) {
                        Some(raw_item) => json_in_original_order(raw_item, live_item, form, &inner),
                        None => form.written(&inner, live_item),
                    }
                })
                .collect(),
        ),
        (Value::String(raw_text), Value::String(live_text))
            if form.interpolated(raw_text).as_deref() == Some(live_text.as_str()) =>
        {
            raw.clone()
        }
        (Value::Number(raw_number), Value::Number(live_number))
            if raw_number.as_f64() == live_number.as_f64() =>
        {
            // `1.0` in the file and `1` live are the same number: the file keeps its spelling.
            raw.clone()
        }
        (_, live) if raw == live && !live.is_string() => raw.clone(),
        (_, live) => form.written(path, live),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = "ignition/udts.yaml";

    const TEXT: &str = "# UDTs with comments and odd styles.
kind: udt
name: HaulTruck
spec:
  provider: ${var.tag_provider}   # the site's provider
  parameters:
    AssetId: {dataType: String, value: HT_000}
  tags:
    - name: Speed_KPH
      tagType: AtomicTag
      engHigh: 70
      documentation: 'Ground speed'
      alarms:
        - {name: Overspeed, mode: AboveValue, setpointA: 55, priority: Medium}
    - {name: Status, tagType: AtomicTag, dataType: String, value: RUNNING}
  notes: |
    first line
    second line

    third line
  description: >-
    A long folded description that goes on and on across
    two lines of the file.
  quoted: \"x: y\"
# between documents (°C, µm)
---
kind: tag
name: Other
spec: {tagType: Folder}  # flow
";

    /// Reads `${var.tag_provider}` as `default`; writes values as they are.
    struct Provider;

    impl WrittenForm for Provider {
        fn written(&self, _: &DocumentPath, live: &Value) -> Value {
            live.clone()
        }
        fn interpolated(&self, raw: &str) -> Option<String> {
            Some(raw.replace("${var.tag_provider}", "default"))
        }
    }

    fn path(text: &str) -> DocumentPath {
        let mut segments = Vec::new();
        for part in text.split('.') {
            match part.split_once('[') {
                Some((key, rest)) => {
                    segments.push(PathSegment::Key(key.to_string()));
                    let inner = rest.trim_end_matches(']');
                    segments.push(match inner.parse::<usize>() {
                        Ok(index) => PathSegment::Index(index),
                        Err(_) => PathSegment::Named(inner.to_string()),
                    });
                }
                None => segments.push(PathSegment::Key(part.to_string())),
            }
        }
        DocumentPath(segments)
    }

    fn edit(text: &str, at: &str, change: Change) -> String {
        apply_edits(
            FILE,
            text,
            3,
            &[DocumentEdit {
                path: path(at),
                change,
            }],
            &Provider,
        )
        .unwrap_or_else(|e| panic!("{at}: {e}"))
    }

    fn replaced(from: &str, to: &str) -> String {
        assert!(TEXT.contains(from), "{from}");
        TEXT.replacen(from, to, 1)
    }

    fn read(text: &str) -> Value {
        let documents = split_documents(text);
        serde_saphyr::from_str::<Value>(&documents[0].text).unwrap()
    }

    #[test]
    fn issue_17_replacing_a_value_changes_only_its_bytes_in_its_style() {
        // Plain, single-quoted and double-quoted scalars, a flow mapping's value.
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Speed_KPH].engHigh",
                Change::Replace(json!(80))
            ),
            replaced("engHigh: 70", "engHigh: 80")
        );
        // `70` in the file and `70.0` live are one number: nothing changes.
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Speed_KPH].engHigh",
                Change::Replace(json!(70.0))
            ),
            TEXT
        );
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Speed_KPH].documentation",
                Change::Replace(json!("Ground speed (GPS) isn't exact"))
            ),
            replaced("'Ground speed'", "'Ground speed (GPS) isn''t exact'")
        );
        assert_eq!(
            edit(TEXT, "spec.quoted", Change::Replace(json!("a: \"b\""))),
            replaced("\"x: y\"", "\"a: \\\"b\\\"\"")
        );
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Speed_KPH].alarms[Overspeed].setpointA",
                Change::Replace(json!(60))
            ),
            replaced("setpointA: 55", "setpointA: 60")
        );
        assert_eq!(
            edit(
                TEXT,
                "spec.parameters.AssetId.value",
                Change::Replace(json!("HT 100, spare"))
            ),
            replaced("value: HT_000}", "value: \"HT 100, spare\"}")
        );
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Status].value",
                Change::Replace(json!("IDLE"))
            ),
            replaced("value: RUNNING}", "value: IDLE}")
        );
        // A literal block keeps its indicator and indentation: one line changes.
        assert_eq!(
            edit(
                TEXT,
                "spec.notes",
                Change::Replace(json!("first line\nsecond line, changed\n\nthird line\n"))
            ),
            replaced("    second line\n", "    second line, changed\n")
        );
        // A folded block is folded again.
        let folded = edit(
            TEXT,
            "spec.description",
            Change::Replace(json!(
                "A long folded description that goes on and on across two lines of the file, now longer."
            )),
        );
        assert_eq!(
            folded,
            replaced(
                "    two lines of the file.\n",
                "    two lines of the file, now longer.\n"
            )
        );
        // A flow collection stays flow; a block one is written as a block at its place.
        assert_eq!(
            edit(
                TEXT,
                "spec.parameters.AssetId",
                Change::Replace(json!({"dataType": "String", "value": "HT_001"}))
            ),
            replaced("value: HT_000}", "value: HT_001}")
        );
        let alarms = edit(
            TEXT,
            "spec.tags[Speed_KPH].alarms",
            Change::Replace(
                json!([{"name": "Overspeed", "mode": "AboveValue", "setpointA": 60}, {"name": "Stopped", "mode": "Equality", "setpointA": 0}]),
            ),
        );
        assert_eq!(
            alarms,
            replaced(
                "        - {name: Overspeed, mode: AboveValue, setpointA: 55, priority: Medium}\n",
                "        - {name: Overspeed, mode: AboveValue, setpointA: 60}\n        - {name: Stopped, mode: Equality, setpointA: 0}\n"
            )
        );
        // Already what live says once interpolated: nothing changes.
        assert_eq!(
            edit(TEXT, "spec.provider", Change::Set(Some(json!("default")))),
            TEXT
        );
        let value = read(&edit(
            TEXT,
            "spec.provider",
            Change::Set(Some(json!("edge"))),
        ));
        assert_eq!(value["spec"]["provider"], json!("edge"));
    }

    #[test]
    fn issue_17_inserting_and_removing_keep_the_rest_of_the_file() {
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Speed_KPH]",
                Change::Insert {
                    key: Some("engUnit".into()),
                    value: json!("km/h")
                }
            ),
            replaced(
                "priority: Medium}\n",
                "priority: Medium}\n      engUnit: km/h\n"
            )
        );
        assert_eq!(
            edit(
                TEXT,
                "spec.tags",
                Change::Insert {
                    key: None,
                    value: json!({"name": "Load", "tagType": "AtomicTag", "documentation": "Payload: tonnes"})
                }
            ),
            replaced(
                "value: RUNNING}\n",
                "value: RUNNING}\n    - {name: Load, tagType: AtomicTag, documentation: \"Payload: tonnes\"}\n"
            )
        );
        assert_eq!(
            edit(
                TEXT,
                "spec.parameters.AssetId",
                Change::Insert {
                    key: Some("description".into()),
                    value: json!("the asset")
                }
            ),
            replaced("value: HT_000}", "value: HT_000, description: the asset}")
        );
        assert_eq!(
            edit(TEXT, "spec.tags[Status]", Change::Remove),
            replaced(
                "    - {name: Status, tagType: AtomicTag, dataType: String, value: RUNNING}\n",
                ""
            )
        );
        assert_eq!(
            edit(TEXT, "spec.tags[Speed_KPH].documentation", Change::Remove),
            replaced("      documentation: 'Ground speed'\n", "")
        );
        assert_eq!(
            edit(TEXT, "spec.notes", Change::Remove),
            replaced(
                "  notes: |\n    first line\n    second line\n\n    third line\n",
                ""
            )
        );
        assert_eq!(
            edit(TEXT, "spec.parameters.AssetId.value", Change::Remove),
            replaced("{dataType: String, value: HT_000}", "{dataType: String}")
        );
        // The only entry of a block mapping: the mapping becomes `{}`.
        assert_eq!(
            edit(TEXT, "spec.parameters.AssetId", Change::Remove),
            replaced(
                "  parameters:\n    AssetId: {dataType: String, value: HT_000}\n",
                "  parameters: {}\n"
            )
        );
        // The first key of a `- key: value` item: the next key moves up after the `-`.
        assert_eq!(
            edit(TEXT, "spec.tags[Speed_KPH].name", Change::Remove),
            replaced("    - name: Speed_KPH\n      tagType", "    - tagType")
        );
        // Set creates what is missing, under the deepest mapping that exists.
        assert_eq!(
            edit(
                TEXT,
                "spec.tags[Speed_KPH].history.enabled",
                Change::Set(Some(json!(true)))
            ),
            replaced(
                "priority: Medium}\n",
                "priority: Medium}\n      history: {enabled: true}\n"
            )
        );
        assert_eq!(edit(TEXT, "spec.missing", Change::Set(None)), TEXT);
        // The second document of the file, and a key with no value yet.
        let second = apply_edits(
            FILE,
            TEXT,
            27,
            &[DocumentEdit {
                path: path("spec.documentation"),
                change: Change::Set(Some(json!("a folder"))),
            }],
            &Provider,
        )
        .unwrap();
        assert_eq!(
            second,
            replaced(
                "spec: {tagType: Folder}  # flow",
                "spec: {tagType: Folder, documentation: a folder}  # flow"
            )
        );
        let empty = "kind: udt\nname: A\nspec:\n  parameters:\n  tags:\n";
        let filled = apply_edits(
            FILE,
            empty,
            1,
            &[
                DocumentEdit {
                    path: path("spec.parameters.AssetId"),
                    change: Change::Set(Some(json!({"dataType": "String"}))),
                },
                DocumentEdit {
                    path: path("spec.tags"),
                    change: Change::Replace(json!([{"name": "Speed"}])),
                },
            ],
            &Verbatim,
        )
        .unwrap();
        assert_eq!(
            filled,
            "kind: udt\nname: A\nspec:\n  parameters:\n    AssetId: {dataType: String}\n  tags:\n    - {name: Speed}\n"
        );
        // Every edit leaves the other document alone.
        let edited = edit(TEXT, "spec.tags[Status]", Change::Remove);
        assert!(edited.ends_with(
            "# between documents (°C, µm)\n---\nkind: tag\nname: Other\nspec: {tagType: Folder}  # flow\n"
        ));
    }

    /// `Set` of a whole list or mapping changes only what differs: kept items keep their
    /// lines and comments, a changed field its line, new items come in their siblings' style.
    #[test]
    fn issue_17_setting_a_whole_value_touches_only_what_changed() {
        let tags = json!([
            {"name": "Status", "tagType": "AtomicTag", "dataType": "String", "value": "RUNNING"},
            {"name": "Speed_KPH", "tagType": "AtomicTag", "engHigh": 75, "documentation": "Ground speed",
             "alarms": [{"name": "Overspeed", "mode": "AboveValue", "setpointA": 55, "priority": "Medium"}]},
            {"name": "Load", "tagType": "AtomicTag"},
        ]);
        let edited = edit(TEXT, "spec.tags", Change::Set(Some(tags)));
        assert_eq!(
            edited,
            TEXT.replacen(
                "    - name: Speed_KPH\n      tagType: AtomicTag\n      engHigh: 70\n      documentation: 'Ground speed'\n      alarms:\n        - {name: Overspeed, mode: AboveValue, setpointA: 55, priority: Medium}\n    - {name: Status, tagType: AtomicTag, dataType: String, value: RUNNING}\n",
                "    - {name: Status, tagType: AtomicTag, dataType: String, value: RUNNING}\n    - name: Speed_KPH\n      tagType: AtomicTag\n      engHigh: 75\n      documentation: 'Ground speed'\n      alarms:\n        - {name: Overspeed, mode: AboveValue, setpointA: 55, priority: Medium}\n    - {name: Load, tagType: AtomicTag}\n",
                1
            )
        );
        // A mapping set whole: one key changes, one goes, one comes.
        let parameters = json!({"AssetId": {"dataType": "String", "value": "HT_000"}, "Site": {"dataType": "String"}});
        assert_eq!(
            edit(TEXT, "spec.parameters", Change::Set(Some(parameters))),
            replaced(
                "    AssetId: {dataType: String, value: HT_000}\n",
                "    AssetId: {dataType: String, value: HT_000}\n    Site: {dataType: String}\n"
            )
        );
        let spec = read(TEXT)["spec"].clone();
        let mut fewer = spec.clone();
        fewer.as_object_mut().unwrap().shift_remove("notes");
        fewer["provider"] = json!("default");
        assert_eq!(
            edit(TEXT, "spec", Change::Set(Some(fewer))),
            replaced(
                "  notes: |\n    first line\n    second line\n\n    third line\n",
                ""
            )
        );
    }

    #[test]
    fn issue_17_a_set_of_items_keeps_its_order_and_raw_items() {
        let text = "kind: genie_space\nname: ops\nspec:\n  tables:\n    - ${var.catalog}.s.b\n    - main.s.a   # first\n    - main.s.gone\n";
        struct Catalog;
        impl WrittenForm for Catalog {
            fn written(&self, _: &DocumentPath, live: &Value) -> Value {
                live.clone()
            }
            fn interpolated(&self, raw: &str) -> Option<String> {
                Some(raw.replace("${var.catalog}", "main"))
            }
        }
        let out = apply_edits(
            "databricks/genie.yaml",
            text,
            1,
            &[DocumentEdit {
                path: path("spec.tables"),
                change: Change::SetItems(vec![
                    json!("main.s.a"),
                    json!("main.s.b"),
                    json!("main.s.c"),
                ]),
            }],
            &Catalog,
        )
        .unwrap();
        assert_eq!(
            out,
            "kind: genie_space\nname: ops\nspec:\n  tables:\n    - ${var.catalog}.s.b\n    - main.s.a   # first\n    - main.s.c\n"
        );
    }

    #[test]
    fn issue_17_anchors_aliases_merge_keys_duplicates_tags_and_multi_line_plain_values_are_refused()
    {
        let cases = [
            (
                "kind: udt\nname: A\nspec:\n  parameters: &p {x: 1}\n  tags: []\n",
                "spec.tags",
                4,
                "anchor",
            ),
            (
                "kind: udt\nname: A\nbase: &b {x: 1}\nspec:\n  parameters: *b\n",
                "spec.parameters",
                3,
                "anchor",
            ),
            (
                "kind: udt\nname: A\nspec:\n  <<: {x: 1}\n  tags: []\n",
                "spec.tags",
                4,
                "merge key",
            ),
            (
                "kind: udt\nname: A\nspec:\n  doc: a long plain text\n    that goes on\n",
                "spec.doc",
                4,
                "spanning several lines",
            ),
            (
                "kind: udt\nname: A\nspec:\n  doc: a\n  tags: []\n  doc: b\n",
                "spec.tags",
                6,
                "appears twice",
            ),
            (
                "kind: udt\nname: A\nspec:\n  doc: !!str 1\n",
                "spec.doc",
                4,
                "YAML tag",
            ),
        ];
        for (text, at, line, what) in cases {
            let error = apply_edits(
                FILE,
                text,
                1,
                &[DocumentEdit {
                    path: path(at),
                    change: Change::Replace(json!("z")),
                }],
                &Verbatim,
            )
            .unwrap_err();
            let ManifestEditError::Refused {
                file,
                line: at_line,
                what: message,
            } = &error
            else {
                panic!("{error:?}");
            };
            assert_eq!((file.as_str(), *at_line), (FILE, line), "{error}");
            assert!(message.contains(what), "{error}");
            assert!(error.hint().contains("by hand"));
        }
    }

    #[test]
    fn issue_17_payloads_keep_raw_lines_and_key_order() {
        struct Vars;
        impl WrittenForm for Vars {
            fn written(&self, _: &DocumentPath, live: &Value) -> Value {
                match live {
                    Value::String(text) => {
                        Value::String(text.replace("https://host", "${var.url}"))
                    }
                    other => other.clone(),
                }
            }
            fn interpolated(&self, raw: &str) -> Option<String> {
                Some(raw.replace("${var.url}", "https://host"))
            }
        }
        let script = "url = \"${var.url}\"\nspeed = 1\nkeep = True\n";
        let live = "url = \"https://host\"\nspeed = 2\nkeep = True\nlink = \"https://host/x\"\n";
        assert_eq!(
            rewrite_text_payload(Kind::WorkspaceFile, script, live, &Vars),
            "url = \"${var.url}\"\nspeed = 2\nkeep = True\nlink = \"${var.url}/x\"\n"
        );
        // A script's trailing blank lines (which the loader drops) stay; a file's go.
        let padded = format!("{script}\n  \n");
        assert_eq!(
            rewrite_text_payload(Kind::GatewayScript, &padded, live, &Vars),
            "url = \"${var.url}\"\nspeed = 2\nkeep = True\nlink = \"${var.url}/x\"\n\n  \n"
        );
        assert_eq!(
            rewrite_text_payload(Kind::WorkspaceFile, &padded, live, &Vars),
            "url = \"${var.url}\"\nspeed = 2\nkeep = True\nlink = \"${var.url}/x\"\n"
        );
        let view = "{\n  \"root\": {\n    \"type\": \"ia.container.flex\",\n    \"url\": \"${var.url}\",\n    \"grow\": 1.0\n  },\n  \"custom\": {}\n}\n";
        let live = json!({"custom": {"n": 1}, "root": {"url": "https://host", "type": "ia.container.coord", "grow": 1, "meta": {"name": "root"}}, "params": {}});
        assert_eq!(
            rewrite_json_payload("ignition/views/a.view.json", view, &live, &Vars).unwrap(),
            "{\n  \"root\": {\n    \"type\": \"ia.container.coord\",\n    \"url\": \"${var.url}\",\n    \"grow\": 1.0,\n    \"meta\": {\n      \"name\": \"root\"\n    }\n  },\n  \"custom\": {\n    \"n\": 1\n  },\n  \"params\": {}\n}\n"
        );
    }

    #[test]
    fn issue_17_locate_maps_spec_fields_to_documents_and_payloads() {
        let files = ManifestFiles::from_memory(
            std::path::PathBuf::from("/nonexistent-lode-root"),
            std::collections::BTreeMap::from([(
                "ignition/scripts.yaml".to_string(),
                b"# c\nkind: gateway_script\nname: a\nspec:\n  project: p\n  type: startup\n  script: scripts/../scripts/a.py\n".to_vec(),
            )]),
        );
        let origin = Origin {
            file: "ignition/scripts.yaml".into(),
            line: 3,
        };
        assert_eq!(
            locate(
                &files,
                Kind::GatewayScript,
                &origin,
                &[PathSegment::Key("script".into())]
            )
            .unwrap(),
            Location::TextPayload {
                file: "ignition/scripts/a.py".into()
            }
        );
        assert_eq!(
            locate(
                &files,
                Kind::GatewayScript,
                &origin,
                &[PathSegment::Key("enabled".into())]
            )
            .unwrap(),
            Location::Field {
                file: "ignition/scripts.yaml".into(),
                document_line: 3,
                path: path("spec.enabled"),
                unordered: false,
            }
        );
        assert!(matches!(
            locate(
                &files,
                Kind::Table,
                &origin,
                &[PathSegment::Key("rows".into())]
            )
            .unwrap(),
            Location::NotPulled(_)
        ));
        let genie = locate(
            &files,
            Kind::GenieSpace,
            &origin,
            &[PathSegment::Key("tables".into())],
        )
        .unwrap();
        assert!(matches!(
            genie,
            Location::Field {
                unordered: true,
                ..
            }
        ));
    }
}
