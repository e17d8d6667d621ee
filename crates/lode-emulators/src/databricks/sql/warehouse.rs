//! The query side of the engine, on Apache DataFusion: one session template per engine (the
//! lake catalog of [`super::lakehouse`], the Spark-compatible functions of
//! [`super::functions`]), a session per statement with the request's default catalog and
//! schema, the front end of [`super::front`], Arrow results rendered as the statement API's
//! JSON_ARRAY rows with Databricks type names, and DataFusion's errors mapped to Databricks'
//! error classes.
//!
//! Callers beyond the statement API (pipeline updates, Genie) use [`SqlEngine::query`] for a
//! [`DataFrame`] they can extend or write, [`SqlEngine::query_batches`] for the collected Arrow
//! result, and [`SqlEngine::session`] for a session of their own (same catalog and functions).

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::catalog::MemTable;
use deltalake::datafusion::common::{DataFusionError, SchemaError};
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::cache::cache_manager::CacheManagerConfig;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::execution::session_state::SessionState;
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::Statement as DFStatement;

use super::front::{self, Checkpoints};
use super::lakehouse::Lakehouse;
use super::storage::{self, Column};
use super::types::{SqlType, Value};
use super::{ColumnMeta, ResultSet, SqlEngine, SqlError};

/// The session every statement starts from (cloned per statement, which copies `Arc`s only).
pub(crate) fn base_state(root: &std::path::Path) -> SessionState {
    let config = SessionConfig::new()
        .with_information_schema(false)
        .with_create_default_catalog_and_schema(false)
        .with_default_catalog_and_schema("main", "default")
        // One partition keeps a table's rows in insertion order when a query has no ORDER BY
        // (as the hand-written engine did); a pipeline refresh may raise it in its session.
        .with_target_partitions(1)
        .set_str("datafusion.sql_parser.dialect", "databricks")
        // `2.50` is DECIMAL(3,2) in Databricks SQL, not a DOUBLE.
        .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
        // Spark sorts NULL as the smallest value: first ascending, last descending.
        .set_str("datafusion.sql_parser.default_null_ordering", "nulls_min");
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime_env())
        .with_default_features()
        .with_catalog_list(Arc::new(Lakehouse {
            root: root.to_path_buf(),
            statement_rows: None,
        }))
        // delta-rs writes planned in this session need Delta's planner.
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
        .build();
    if let Err(e) = super::functions::register(&mut state) {
        // Registration only fails on a name clash between our own functions: a bug.
        panic!("registering the lake's SQL functions: {e}");
    }
    state
}

/// How much of the Parquet footers DataFusion has read the shared cache keeps. Its default,
/// 50 MiB, is sized for warehouses of large, long-lived files; here a table that a stream
/// appends to gains a file a second and auto compaction ([`super::compaction`]) soon replaces
/// it, so the default would fill over an hour with the footers (about 12 KiB each) of files no
/// query reads again. The live files of the tables a query reads are a few hundred at most.
const PARQUET_FOOTERS_CACHED: usize = 8 * 1024 * 1024;

/// The runtime every session shares (object stores, caches), with the footer cache above.
fn runtime_env() -> Arc<RuntimeEnv> {
    let caches = CacheManagerConfig::default().with_metadata_cache_limit(PARQUET_FOOTERS_CACHED);
    RuntimeEnvBuilder::new()
        .with_cache_manager(caches)
        .build_arc()
        // Building fails only on an invalid memory pool or disk manager setting; none is set.
        .expect("the default runtime with a smaller footer cache builds")
}

impl SqlEngine {
    /// A DataFusion session over the data folder whose unqualified names resolve in
    /// `catalog`.`schema`: every table of every catalog, `information_schema`, the
    /// Databricks functions. Use it for anything [`SqlEngine::query`] does not cover.
    pub fn session(&self, catalog: &str, schema: &str) -> SessionContext {
        self.session_with_rows(catalog, schema, None)
    }

    /// [`SqlEngine::session`] in which `__lode_statement.inline.source` reads `rows`.
    fn session_with_rows(
        &self,
        catalog: &str,
        schema: &str,
        rows: Option<&RecordBatch>,
    ) -> SessionContext {
        let mut state = self.query_state.clone();
        if let Some(rows) = rows {
            let table = MemTable::try_new(rows.schema(), vec![vec![rows.clone()]])
                .expect("a batch always matches its own schema");
            state = SessionStateBuilder::new_from_existing(state)
                .with_catalog_list(Arc::new(Lakehouse {
                    root: self.root.clone(),
                    statement_rows: Some(Arc::new(table)),
                }))
                .build();
        }
        let options = state.config_mut().options_mut();
        options.catalog.default_catalog = catalog.to_lowercase();
        options.catalog.default_schema = schema.to_lowercase();
        SessionContext::new_with_state(state)
    }

