//! Constructors for the Databricks error classes the SQL engine raises. Every failure a client
//! can see goes through here, so the class names, SQLSTATEs and message wording stay in one
//! place and match what Databricks SQL prints (tests and the provider match on them).

use super::SqlError;

impl SqlError {
    pub(crate) fn new(class: &str, sql_state: &str, message: impl Into<String>) -> SqlError {
        SqlError {
            error_class: class.to_string(),
            message: message.into(),
            sql_state: sql_state.to_string(),
        }
    }

    /// `near` is the offending token as written, or `None` at the end of the input.
    pub(crate) fn syntax(near: Option<&str>) -> SqlError {
        let message = match near {
            Some(t) => format!("Syntax error at or near '{t}'."),
            None => "Syntax error at or near end of input.".to_string(),
        };
        SqlError::new("PARSE_SYNTAX_ERROR", "42601", message)
    }

    /// From a sqlparser message (`Expected: ..., found: SELEC at Line: 1, Column: 1`).
    pub(crate) fn syntax_from_parser(message: &str) -> SqlError {
        let found = message.split("found: ").nth(1).map(|rest| {
            rest.split(" at Line:")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(['"', ')'])
        });
        match found {
            Some("EOF") | None => SqlError::syntax(None),
            Some(token) => SqlError::syntax(Some(token)),
        }
    }

    pub(crate) fn table_not_found(full: &str) -> SqlError {
        SqlError::new(
            "TABLE_OR_VIEW_NOT_FOUND",
            "42P01",
            format!(
                "The table or view {full} cannot be found. Verify the spelling and correctness of the schema and catalog.\n\
                 If you did not qualify the name with a schema, verify the current_schema() output, or qualify the name with the correct schema and catalog.\n\
                 To tolerate the error on drop use DROP VIEW IF EXISTS or DROP TABLE IF EXISTS."
            ),
        )
    }

    pub(crate) fn table_exists(full: &str) -> SqlError {
        SqlError::new(
            "TABLE_OR_VIEW_ALREADY_EXISTS",
            "42P07",
            format!(
                "Cannot create table or view {full} because it already exists.\n\
                 Choose a different name, drop or replace the existing object, or add the IF NOT EXISTS clause to tolerate pre-existing objects."
            ),
        )
    }

    pub(crate) fn schema_not_found(full: &str) -> SqlError {
        SqlError::new(
            "SCHEMA_NOT_FOUND",
            "42704",
            format!(
                "The schema {full} cannot be found. Verify the spelling and correctness of the schema and catalog.\n\
                 If you did not qualify the name with a catalog, verify the current_schema() output, or qualify the name with the correct catalog.\n\
                 To tolerate the error on drop use DROP SCHEMA IF EXISTS."
            ),
        )
    }

    pub(crate) fn schema_exists(full: &str) -> SqlError {
        SqlError::new(
            "SCHEMA_ALREADY_EXISTS",
            "42P06",
            format!(
                "Cannot create schema {full} because it already exists.\n\
                 Choose a different name, drop the existing schema, or add the IF NOT EXISTS clause to tolerate pre-existing schema."
            ),
        )
    }

    pub(crate) fn schema_not_empty(full: &str) -> SqlError {
        SqlError::new(
            "SCHEMA_NOT_EMPTY",
            "2BP01",
            format!(
                "Cannot drop a schema {full} because it contains objects.\n\
                 Use DROP SCHEMA ... CASCADE to drop the schema and all its objects."
            ),
        )
    }

    pub(crate) fn catalog_not_found(name: &str) -> SqlError {
        SqlError::new(
            "NO_SUCH_CATALOG_EXCEPTION",
            "42704",
            format!(
                "Catalog '{name}' was not found. Please verify the catalog name and then retry the query or command again."
            ),
        )
    }

    pub(crate) fn catalog_exists(name: &str) -> SqlError {
        SqlError::new(
            "CATALOG_ALREADY_EXISTS",
            "42P04",
            format!(
                "Cannot create catalog `{name}` because it already exists. Choose a different name, drop the existing catalog, or add the IF NOT EXISTS clause to tolerate pre-existing catalog."
            ),
        )
    }

    pub(crate) fn catalog_not_empty(name: &str) -> SqlError {
        SqlError::new(
            "CATALOG_NOT_EMPTY",
            "2BP01",
            format!(
                "Cannot drop a catalog `{name}` because it contains objects.\nUse DROP CATALOG ... CASCADE to drop the catalog and all its objects."
            ),
        )
    }

