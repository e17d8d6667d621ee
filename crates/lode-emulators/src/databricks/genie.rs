//! Genie spaces and conversations. Spaces behave like Databricks': 32-hex ids, `parent_path`
//! reported without `/Workspace`, a `serialized_space` written as version 1 reads back as version
//! 2 (with `data_sources` filled in), an etag that changes only when `serialized_space` does and
//! is shown only with `include_serialized_space=true`, 409 on a stale etag, and tables that must
//! exist when the space is created. Conversations answer deterministically from the space's
//! tables: the rows that mention what the question asks about.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::request::Fields;
use super::{ApiError, ApiResult, Body, Params, Shared, hex_id, now_ms};

/// Milliseconds a message spends before it completes, so clients really poll.
const ANSWER_MS: i64 = 300;

/// One Genie space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceRecord {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub warehouse_id: String,
    pub parent_path: String,
    /// Always stored as version 2.
    pub serialized_space: Value,
    pub etag: u64,
    pub create_time: i64,
    pub update_time: i64,
    #[serde(default)]
    pub trashed: bool,
}

/// One conversation with its messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationRecord {
    pub space_id: String,
    pub title: String,
    pub created: i64,
    pub messages: Vec<MessageRecord>,
}

/// One question and its (precomputed) answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: String,
    pub content: String,
    pub created: i64,
    pub answer: Answer,
}

/// What Genie answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub text: String,
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub rows: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub failed: Option<String>,
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/2.0/genie/spaces", get(list_spaces).post(create_space))
        .route("/api/2.0/genie/spaces/{id}", get(get_space).patch(update_space).delete(trash_space))
        .route("/api/2.0/genie/spaces/{id}/start-conversation", post(start_conversation))
        .route("/api/2.0/genie/spaces/{id}/conversations", get(list_conversations))
        .route("/api/2.0/genie/spaces/{id}/conversations/{cid}", axum::routing::delete(delete_conversation))
        .route("/api/2.0/genie/spaces/{id}/conversations/{cid}/messages", post(create_message))
        .route("/api/2.0/genie/spaces/{id}/conversations/{cid}/messages/{mid}", get(get_message))
        .route(
            "/api/2.0/genie/spaces/{id}/conversations/{cid}/messages/{mid}/attachments/{aid}/query-result",
            get(query_result),
        )
}

/// Parses and upgrades a serialized space to version 2, as the backend does on write.
fn normalize_serialized(text: &str) -> ApiResult<Value> {
    let mut space: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid(format!("serialized_space is not valid JSON: {e}")))?;
    let object = space
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("serialized_space must be a JSON object"))?;
    match object.get("version").and_then(Value::as_i64) {
        Some(1) | Some(2) => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Unsupported serialized_space version {other}."
            )));
        }
        None => return Err(ApiError::invalid("serialized_space.version is required.")),
    }
    object.insert("version".into(), json!(2));
    object.entry("data_sources").or_insert(json!({}));
    Ok(space)
}