    /// Plans one query (SELECT, WITH, VALUES, set operations) for `catalog`.`schema` and
    /// returns it as a DataFrame, not yet run. `checkpoints` restrict `STREAM(src)` reads to
    /// what `src` gained since a version (see [`Checkpoints`]); pass an empty map otherwise.
    pub async fn query(
        &self,
        sql: &str,
        catalog: &str,
        schema: &str,
        checkpoints: &Checkpoints,
    ) -> Result<DataFrame, SqlError> {
        self.plan_query(sql, catalog, schema, &[], checkpoints, None)
            .await
    }

    /// [`SqlEngine::query`], run: the result's Arrow schema and batches.
    pub async fn query_batches(
        &self,
        sql: &str,
        catalog: &str,
        schema: &str,
        checkpoints: &Checkpoints,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let df = self.query(sql, catalog, schema, checkpoints).await?;
        collect(df).await
    }

    pub(crate) async fn plan_query(
        &self,
        sql: &str,
        catalog: &str,
        schema: &str,
        parameters: &[(String, Option<String>)],
        checkpoints: &Checkpoints,
        statement_rows: Option<&RecordBatch>,
    ) -> Result<DataFrame, SqlError> {
        let (catalog, schema) = (catalog.to_lowercase(), schema.to_lowercase());
        let statement = front::parse(sql, parameters, checkpoints, &catalog, &schema)
            .map_err(|e| from_datafusion(e, &catalog, &schema))?;
        if !matches!(&statement, DFStatement::Statement(s) if matches!(**s, deltalake::datafusion::sql::sqlparser::ast::Statement::Query(_)))
        {
            return Err(SqlError::syntax(sql.split_whitespace().next()));
        }
        let ctx = self.session_with_rows(&catalog, &schema, statement_rows);
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| from_datafusion(e, &catalog, &schema))?;
        ctx.execute_logical_plan(plan)
            .await
            .map_err(|e| from_datafusion(e, &catalog, &schema))
    }

    /// Runs a query for the statement API: rows as JSON_ARRAY strings.
    pub(crate) async fn run_query(
        &self,
        sql: &str,
        catalog: &str,
        schema: &str,
        parameters: &[(String, Option<String>)],
    ) -> Result<ResultSet, SqlError> {
        let df = self
            .plan_query(sql, catalog, schema, parameters, &Checkpoints::new(), None)
            .await?;
        let (schema_ref, batches) = collect(df)
            .await
            .map_err(|e| SqlError::new(&e.error_class, &e.sql_state, e.message))?;
        render(&schema_ref, &batches)
    }
}

pub(crate) async fn collect(df: DataFrame) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|e| from_datafusion(e, "", ""))?;
    Ok((schema, batches))
}

/// The Databricks type of an Arrow column, when it is one the tables hold.
pub(super) fn sql_type(dt: &DataType) -> Option<SqlType> {
    Some(match dt {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => SqlType::String,
        DataType::Int8 => SqlType::Byte,
        DataType::Int16 | DataType::UInt8 => SqlType::Short,
        DataType::Int32 | DataType::UInt16 => SqlType::Int,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Long,
        DataType::Float16 | DataType::Float32 => SqlType::Float,
        DataType::Float64 => SqlType::Double,
        DataType::Boolean => SqlType::Boolean,
        DataType::Date32 | DataType::Date64 => SqlType::Date,
        DataType::Timestamp(..) => SqlType::Timestamp,
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => SqlType::Decimal((*p).min(38), (*s).max(0) as u8),
        DataType::Null => SqlType::Null,
        _ => return None,
    })
}

/// `(type_name, type_text)` of types the tables do not hold (query results only).
fn other_type_names(dt: &DataType) -> (String, String) {
    fn text(dt: &DataType) -> String {
        match dt {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                format!("ARRAY<{}>", text(f.data_type()))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => format!(
                    "MAP<{}, {}>",
                    text(kv[0].data_type()),
                    text(kv[1].data_type())
                ),
                _ => "MAP".into(),
            },
            DataType::Struct(fields) => format!(
                "STRUCT<{}>",
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name(), text(f.data_type())))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BINARY".into(),
            other => match sql_type(other) {
                Some(t) => t.sql_name(),
                None => format!("{other}").to_uppercase(),
            },
        }
    }
    let name = match dt {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => "ARRAY",
        DataType::Map(..) => "MAP",
        DataType::Struct(_) => "STRUCT",
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BINARY",
        _ => "STRING",
    };
    (name.into(), text(dt))
}