    /// `name` is the reference as written and `candidates` the columns in scope, both already
    /// back-quoted the way Databricks prints them (`` `tgt`.`id` ``).
    pub(crate) fn unresolved_column(name: &str, candidates: &[String]) -> SqlError {
        if candidates.is_empty() {
            return SqlError::new(
                "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION",
                "42703",
                format!(
                    "A column, variable, or function parameter with name {name} cannot be resolved."
                ),
            );
        }
        let list: Vec<&str> = candidates.iter().take(5).map(String::as_str).collect();
        SqlError::new(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            "42703",
            format!(
                "A column, variable, or function parameter with name {name} cannot be resolved. Did you mean one of the following? [{}].",
                list.join(", ")
            ),
        )
    }

    pub(crate) fn ambiguous(name: &str) -> SqlError {
        SqlError::new(
            "AMBIGUOUS_REFERENCE",
            "42702",
            format!("Reference {name} is ambiguous, could be: [{name}]."),
        )
    }

    pub(crate) fn not_null(column: &str) -> SqlError {
        SqlError::new(
            "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
            "23502",
            format!("NOT NULL constraint violated for column: {column}."),
        )
    }

    pub(crate) fn cast_invalid(value: &str, from: &str, to: &str) -> SqlError {
        SqlError::new(
            "CAST_INVALID_INPUT",
            "22018",
            format!(
                "The value '{value}' of the type \"{from}\" cannot be cast to \"{to}\" because it is malformed. Correct the value as per the syntax, or change its target type. Use `try_cast` to tolerate malformed input and return NULL instead."
            ),
        )
    }

    pub(crate) fn cast_overflow(value: &str, from: &str, to: &str) -> SqlError {
        SqlError::new(
            "CAST_OVERFLOW",
            "22003",
            format!(
                "The value {value} of the type \"{from}\" cannot be cast to \"{to}\" due to an overflow. Use `try_cast` to tolerate overflow and return NULL instead."
            ),
        )
    }

    pub(crate) fn decimal_overflow(value: &str, precision: u8, scale: u8) -> SqlError {
        SqlError::new(
            "NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION",
            "22003",
            format!(
                "{value} cannot be represented as Decimal({precision}, {scale}). If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error, and return NULL instead."
            ),
        )
    }

    pub(crate) fn cannot_cast(from: &str, to: &str) -> SqlError {
        SqlError::new(
            "DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION",
            "42K09",
            format!(
                "Cannot resolve due to data type mismatch: cannot cast \"{from}\" to \"{to}\"."
            ),
        )
    }

    pub(crate) fn divide_by_zero() -> SqlError {
        SqlError::new(
            "DIVIDE_BY_ZERO",
            "22012",
            "Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL instead. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error.",
        )
    }

    pub(crate) fn version_not_found(requested: i64, latest: u64) -> SqlError {
        SqlError::new(
            "DELTA_VERSION_NOT_FOUND",
            "22003",
            format!(
                "Cannot time travel Delta table to version {requested}. Available versions: [0, {latest}]."
            ),
        )
    }

    pub(crate) fn unbound_parameter(name: &str) -> SqlError {
        SqlError::new(
            "UNBOUND_SQL_PARAMETER",
            "42P02",
            format!(
                "Found the unbound parameter: {name}. Please, fix `args` and provide a mapping of the parameter to either a SQL literal or collection constructor functions such as `map()`, `array()`, `struct()`."
            ),
        )
    }

    pub(crate) fn unsupported_type(name: &str) -> SqlError {
        SqlError::new(
            "UNSUPPORTED_DATATYPE",
            "0A000",
            format!("Unsupported data type \"{}\".", name.to_uppercase()),
        )
    }

    pub(crate) fn unknown_function(name: &str, catalog: &str, schema: &str) -> SqlError {
        SqlError::new(
            "UNRESOLVED_ROUTINE",
            "42883",
            format!(
                "Cannot resolve routine `{name}` on search path [`system`.`builtin`, `system`.`session`, `{catalog}`.`{schema}`]."
            ),
        )
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> SqlError {
        SqlError::new("INTERNAL_ERROR", "XX000", format!("{message}"))
    }
}

impl From<deltalake::DeltaTableError> for SqlError {
    fn from(e: deltalake::DeltaTableError) -> SqlError {
        SqlError::internal(format!("Delta: {e}"))
    }
}

impl From<std::io::Error> for SqlError {
    fn from(e: std::io::Error) -> SqlError {
        SqlError::internal(format!("I/O: {e}"))
    }
}

impl From<deltalake::arrow::error::ArrowError> for SqlError {
    fn from(e: deltalake::arrow::error::ArrowError) -> SqlError {
        SqlError::internal(format!("Arrow: {e}"))
    }
}

impl From<deltalake::parquet::errors::ParquetError> for SqlError {
    fn from(e: deltalake::parquet::errors::ParquetError) -> SqlError {
        SqlError::internal(format!("Parquet: {e}"))
    }
}