fn table_identifiers(space: &Value) -> Vec<String> {
    space
        .pointer("/data_sources/tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t.get("identifier")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

async fn check_tables(workspace: &Shared, space: &Value) -> ApiResult<()> {
    let tables = table_identifiers(space);
    if tables.len() > 30 {
        return Err(ApiError::invalid(
            "A Genie space can have at most 30 tables.",
        ));
    }
    for identifier in tables {
        let parts: Vec<&str> = identifier.split('.').collect();
        let exists = match parts.as_slice() {
            [c, s, t] => workspace.sql.get_table(c, s, t).await?.is_some(),
            _ => false,
        };
        if !exists {
            return Err(ApiError::invalid(format!(
                "Table '{identifier}' does not exist or is not accessible."
            )));
        }
    }
    Ok(())
}

fn space_json(id: &str, space: &SpaceRecord, include_serialized: bool) -> Value {
    let mut body = json!({
        "space_id": id,
        "title": space.title,
        "warehouse_id": space.warehouse_id,
        "parent_path": space.parent_path,
        "create_time": rfc3339_ms(space.create_time),
        "update_time": rfc3339_ms(space.update_time),
    });
    if let Some(description) = &space.description {
        body["description"] = json!(description);
    }
    if include_serialized {
        body["serialized_space"] = json!(space.serialized_space.to_string());
        body["etag"] = json!(space.etag.to_string());
    }
    body
}

/// Genie times are protobuf Timestamps: RFC 3339 strings in JSON.
fn rfc3339_ms(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Space ids are 32 lowercase hex characters (reference `databricks-api.md` §3). A path id
/// that is not one is refused with 400 before any lookup; an unknown well-formed one is 404.
/// **Unverified**: the reference records neither the status nor the message for an ill-formed
/// id.
pub fn check_space_id(id: &str) -> ApiResult<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid space id '{id}': expected 32 lowercase hex characters."
        )))
    }
}

fn find_space(workspace: &Shared, id: &str) -> ApiResult<SpaceRecord> {
    check_space_id(id)?;
    workspace
        .genie
        .get(id)
        .filter(|s| !s.trashed)
        .ok_or_else(|| ApiError::not_found(format!("Genie space {id} does not exist.")))
}

fn save_space(workspace: &Shared, id: &str, space: SpaceRecord) -> ApiResult<()> {
    workspace
        .genie
        .update(|spaces| spaces.insert(id.to_string(), space))
        .map(|_| ())
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `parent_path` without `/Workspace`, which must be an existing folder.
fn parent_folder(workspace: &Shared, parent: Option<&str>) -> ApiResult<String> {
    let path = super::workspace::normalize_path(parent.unwrap_or("/Users/lode@localhost"))?;
    match workspace.files.status(&path) {
        Some(info) if info.object_type == "DIRECTORY" => Ok(path),
        _ => Err(ApiError::invalid(format!(
            "Tree node with path '{path}' does not exist"
        ))),
    }
}

/// The space fields a create or update body may carry, all strings (reference §3).
const SPACE_FIELDS: [&str; 6] = [
    "warehouse_id",
    "serialized_space",
    "title",
    "description",
    "parent_path",
    "etag",
];

async fn create_space(
    State(workspace): State<Shared>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let fields = Fields::of(&body)?;
    for field in SPACE_FIELDS {
        fields.string(field)?;
    }
    let warehouse_id = fields.required_string("warehouse_id")?.to_string();
    let serialized = fields.required_string("serialized_space")?;
    if warehouse_id != super::catalog::WAREHOUSE_ID {
        return Err(ApiError::invalid(format!(
            "Warehouse {warehouse_id} does not exist."
        )));
    }
    let serialized = normalize_serialized(serialized)?;
    check_tables(&workspace, &serialized).await?;
    let parent_path = parent_folder(&workspace, fields.string("parent_path")?)?;
    let id = hex_id();
    let now = now_ms();
    let space = SpaceRecord {
        title: fields
            .string("title")?
            .map(str::to_string)
            .unwrap_or_else(|| "New Space".into()),
        description: fields.string("description")?.map(str::to_string),
        warehouse_id,
        parent_path,
        serialized_space: serialized,
        etag: 1,
        create_time: now,
        update_time: now,
        trashed: false,
    };
    save_space(&workspace, &id, space.clone())?;
    Ok(Json(space_json(&id, &space, true)))
}

#[derive(Deserialize)]
struct GetSpaceQuery {
    #[serde(default)]
    include_serialized_space: bool,
}

async fn get_space(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
    Params(query): Params<GetSpaceQuery>,
) -> ApiResult<Json<Value>> {
    let space = find_space(&workspace, &id)?;
    Ok(Json(space_json(
        &id,
        &space,
        query.include_serialized_space,
    )))
}

async fn update_space(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let fields = Fields::of(&body)?;
    for field in SPACE_FIELDS {
        fields.string(field)?;
    }
    let mut space = find_space(&workspace, &id)?;
    if let Some(etag) = fields.string("etag")?
        && etag != space.etag.to_string()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ABORTED",
            format!("The space was modified (etag {} != {etag}).", space.etag),
        ));
    }
    if let Some(serialized) = fields.string("serialized_space")? {
        let serialized = normalize_serialized(serialized)?;
        check_tables(&workspace, &serialized).await?;
        if serialized != space.serialized_space {
            space.serialized_space = serialized;
            space.etag += 1;
        }
    }
    if let Some(title) = fields.string("title")? {
        space.title = title.to_string();
    }
    if let Some(description) = fields.string("description")? {
        space.description = Some(description.to_string());
    }
    if let Some(warehouse_id) = fields.string("warehouse_id")? {
        if warehouse_id != super::catalog::WAREHOUSE_ID {
            return Err(ApiError::invalid(format!(
                "Warehouse {warehouse_id} does not exist."
            )));
        }
        space.warehouse_id = warehouse_id.to_string();
    }
    if let Some(parent) = fields.string("parent_path")? {
        space.parent_path = parent_folder(&workspace, Some(parent))?;
    }
    space.update_time = now_ms();
    save_space(&workspace, &id, space.clone())?;
    Ok(Json(space_json(&id, &space, true)))
}

