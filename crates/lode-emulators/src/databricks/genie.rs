//! Genie spaces and conversations. Spaces behave like Databricks': 32-hex ids, `parent_path`
//! reported without `/Workspace`, a `serialized_space` written as version 1 reads back as version
//! 2 (with `data_sources` filled in), an etag that changes only when `serialized_space` does and
//! is shown only with `include_serialized_space=true`, 409 on a stale etag, and tables that must
//! exist when the space is created. A question is answered as Genie does, deterministically:
//! with SQL (the best-matching example question's, or a simple query written over the space's
//! tables, see [`answer`]) run on the warehouse as a real statement, a query attachment that
//! names it, and a text attachment that sums up its rows.

mod answer;

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

/// What Genie answers: a text attachment, the query it ran (a query attachment), questions to
/// try instead when it cannot answer, or why it failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Answer {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub query: Option<QueryAnswer>,
    #[serde(default)]
    pub suggested_questions: Vec<String>,
    #[serde(default)]
    pub failed: Option<String>,
}

/// A query attachment: the SQL Genie ran and the statement that holds its result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryAnswer {
    pub sql: String,
    pub title: String,
    pub description: String,
    pub statement_id: String,
    pub row_count: u64,
    pub is_truncated: bool,
    pub last_updated: i64,
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
        .route(
            "/api/2.0/genie/spaces/{id}/conversations/{cid}/messages/{mid}/attachments/{aid}/execute-query",
            post(execute_query),
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

/// Runs `sql` for a message: the query attachment that names the statement, and its response.
async fn run_query(
    workspace: &Shared,
    sql: &str,
    title: &str,
    description: &str,
) -> (QueryAnswer, Value) {
    let (statement_id, response) =
        super::catalog::run_statement(workspace, sql, None, None, &[], None).await;
    let query = QueryAnswer {
        sql: sql.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        statement_id,
        row_count: response
            .pointer("/manifest/total_row_count")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        is_truncated: response
            .pointer("/manifest/truncated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        last_updated: now_ms(),
    };
    (query, response)
}

/// The error of a statement that failed, if it did.
fn statement_error(response: &Value) -> Option<String> {
    (response.pointer("/status/state") == Some(&json!("FAILED"))).then(|| {
        response
            .pointer("/status/error/message")
            .and_then(Value::as_str)
            .unwrap_or("the statement failed")
            .to_string()
    })
}

/// Answers a question from the space: the best-matching example's SQL, else a query written
/// over the space's tables, run on the warehouse; else says it cannot answer.
async fn answer(workspace: &Shared, space: &SpaceRecord, question: &str) -> Answer {
    let knowledge = answer::SpaceKnowledge::of(&space.serialized_space);
    let asked = answer::Question::read(question, &knowledge.entities);
    let (sql, title, description, source) = if let Some((example, _)) =
        knowledge.best_example(&asked)
    {
        let (sql, swapped) = answer::adapt_example(example, &asked, &knowledge.entities);
        let mut description = format!(
            "The space's example query for \"{}\"",
            example.question.trim()
        );
        if let Some((from, to)) = &swapped {
            description.push_str(&format!(", for {to} instead of {from}"));
        }
        description.push('.');
        let source = format!("The example query for \"{}\"", example.question.trim());
        (
            sql,
            example.question.trim().to_string(),
            description,
            source,
        )
    } else {
        let mut tables = Vec::new();
        for identifier in &knowledge.tables {
            if let [catalog, schema, table] = identifier.split('.').collect::<Vec<_>>()[..]
                && let Ok(Some(meta)) = workspace.sql.get_table(catalog, schema, table).await
            {
                tables.push((identifier.clone(), meta));
            }
        }
        match answer::written_query(&asked, &tables) {
            Some(written) => {
                let source = format!("The query on {}", written.table);
                (
                    written.sql,
                    question.trim().to_string(),
                    written.description,
                    source,
                )
            }
            None => {
                return Answer {
                    text: Some(format!(
                        "I cannot answer that from this space: it matches none of its example questions, and names no equipment or table of {}. Try one of the suggested questions.",
                        if knowledge.tables.is_empty() {
                            "the space (it has no tables)".to_string()
                        } else {
                            knowledge.tables.join(", ")
                        }
                    )),
                    suggested_questions: knowledge.sample_questions.clone(),
                    ..Answer::default()
                };
            }
        }
    };
    let (query, response) = run_query(workspace, &sql, &title, &description).await;
    match statement_error(&response) {
        // The API's documented outcome: "FAILED: the response generation or query execution
        // failed. See error field." The query attachment stays, so the failing SQL is visible.
        Some(error) => Answer {
            failed: Some(format!("The query failed: {error}")),
            query: Some(query),
            ..Answer::default()
        },
        None => Answer {
            text: Some(answer::summary(&response, &source)),
            query: Some(query),
            ..Answer::default()
        },
    }
}

/// Attachment ids are 32 hex characters, derived from the message id so they stay stable.
fn attachment_id(message_id: &str, kind: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(format!("{message_id}\0{kind}").as_bytes())[..16])
}

fn message_json(space_id: &str, conversation_id: &str, message: &MessageRecord) -> Value {
    let done = now_ms() - message.created >= ANSWER_MS;
    let answer = &message.answer;
    let mut body = json!({
        "id": message.id,
        "message_id": message.id,
        "conversation_id": conversation_id,
        "space_id": space_id,
        "content": message.content,
        "created_timestamp": message.created,
        "status": if !done { "EXECUTING_QUERY" } else if answer.failed.is_some() { "FAILED" } else { "COMPLETED" },
    });
    if done {
        let mut attachments = Vec::new();
        if let Some(text) = &answer.text {
            attachments.push(json!({"attachment_id": attachment_id(&message.id, "text"), "text": {"content": text}}));
        }
        if let Some(query) = &answer.query {
            attachments.push(json!({
                "attachment_id": attachment_id(&message.id, "query"),
                "query": {
                    "query": query.sql,
                    "title": query.title,
                    "description": query.description,
                    "statement_id": query.statement_id,
                    "query_result_metadata": {"row_count": query.row_count, "is_truncated": query.is_truncated},
                    "last_updated_timestamp": query.last_updated,
                },
            }));
        }
        if !answer.suggested_questions.is_empty() {
            attachments.push(json!({
                "attachment_id": attachment_id(&message.id, "suggested"),
                "suggested_questions": {"questions": answer.suggested_questions},
            }));
        }
        body["attachments"] = json!(attachments);
        if let Some(error) = &answer.failed {
            body["error"] = json!({"error": error, "type": "SQL_EXECUTION_EXCEPTION"});
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
    let (conversation, index) = find_message(&workspace, &space_id, &conversation_id, &message_id)?;
    Ok(Json(message_json(
        &space_id,
        &conversation_id,
        &conversation.messages[index],
    )))
}

/// The message `message_id` of a conversation, with the conversation it is in.
fn find_message(
    workspace: &Shared,
    space_id: &str,
    conversation_id: &str,
    message_id: &str,
) -> ApiResult<(ConversationRecord, usize)> {
    let conversation = find_conversation(workspace, space_id, conversation_id)?;
    let index = conversation
        .messages
        .iter()
        .position(|m| m.id == message_id)
        .ok_or_else(|| ApiError::not_found(format!("Message {message_id} does not exist.")))?;
    Ok((conversation, index))
}

/// The query attachment `attachment` of a message. **Unverified**: the reference does not
/// record what Databricks answers for an attachment that is not a query; 404 like a missing one.
fn query_of<'a>(message: &'a MessageRecord, attachment: &str) -> ApiResult<&'a QueryAnswer> {
    message
        .answer
        .query
        .as_ref()
        .filter(|_| attachment == attachment_id(&message.id, "query"))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Message {} has no query attachment {attachment}.",
                message.id
            ))
        })
}