/// Arrow results as the statement API carries them: Databricks type names in the manifest,
/// values as Databricks prints them (timestamps `2026-01-01T00:00:00.000Z`, doubles the Java
/// way, decimals at their scale).
pub(crate) fn render(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<ResultSet, SqlError> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    let mut types = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        match sql_type(f.data_type()) {
            Some(t) => {
                columns.push(ColumnMeta::of(f.name(), &t));
                types.push(Some(t));
            }
            None => {
                let (name, text) = other_type_names(f.data_type());
                columns.push(ColumnMeta::new(f.name(), &name, &text));
                types.push(None);
            }
        }
    }
    let mut rows = Vec::new();
    let format = FormatOptions::new()
        .with_null("")
        .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.3fZ"));
    for batch in batches {
        let mut cells: Vec<Vec<Option<String>>> = Vec::with_capacity(batch.num_columns());
        for (arr, ty) in batch.columns().iter().zip(&types) {
            cells.push(match ty {
                Some(SqlType::Null) => vec![None; arr.len()],
                Some(t) => {
                    let canonical = canonical(arr, t)?;
                    storage::array_values(&canonical, t)
                        .iter()
                        .map(Value::render)
                        .collect()
                }
                None => {
                    let f = ArrayFormatter::try_new(arr.as_ref(), &format)?;
                    (0..arr.len())
                        .map(|i| (!arr.is_null(i)).then(|| f.value(i).to_string()))
                        .collect()
                }
            });
        }
        for r in 0..batch.num_rows() {
            rows.push(cells.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(ResultSet { columns, rows })
}

/// A query result as the DML statements use it: column types, names and rows of values.
pub(crate) type ValueRows = (Vec<SqlType>, Vec<String>, Vec<Vec<Value>>);

/// Arrow results as typed values (columns of a type no table holds are refused).
pub(crate) fn values(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<ValueRows, SqlError> {
    let mut types = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        types.push(sql_type(f.data_type()).ok_or_else(|| {
            SqlError::new(
                "UNSUPPORTED_DATATYPE",
                "0A000",
                format!(
                    "Unsupported data type \"{}\" for column `{}`.",
                    other_type_names(f.data_type()).1,
                    f.name()
                ),
            )
        })?);
    }
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for batch in batches {
        let mut columns = Vec::with_capacity(types.len());
        for (arr, ty) in batch.columns().iter().zip(&types) {
            columns.push(
                match ty {
                    SqlType::Null => vec![Value::Null; arr.len()],
                    t => storage::array_values(&canonical(arr, t)?, t),
                }
                .into_iter(),
            );
        }
        for _ in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter_mut()
                    .map(|c| c.next().unwrap_or(Value::Null))
                    .collect(),
            );
        }
    }
    Ok((types, names, rows))
}

/// Casts a result column to the Arrow type a table column of `ty` has, so one reader serves
/// both (strings as Utf8, timestamps as microseconds in UTC, dates as Date32).
fn canonical(arr: &ArrayRef, ty: &SqlType) -> Result<ArrayRef, SqlError> {
    let target = match ty {
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        other => Column {
            name: String::new(),
            ty: other.clone(),
            nullable: true,
            comment: None,
        }
        .arrow_type(),
    };
    if arr.data_type() == &target {
        return Ok(arr.clone());
    }
    Ok(cast(arr, &target)?)
}