async fn trash_space(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut space = find_space(&workspace, &id)?;
    space.trashed = true;
    save_space(&workspace, &id, space)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn list_spaces(
    State(workspace): State<Shared>,
    Params(query): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let spaces: Vec<(String, SpaceRecord)> = workspace
        .genie
        .all()
        .into_iter()
        .filter(|(_, s)| !s.trashed)
        .collect();
    let size = query.page_size.filter(|s| *s > 0).unwrap_or(100);
    let start: usize = query
        .page_token
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = spaces
        .iter()
        .skip(start)
        .take(size)
        .map(|(id, s)| space_json(id, s, false))
        .collect();
    let mut body = json!({"spaces": page});
    if start + size < spaces.len() {
        body["next_page_token"] = json!((start + size).to_string());
    }
    Ok(Json(body))
}

/// Words that name equipment, and the id prefix the demo's assets use for them.
const ENTITIES: [(&str, &str); 6] = [
    ("crusher", "CR_"),
    ("truck", "HT_"),
    ("haul", "HT_"),
    ("conveyor", "CV_"),
    ("belt", "CV_"),
    ("pump", "PU_"),
];

/// Answers a question from the space's tables: pick the table most like the question (gold
/// first), keep the rows that mention the asked-about equipment, and describe them.
async fn answer(workspace: &Shared, space: &SpaceRecord, question: &str) -> Answer {
    let lower = question.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| w.len() > 2)
        .collect();
    // "Crusher 2" and "CR_002" both mean CR_002.
    let mut needles: Vec<String> = Vec::new();
    for word in &words {
        for (entity, prefix) in ENTITIES {
            if word.starts_with(entity) {
                match lower
                    .split_whitespace()
                    .skip_while(|w| !w.starts_with(entity))
                    .nth(1)
                    .and_then(|n| {
                        n.trim_matches(|c: char| !c.is_ascii_digit())
                            .parse::<u32>()
                            .ok()
                    }) {
                    Some(number) => needles.push(format!("{prefix}{number:03}")),
                    None => needles.push(entity.to_string()),
                }
            }
        }
        if word.len() > 3 && word.contains('_') && word.chars().any(|c| c.is_ascii_digit()) {
            needles.push(word.to_ascii_uppercase());
        }
    }
    let mut tables = table_identifiers(&space.serialized_space);
    tables.sort_by_key(|t| (!t.contains("gold"), t.clone()));
    for identifier in tables {
        let parts: Vec<&str> = identifier.split('.').collect();
        let [catalog, schema, table] = parts.as_slice() else {
            continue;
        };
        let Ok(result) = workspace.sql.read_rows(catalog, schema, table).await else {
            continue;
        };
        if result.rows.is_empty() {
            continue;
        }
        let matching: Vec<Vec<Option<String>>> = result
            .rows
            .iter()
            .filter(|row| {
                needles.is_empty()
                    || needles.iter().any(|needle| {
                        row.iter().flatten().any(|cell| {
                            cell.to_ascii_lowercase()
                                .contains(&needle.to_ascii_lowercase())
                        })
                    })
            })
            .cloned()
            .collect();
        if matching.is_empty() {
            continue;
        }
        let columns: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
        let shown: Vec<String> = matching
            .iter()
            .take(5)
            .map(|row| {
                columns
                    .iter()
                    .zip(row)
                    .filter_map(|(c, v)| v.as_ref().map(|v| format!("{c} {v}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let filter = if needles.is_empty() {
            String::new()
        } else {
            format!(" mentioning {}", needles.join(" or "))
        };
        let text = format!(
            "From {identifier}, {} row{}{filter}:\n- {}",
            matching.len(),
            if matching.len() == 1 { "" } else { "s" },
            shown.join("\n- ")
        );
        let sql = format!(
            "SELECT * FROM {identifier}{}",
            if needles.is_empty() {
                String::new()
            } else {
                format!(" -- rows mentioning {}", needles.join(", "))
            }
        );
        return Answer {
            text,
            sql: Some(sql),
            columns,
            rows: matching,
            failed: None,
        };
    }
    Answer {
        text: "I could not find data in this space's tables that answers the question.".into(),
        sql: None,
        columns: Vec::new(),
        rows: Vec::new(),
        failed: None,
    }
}

fn message_json(space_id: &str, conversation_id: &str, message: &MessageRecord) -> Value {
    let done = now_ms() - message.created >= ANSWER_MS;
    let mut body = json!({
        "id": message.id,
        "message_id": message.id,
        "conversation_id": conversation_id,
        "space_id": space_id,
        "content": message.content,
        "created_timestamp": message.created,
        "status": if !done { "EXECUTING_QUERY" } else if message.answer.failed.is_some() { "FAILED" } else { "COMPLETED" },
    });
    if done {
        let mut attachments = vec![
            json!({"attachment_id": format!("{}t", &message.id[..31]), "text": {"content": message.answer.text}}),
        ];
        if let Some(sql) = &message.answer.sql {
            attachments.push(json!({
                "attachment_id": format!("{}q", &message.id[..31]),
                "query": {
                    "query": sql,
                    "description": "Rows of the space's tables that match the question",
                    "title": message.content,
                    "query_result_metadata": {"row_count": message.answer.rows.len(), "is_truncated": false},
                },
            }));
        }
        body["attachments"] = json!(attachments);
        if let Some(error) = &message.answer.failed {
            body["error"] = json!({"error": error, "type": "GENERIC_CHAT_COMPLETION_EXCEPTION"});
        }
    }
    body
}

/// A question: `{"content": "..."}` (reference §3, Conversation API).
struct Ask {
    content: String,
}

impl Ask {
    fn from_body(body: &Value) -> ApiResult<Ask> {
        let fields = Fields::of(body)?;
        fields.boolean("enable_visualization")?;
        Ok(Ask {
            content: fields.required_string("content")?.to_string(),
        })
    }
}

async fn new_message(
    workspace: &Shared,
    space_id: &str,
    content: &str,
) -> ApiResult<MessageRecord> {
    let space = find_space(workspace, space_id)?;
    if content.trim().is_empty() {
        return Err(ApiError::invalid("content must not be empty."));
    }
    Ok(MessageRecord {
        id: hex_id(),
        content: content.to_string(),
        created: now_ms(),
        answer: answer(workspace, &space, content).await,
    })
}

async fn start_conversation(
    State(workspace): State<Shared>,
    Path(space_id): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let ask = Ask::from_body(&body)?;
    let message = new_message(&workspace, &space_id, &ask.content).await?;
    let conversation_id = hex_id();
    let conversation = ConversationRecord {
        space_id: space_id.clone(),
        title: ask.content.chars().take(80).collect(),
        created: message.created,
        messages: vec![message.clone()],
    };
    workspace
        .conversations
        .update(|all| all.insert(conversation_id.clone(), conversation.clone()))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "conversation_id": conversation_id,
        "message_id": message.id,
        "conversation": {"id": conversation_id, "space_id": space_id, "title": conversation.title, "created_timestamp": conversation.created},
        "message": message_json(&space_id, &conversation_id, &message),
    })))
}

