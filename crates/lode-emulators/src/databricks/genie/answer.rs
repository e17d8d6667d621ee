//! How the emulated Genie turns a question into SQL and a result into words. A question takes
//! the SQL of the space's example question it matches best (with the asked-about equipment put
//! in place of the example's), or, when none is close enough, a simple query written over the
//! space's tables for the equipment or table it names. The summary is made only from the rows
//! the query returned, so an answer never holds a value the tables do not.

use serde_json::Value;

use crate::databricks::sql::TableMeta;

/// The share of words a question must have in common with an example question (Jaccard index
/// of their normalised words) for the example's SQL to answer it. Half: "What is the current
/// crusher status?" takes "Show me current crusher status", "How is crusher 2 doing?" does not.
pub const EXAMPLE_MATCH_THRESHOLD: f64 = 0.5;

/// At most this many rows come back from a query Genie writes itself.
pub const WRITTEN_QUERY_LIMIT: usize = 100;

/// Words every space understands as naming equipment, and the id prefix they stand for (the
/// space's instructions can add more: `XY_ = word`).
const COMMON_ENTITIES: [(&str, &str); 6] = [
    ("crusher", "CR_"),
    ("truck", "HT_"),
    ("haul", "HT_"),
    ("conveyor", "CV_"),
    ("belt", "CV_"),
    ("pump", "PU_"),
];

/// Words that carry no meaning for matching a question to an example.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "me", "show", "what", "which", "who", "of",
    "in", "for", "to", "my", "our", "do", "does", "did", "how", "please", "give", "list", "tell",
    "about", "and", "or", "with", "on", "at", "by", "so", "any", "there", "it", "this", "that",
    "i", "we", "can", "you",
];

/// An example question of the space with its SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub question: String,
    pub sql: String,
}

/// What a space gives Genie to answer from, read from its `serialized_space`.
#[derive(Debug, Clone, Default)]
pub struct SpaceKnowledge {
    pub tables: Vec<String>,
    pub examples: Vec<Example>,
    pub sample_questions: Vec<String>,
    /// Equipment words and their id prefixes: the common ones and the instructions' own.
    pub entities: Vec<(String, String)>,
}