/// `{"statement_response": StatementResponse}`: the attachment's statement exactly as the
/// Statement Execution API serves it.
async fn query_result(
    State(workspace): State<Shared>,
    Path((space_id, conversation_id, message_id, attachment)): Path<(
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<Json<Value>> {
    let (conversation, index) = find_message(&workspace, &space_id, &conversation_id, &message_id)?;
    let query = query_of(&conversation.messages[index], &attachment)?;
    let response = super::catalog::statement_response(&workspace, &query.statement_id).map_err(
        |_| {
            ApiError::not_found(format!(
                "The result of statement {} has expired; run the query again with POST .../attachments/{attachment}/execute-query.",
                query.statement_id
            ))
        },
    )?;
    Ok(Json(json!({"statement_response": response})))
}

/// Runs the attachment's SQL again as a new statement, which the attachment then names.
async fn execute_query(
    State(workspace): State<Shared>,
    Path((space_id, conversation_id, message_id, attachment)): Path<(
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<Json<Value>> {
    let (conversation, index) = find_message(&workspace, &space_id, &conversation_id, &message_id)?;
    let previous = query_of(&conversation.messages[index], &attachment)?.clone();
    let (query, response) = run_query(
        &workspace,
        &previous.sql,
        &previous.title,
        &previous.description,
    )
    .await;
    workspace
        .conversations
        .update(|all| {
            if let Some(message) = all
                .get_mut(&conversation_id)
                .and_then(|c| c.messages.iter_mut().find(|m| m.id == message_id))
            {
                message.answer.query = Some(query);
            }
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({"statement_response": response})))
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