/// DataFusion's errors as Databricks reports them. `catalog`/`schema` are the request's
/// defaults (named in UNRESOLVED_ROUTINE's search path).
pub(crate) fn from_datafusion(e: DataFusionError, catalog: &str, schema: &str) -> SqlError {
    let root = e.find_root();
    match root {
        DataFusionError::External(inner) => {
            if let Some(own) = inner.downcast_ref::<SqlError>() {
                return own.clone();
            }
            SqlError::internal(inner)
        }
        DataFusionError::SchemaError(se, _) => match &**se {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => {
                let name = match &field.relation {
                    Some(r) => format!("{}.`{}`", quote_dotted(&r.to_string()), field.name),
                    None => format!("`{}`", field.name),
                };
                let wanted = field.name.to_lowercase();
                // The DML statements' own row-number columns are no user's business.
                let mut candidates: Vec<(usize, String)> = valid_fields
                    .iter()
                    .filter(|c| !c.name.starts_with("__lode_"))
                    .map(|c| {
                        let quoted = match &c.relation {
                            Some(r) => format!("{}.`{}`", quote_dotted(r.table()), c.name),
                            None => format!("`{}`", c.name),
                        };
                        (edit_distance(&wanted, &c.name.to_lowercase()), quoted)
                    })
                    .collect();
                candidates.sort_by_key(|(d, _)| *d);
                let list: Vec<String> = candidates.into_iter().map(|(_, c)| c).collect();
                SqlError::unresolved_column(&name, &list)
            }
            SchemaError::AmbiguousReference { field } => {
                SqlError::ambiguous(&format!("`{}`", field.name))
            }
            other => SqlError::internal(other),
        },
        DataFusionError::SQL(p, _) => SqlError::syntax_from_parser(&p.to_string()),
        DataFusionError::Plan(m) => plan_error(m, catalog, schema),
        DataFusionError::ArrowError(a, _) if a.to_string().contains("Divide by zero") => {
            SqlError::divide_by_zero()
        }
        DataFusionError::ArrowError(a, _) if a.to_string().contains("Cannot cast string '") => {
            let text = a.to_string();
            let value = text.split('\'').nth(1).unwrap_or_default().to_string();
            let to = text
                .rsplit("value of ")
                .next()
                .and_then(|t| t.split(' ').next())
                .and_then(|t| t.parse::<DataType>().ok())
                .and_then(|t| sql_type(&t))
                .map_or("NUMBER".to_string(), |t| t.sql_name());
            SqlError::cast_invalid(&value, "STRING", &to)
        }
        DataFusionError::ArrowError(a, _) if a.to_string().contains("Can't cast value") => {
            // "Cast error: Can't cast value 3000000000 to type Int32"
            let text = a.to_string();
            let rest = text.split("Can't cast value ").nth(1).unwrap_or_default();
            let value = rest.split(" to type ").next().unwrap_or_default();
            let to = rest
                .split(" to type ")
                .nth(1)
                .and_then(|t| t.trim().parse::<DataType>().ok())
                .and_then(|t| sql_type(&t))
                .map_or("NUMBER".to_string(), |t| t.sql_name());
            SqlError::cast_overflow(value, "BIGINT", &to)
        }
        DataFusionError::Execution(m) if m.contains("[DIVIDE_BY_ZERO]") => {
            SqlError::divide_by_zero()
        }
        DataFusionError::Execution(m) | DataFusionError::NotImplemented(m) => {
            match m.strip_prefix('[').and_then(|r| r.split_once("] ")) {
                Some((class, message)) => SqlError::new(class, "42000", message),
                None => SqlError::internal(m),
            }
        }
        other => SqlError::internal(other),
    }
}

fn quote_dotted(dotted: &str) -> String {
    dotted
        .split('.')
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(".")
}

fn plan_error(m: &str, catalog: &str, schema: &str) -> SqlError {
    if let Some(rest) = m.strip_prefix("table '")
        && let Some(name) = rest.strip_suffix("' not found")
    {
        return SqlError::table_not_found(&quote_dotted(name));
    }
    if let Some(rest) = m.strip_prefix("Invalid function '") {
        let name = rest.split('\'').next().unwrap_or(rest);
        return SqlError::unknown_function(name, catalog, schema);
    }
    if m.contains("table function") && m.contains("not found") {
        let name = m.split('\'').nth(1).unwrap_or(m);
        return SqlError::unknown_function(&name.to_lowercase(), catalog, schema);
    }
    if m.contains("non-aggregate values") || m.contains("must appear in the GROUP BY clause") {
        return SqlError::new(
            "MISSING_AGGREGATION",
            "42803",
            format!(
                "The non-aggregating expression is based on columns which are not participating in the GROUP BY clause. Add the columns or the expression to the GROUP BY, aggregate the expression, or use \"any_value\" if you do not care which of the values within a group is returned. ({m})"
            ),
        );
    }
    if m.contains("Cannot infer common argument type for comparison operation")
        || m.contains("Cannot coerce arithmetic expression")
        || m.contains("There isn't a common type to coerce")
    {
        let detail = m.lines().next().unwrap_or(m);
        return SqlError::new(
            "DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES",
            "42K09",
            format!(
                "Cannot resolve the expression due to data type mismatch: the left and right operands of the binary operator have incompatible types ({detail})."
            ),
        );
    }
    if m.contains("UNION") && (m.contains("number of columns") || m.contains("same number of")) {
        return SqlError::new(
            "NUM_COLUMNS_MISMATCH",
            "42826",
            format!(
                "The set operation can only be performed on inputs with the same number of columns ({m})."
            ),
        );
    }
    SqlError::new("INTERNAL_ERROR", "XX000", m.to_string())
}

/// Levenshtein distance, to rank "Did you mean" suggestions the way Spark does.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