fn find_conversation(
    workspace: &Shared,
    space_id: &str,
    conversation_id: &str,
) -> ApiResult<ConversationRecord> {
    workspace
        .conversations
        .get(conversation_id)
        .filter(|c| c.space_id == space_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("Conversation {conversation_id} does not exist."))
        })
}

async fn create_message(
    State(workspace): State<Shared>,
    Path((space_id, conversation_id)): Path<(String, String)>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let ask = Ask::from_body(&body)?;
    let mut conversation = find_conversation(&workspace, &space_id, &conversation_id)?;
    let message = new_message(&workspace, &space_id, &ask.content).await?;
    conversation.messages.push(message.clone());
    workspace
        .conversations
        .update(|all| all.insert(conversation_id.clone(), conversation))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(message_json(&space_id, &conversation_id, &message)))
}

async fn get_message(
    State(workspace): State<Shared>,
    Path((space_id, conversation_id, message_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let conversation = find_conversation(&workspace, &space_id, &conversation_id)?;
    let message = conversation
        .messages
        .iter()
        .find(|m| m.id == message_id)
        .ok_or_else(|| ApiError::not_found(format!("Message {message_id} does not exist.")))?;
    Ok(Json(message_json(&space_id, &conversation_id, message)))
}

async fn query_result(
    State(workspace): State<Shared>,
    Path((space_id, conversation_id, message_id, _attachment)): Path<(
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<Json<Value>> {
    let conversation = find_conversation(&workspace, &space_id, &conversation_id)?;
    let message = conversation
        .messages
        .iter()
        .find(|m| m.id == message_id)
        .ok_or_else(|| ApiError::not_found(format!("Message {message_id} does not exist.")))?;
    let columns: Vec<Value> = message
        .answer
        .columns
        .iter()
        .enumerate()
        .map(|(position, name)| json!({"name": name, "position": position, "type_name": "STRING", "type_text": "string"}))
        .collect();
    Ok(Json(json!({"statement_response": {
        "statement_id": format!("01f0{}", &message.id[4..]),
        "status": {"state": "SUCCEEDED"},
        "manifest": {"format": "JSON_ARRAY", "schema": {"column_count": columns.len(), "columns": columns},
                     "total_row_count": message.answer.rows.len(), "total_chunk_count": 1, "truncated": false},
        "result": {"chunk_index": 0, "row_offset": 0, "row_count": message.answer.rows.len(), "data_array": message.answer.rows},
    }})))
}

async fn list_conversations(
    State(workspace): State<Shared>,
    Path(space_id): Path<String>,
) -> ApiResult<Json<Value>> {
    find_space(&workspace, &space_id)?;
    let conversations: Vec<Value> = workspace
        .conversations
        .all()
        .into_iter()
        .filter(|(_, c)| c.space_id == space_id)
        .map(|(id, c)| json!({"conversation_id": id, "title": c.title, "created_timestamp": c.created}))
        .collect();
    Ok(Json(json!({"conversations": conversations})))
}

async fn delete_conversation(
    State(workspace): State<Shared>,
    Path((space_id, conversation_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    find_conversation(&workspace, &space_id, &conversation_id)?;
    workspace
        .conversations
        .update(|all| all.remove(&conversation_id))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({})))
}