/// Text values in a serialized space are arrays of lines (or, written by hand, one string).
fn joined(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Array(parts) => Some(parts.iter().filter_map(Value::as_str).collect()),
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

impl SpaceKnowledge {
    pub fn of(space: &Value) -> SpaceKnowledge {
        let list = |pointer: &str| -> Vec<Value> {
            space
                .pointer(pointer)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let tables = list("/data_sources/tables")
            .iter()
            .filter_map(|t| t.get("identifier").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let examples = list("/instructions/example_question_sqls")
            .iter()
            .filter_map(|e| {
                Some(Example {
                    question: joined(e.get("question"))?,
                    sql: joined(e.get("sql"))?,
                })
            })
            .filter(|e| !e.sql.trim().is_empty())
            .collect();
        let sample_questions = list("/config/sample_questions")
            .iter()
            .filter_map(|q| joined(q.get("question")))
            .collect();
        let instructions: String = list("/instructions/text_instructions")
            .iter()
            .filter_map(|t| joined(t.get("content")))
            .collect::<Vec<_>>()
            .join("\n");
        let mut entities: Vec<(String, String)> = COMMON_ENTITIES
            .iter()
            .map(|(word, prefix)| (word.to_string(), prefix.to_string()))
            .collect();
        entities.extend(instruction_entities(&instructions));
        SpaceKnowledge {
            tables,
            examples,
            sample_questions,
            entities,
        }
    }

    /// The example question closest to `question`, when it is close enough.
    pub fn best_example(&self, question: &Question) -> Option<(&Example, f64)> {
        self.examples
            .iter()
            .map(|example| {
                let asked = Question::read(&example.question, &self.entities);
                (example, question.likeness(&asked))
            })
            .filter(|(_, score)| *score >= EXAMPLE_MATCH_THRESHOLD)
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// `CR_ = crusher, HT_ = haul truck` in the instructions: every word after the `=` names the
/// prefix.
fn instruction_entities(instructions: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for clause in instructions.split([',', ';', '\n', '.', '(', ')']) {
        let Some((prefix, words)) = clause.split_once('=') else {
            continue;
        };
        let prefix = prefix.split_whitespace().last().unwrap_or_default();
        let is_prefix = prefix.len() >= 2
            && prefix.ends_with('_')
            && prefix[..prefix.len() - 1]
                .chars()
                .all(|c| c.is_ascii_uppercase());
        if !is_prefix {
            continue;
        }
        for word in words.split_whitespace() {
            let word = word
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            if word.len() > 2 && !STOPWORDS.contains(&word.as_str()) {
                found.push((word, prefix.to_string()));
            }
        }
    }
    found
}

/// A question read for matching: its meaningful words, and the equipment it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Question {
    /// Lower case, singular, without stopwords; an equipment mention is its id (`cr_002`).
    pub words: Vec<String>,
    /// Equipment ids named ("crusher 2", "CR_002"), upper case.
    pub ids: Vec<String>,
    /// Id prefixes of equipment named without a number ("crushers" → `CR_`).
    pub prefixes: Vec<String>,
}

/// "crushers" and "crusher" are one word for matching; "status" stays "status".
fn singular(word: &str) -> String {
    match word.strip_suffix('s') {
        Some(stem) if word.len() > 3 && !word.ends_with("ss") && !word.ends_with("us") => {
            stem.to_string()
        }
        _ => word.to_string(),
    }
}

/// `cr_002`, `HT_7`: letters, an underscore, digits.
fn looks_like_id(word: &str) -> bool {
    match word.split_once('_') {
        Some((letters, digits)) => {
            !letters.is_empty()
                && letters.chars().all(|c| c.is_ascii_alphabetic())
                && !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

impl Question {
    pub fn read(text: &str, entities: &[(String, String)]) -> Question {
        let tokens: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut question = Question::default();
        let mut index = 0;
        while index < tokens.len() {
            let token = &tokens[index];
            if looks_like_id(token) {
                question.ids.push(token.to_uppercase());
                question.words.push(token.clone());
                index += 1;
                continue;
            }
            let word = singular(token);
            let prefix = entities
                .iter()
                .find(|(entity, _)| *entity == word)
                .map(|(_, prefix)| prefix.clone());
            if let Some(prefix) = prefix {
                let number = tokens
                    .get(index + 1)
                    .and_then(|next| next.parse::<u32>().ok());
                if let Some(number) = number {
                    let id = format!("{prefix}{number:03}");
                    question.words.push(id.to_lowercase());
                    question.ids.push(id);
                    index += 2;
                    continue;
                }
                question.prefixes.push(prefix);
            }
            if !STOPWORDS.contains(&token.as_str()) {
                question.words.push(word);
            }
            index += 1;
        }
        // "haul truck 7" names HT_007, not every truck as well.
        let ids = question.ids.clone();
        question
            .prefixes
            .retain(|prefix| !ids.iter().any(|id| id.starts_with(prefix.as_str())));
        question.prefixes.dedup();
        question.ids.dedup();
        question.words.sort();
        question.words.dedup();
        question
    }

    /// The Jaccard index of the two questions' words.
    pub fn likeness(&self, other: &Question) -> f64 {
        let shared = self
            .words
            .iter()
            .filter(|w| other.words.contains(w))
            .count();
        let all = self.words.len() + other.words.len() - shared;
        if all == 0 {
            0.0
        } else {
            shared as f64 / all as f64
        }
    }
}

/// The example's SQL for `question`: when the example names one piece of equipment and the
/// question another, the question's takes its place (as Genie adapts an example to what was
/// asked). The second value says what was put in place of what.
pub fn adapt_example(
    example: &Example,
    question: &Question,
    entities: &[(String, String)],
) -> (String, Option<(String, String)>) {
    let asked = Question::read(&example.question, entities);
    if let ([from], [to]) = (asked.ids.as_slice(), question.ids.as_slice())
        && from != to
        && example.sql.contains(&format!("'{from}'"))
    {
        let sql = example
            .sql
            .replace(&format!("'{from}'"), &format!("'{to}'"));
        return (sql, Some((from.clone(), to.clone())));
    }
    (example.sql.clone(), None)
}

/// A query Genie writes itself, and what it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenQuery {
    pub sql: String,
    pub table: String,
    pub description: String,
}

/// The column that holds equipment ids: `equipment_id`, else the first string `*_id` column.
fn id_column(table: &TableMeta) -> Option<&str> {
    let strings = || {
        table
            .columns
            .iter()
            .filter(|c| c.type_text.starts_with("string") || c.type_text.starts_with("varchar"))
    };
    strings()
        .find(|c| c.name == "equipment_id")
        .or_else(|| strings().find(|c| c.name.ends_with("_id") || c.name == "id"))
        .map(|c| c.name.as_str())
}

/// The column to order by, newest first: `window_start`, else the first timestamp or date.
fn time_column(table: &TableMeta) -> Option<&str> {
    table
        .columns
        .iter()
        .find(|c| c.name == "window_start")
        .or_else(|| {
            table
                .columns
                .iter()
                .find(|c| c.type_text.starts_with("timestamp") || c.type_text == "date")
        })
        .map(|c| c.name.as_str())
}

fn name_words(name: &str) -> Vec<String> {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(singular)
        .collect()
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A simple query over the space's tables for what the question names: the rows of the
/// named equipment (newest first) from the table most about the question, or the newest rows
/// of the table the question names. `None` when the question names neither.
pub fn written_query(question: &Question, tables: &[(String, TableMeta)]) -> Option<WrittenQuery> {
    let about_equipment = !question.ids.is_empty() || !question.prefixes.is_empty();
    let mut candidates: Vec<(usize, bool, &String, &TableMeta)> = tables
        .iter()
        .filter_map(|(identifier, meta)| {
            let table_words = name_words(&meta.name);
            let named = table_words
                .iter()
                .filter(|w| question.words.contains(w))
                .count();
            let columns = meta
                .columns
                .iter()
                .flat_map(|c| name_words(&c.name))
                .filter(|w| question.words.contains(w))
                .count();
            let usable = if about_equipment {
                id_column(meta).is_some()
            } else {
                named > 0
            };
            usable.then_some((
                named * 2 + columns,
                !meta.name.contains("gold"),
                identifier,
                meta,
            ))
        })
        .collect();
    // Most words in common first; then the gold (business-level) table; then by name.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
    let (_, _, identifier, meta) = candidates.into_iter().next()?;
    let mut sql = format!("SELECT *\nFROM {identifier}");
    let mut description = format!("Rows of {identifier}");
    if about_equipment {
        let column = id_column(meta)?;
        let mut conditions: Vec<String> = Vec::new();
        match question.ids.as_slice() {
            [] => {}
            [id] => conditions.push(format!("{column} = {}", quoted(id))),
            ids => conditions.push(format!(
                "{column} IN ({})",
                ids.iter()
                    .map(|id| quoted(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        for prefix in &question.prefixes {
            conditions.push(format!("{column} LIKE {}", quoted(&format!("{prefix}%"))));
        }
        sql.push_str(&format!("\nWHERE {}", conditions.join(" OR ")));
        let named: Vec<String> = question
            .ids
            .iter()
            .cloned()
            .chain(question.prefixes.iter().map(|p| format!("{p}*")))
            .collect();
        description.push_str(&format!(" for {}", named.join(", ")));
    }
    match time_column(meta) {
        Some(time) => {
            sql.push_str(&format!("\nORDER BY {time} DESC"));
            description.push_str(&format!(", newest {time} first"));
        }
        None => {
            if let Some(column) = id_column(meta) {
                sql.push_str(&format!("\nORDER BY {column}"));
            }
        }
    }
    sql.push_str(&format!("\nLIMIT {WRITTEN_QUERY_LIMIT}"));
    description.push_str(&format!(" (at most {WRITTEN_QUERY_LIMIT})."));
    Some(WrittenQuery {
        sql,
        table: identifier.clone(),
        description,
    })
}

/// Rows shown in a summary, and columns shown per row.
const SUMMARY_ROWS: usize = 5;
const SUMMARY_COLUMNS: usize = 8;

/// The text attachment for a statement that succeeded: how many rows, and the first few rows'
/// values, all taken from the StatementResponse. `source` says where the rows come from.
pub fn summary(statement: &Value, source: &str) -> String {
    let total = statement
        .pointer("/manifest/total_row_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if total == 0 {
        return format!(
            "{source} returned no rows: the space's tables hold no data that answers this question."
        );
    }
    let columns: Vec<&str> = statement
        .pointer("/manifest/schema/columns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let rows = statement
        .pointer("/result/data_array")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let shown: Vec<String> = rows
        .iter()
        .take(SUMMARY_ROWS)
        .map(|row| {
            columns
                .iter()
                .zip(row.as_array().into_iter().flatten())
                .filter_map(|(column, value)| value.as_str().map(|v| format!("{column} {v}")))
                .take(SUMMARY_COLUMNS)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    let more = if total as usize > shown.len() {
        format!("\n(first {} of {total} shown)", shown.len())
    } else {
        String::new()
    };
    format!(
        "{source} returned {total} row{}:\n- {}{more}",
        if total == 1 { "" } else { "s" },
        shown.join("\n- ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn knowledge() -> SpaceKnowledge {
        SpaceKnowledge::of(&json!({
            "version": 2,
            "data_sources": {"tables": [{"identifier": "main.m.ot_telemetry_gold"}]},
            "instructions": {
                "text_instructions": [{"content": ["- Equipment ids: HT_ = haul truck, CR_ = crusher, SL_ = stacker.\n"]}],
                "example_question_sqls": [
                    {"question": ["Show me current crusher status"], "sql": ["SELECT 1\n", "FROM t"]},
                    {"question": ["Why is Crusher 2 vibration high?"], "sql": ["SELECT * FROM t WHERE equipment_id = 'CR_002'"]},
                ],
            },
            "config": {"sample_questions": [{"question": ["Which haul trucks are low on fuel?"]}]},
        }))
    }

    #[test]
    fn issue_15_a_question_reads_its_equipment_from_words_ids_and_the_instructions() {
        let k = knowledge();
        let q = Question::read(
            "How are haul truck 7, cr_3 and the stackers doing?",
            &k.entities,
        );
        assert_eq!(q.ids, ["HT_007", "CR_3"]);
        assert_eq!(q.prefixes, ["SL_"], "stacker comes from the instructions");
        assert_eq!(k.sample_questions, ["Which haul trucks are low on fuel?"]);
        assert_eq!(k.examples[0].sql, "SELECT 1\nFROM t");
    }

    #[test]
    fn issue_15_the_closest_example_answers_and_takes_the_asked_about_equipment() {
        let k = knowledge();
        let q = Question::read("What is the current status of the crushers?", &k.entities);
        let (example, score) = k.best_example(&q).expect("an example matches");
        assert_eq!(example.question, "Show me current crusher status");
        assert!(score >= EXAMPLE_MATCH_THRESHOLD, "{score}");

        let q = Question::read("Why is crusher 3 vibration so high?", &k.entities);
        let (example, _) = k.best_example(&q).expect("an example matches");
        let (sql, swapped) = adapt_example(example, &q, &k.entities);
        assert_eq!(sql, "SELECT * FROM t WHERE equipment_id = 'CR_003'");
        assert_eq!(swapped, Some(("CR_002".into(), "CR_003".into())));

        let q = Question::read("How is crusher 2 doing?", &k.entities);
        assert_eq!(
            k.best_example(&q),
            None,
            "too little in common with any example"
        );
    }
}
