//! Engine tests: every statement kind against real Delta tables in temporary folders, the
//! Databricks error classes, history, time travel, restore, clone and persistence.

use super::*;

fn engine() -> (tempfile::TempDir, SqlEngine) {
    let dir = tempfile::tempdir().unwrap();
    let e = SqlEngine::new(dir.path().join("data")).unwrap();
    (dir, e)
}

async fn run(e: &SqlEngine, sql: &str) -> ResultSet {
    e.execute(sql, None, None, &[])
        .await
        .unwrap_or_else(|err| panic!("{sql}\n  -> {err}"))
}

async fn fail(e: &SqlEngine, sql: &str) -> SqlError {
    match e.execute(sql, None, None, &[]).await {
        Ok(r) => panic!("{sql} should fail, got {r:?}"),
        Err(err) => err,
    }
}

/// Rows as plain strings, NULL as "NULL", for compact assertions.
fn rows(r: &ResultSet) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

fn col_names(r: &ResultSet) -> Vec<&str> {
    r.columns.iter().map(|c| c.name.as_str()).collect()
}

/// (version, operation) of every history entry, newest first.
async fn history(e: &SqlEngine, table: &str) -> Vec<(String, String)> {
    let h = run(e, &format!("DESCRIBE HISTORY {table}")).await;
    rows(&h)
        .into_iter()
        .map(|r| (r[0].clone(), r[4].clone()))
        .collect()
}

fn s(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter()
        .map(|r| r.iter().map(|x| x.to_string()).collect())
        .collect()
}

const CUSTOMERS: &str = "CREATE TABLE customers (
    id BIGINT NOT NULL COMMENT 'primary key',
    name STRING COMMENT 'display name',
    age INT,
    score DOUBLE,
    active BOOLEAN,
    born DATE,
    updated_at TIMESTAMP,
    balance DECIMAL(10,2),
    CONSTRAINT customers_pk PRIMARY KEY (id)
) USING DELTA COMMENT 'Customer master' TBLPROPERTIES ('quality' = 'gold', 'delta.appendOnly' = 'false')";

async fn seeded() -> (tempfile::TempDir, SqlEngine) {
    let (d, e) = engine();
    run(&e, CUSTOMERS).await;
    run(
        &e,
        "INSERT INTO customers VALUES
           (1, 'Ann', 34, 1.5, true, DATE'1990-01-02', TIMESTAMP'2024-05-06 07:08:09.123', 12.5),
           (2, 'Bob', NULL, 2, false, NULL, '2024-05-06T07:08:09Z', -0.01);",
    )
    .await;
    (d, e)
}

#[tokio::test]
async fn create_insert_and_select_print_like_databricks() {
    let (_d, e) = seeded().await;
    let r = run(&e, "SELECT * FROM customers").await;
    assert_eq!(
        col_names(&r),
        [
            "id",
            "name",
            "age",
            "score",
            "active",
            "born",
            "updated_at",
            "balance"
        ]
    );
    let types: Vec<(&str, &str)> = r
        .columns
        .iter()
        .map(|c| (c.type_name.as_str(), c.type_text.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("LONG", "BIGINT"),
            ("STRING", "STRING"),
            ("INT", "INT"),
            ("DOUBLE", "DOUBLE"),
            ("BOOLEAN", "BOOLEAN"),
            ("DATE", "DATE"),
            ("TIMESTAMP", "TIMESTAMP"),
            ("DECIMAL", "DECIMAL(10,2)")
        ]
    );
    assert_eq!(
        rows(&r),
        s(&[
            &[
                "1",
                "Ann",
                "34",
                "1.5",
                "true",
                "1990-01-02",
                "2024-05-06T07:08:09.123Z",
                "12.50"
            ],
            &[
                "2",
                "Bob",
                "NULL",
                "2.0",
                "false",
                "NULL",
                "2024-05-06T07:08:09.000Z",
                "-0.01"
            ],
        ])
    );
    // Rows of every append are read (without ORDER BY, Databricks promises no order).
    run(&e, "INSERT INTO customers (id, name) VALUES (3, 'Cy')").await;
    let r = run(&e, "SELECT id FROM main.default.customers ORDER BY id").await;
    assert_eq!(rows(&r), s(&[&["1"], &["2"], &["3"]]));

    let r = run(
        &e,
        "SELECT name, age FROM `main`.`default`.`customers` WHERE id >= 2 ORDER BY id DESC LIMIT 1",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["Cy", "NULL"]]));
    let r = run(
        &e,
        "SELECT COUNT(*), MAX(score) AS top, MIN(born) FROM customers",
    )
    .await;
    assert_eq!(col_names(&r), ["count(1)", "top", "min(born)"]);
    assert_eq!(r.columns[0].type_name, "LONG");
    assert_eq!(rows(&r), s(&[&["3", "2.0", "1990-01-02"]]));
    let r = run(&e, "select id from customers where (name = 'Ann' or age is null) and not id in (3) order by id").await;
    assert_eq!(rows(&r), s(&[&["1"], &["2"]]));
    let r = run(
        &e,
        "SELECT id FROM customers WHERE updated_at > '2024-05-06 07:08:09' AND balance <> 0",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1"]]));
    let r = run(
        &e,
        "SELECT id FROM customers WHERE age != 34 OR age IS NOT NULL AND born <= DATE'2000-01-01'",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1"]]));
    // ORDER BY puts NULLs first ascending, last descending, as Spark does.
    let r = run(&e, "SELECT id FROM customers ORDER BY age, id").await;
    assert_eq!(rows(&r), s(&[&["2"], &["3"], &["1"]]));
    let r = run(&e, "SELECT id FROM customers ORDER BY age DESC, id").await;
    assert_eq!(rows(&r), s(&[&["1"], &["2"], &["3"]]));
    // Insert result and history.
    let r = run(&e, "INSERT INTO customers (id) VALUES (4), (5)").await;
    assert_eq!(col_names(&r), ["num_affected_rows", "num_inserted_rows"]);
    assert_eq!(rows(&r), s(&[&["2", "2"]]));
    let ops: Vec<String> = history(&e, "customers")
        .await
        .into_iter()
        .map(|(_, op)| op)
        .collect();
    assert_eq!(ops, ["WRITE", "WRITE", "WRITE", "CREATE TABLE"]);
}

#[tokio::test]
async fn constants_groups_and_expressions() {
    let (_d, e) = seeded().await;
    let r = run(&e, "SELECT 1").await;
    assert_eq!(col_names(&r), ["1"]);
    assert_eq!(
        (r.columns[0].type_name.as_str(), rows(&r)),
        ("INT", s(&[&["1"]]))
    );
    let r = run(&e, "SELECT 1 AS one, 'x' AS s, NULL AS n, 2.50 AS d, 1 + 2 * 3 AS a, 7 / 2 AS q, current_catalog() AS c;").await;
    assert_eq!(
        rows(&r),
        s(&[&["1", "x", "NULL", "2.50", "7", "3.5", "main"]])
    );
    assert_eq!(r.columns[3].type_text, "DECIMAL(3,2)");
    run(
        &e,
        "INSERT INTO customers (id, name, age) VALUES (3, 'Ann', 50)",
    )
    .await;
    let r = run(&e, "SELECT name, count(*) AS n, sum(age) AS total FROM customers GROUP BY name ORDER BY n DESC").await;
    assert_eq!(rows(&r), s(&[&["Ann", "2", "84"], &["Bob", "1", "NULL"]]));
    let r = run(&e, "SELECT DISTINCT name FROM customers ORDER BY name").await;
    assert_eq!(rows(&r), s(&[&["Ann"], &["Bob"]]));
    let r = run(
        &e,
        "SELECT id, CASE WHEN age > 40 THEN 'old' ELSE 'young' END AS band, upper(name) || '!' AS shout FROM customers WHERE name LIKE 'A%' ORDER BY 1",
    )
    .await;
    assert_eq!(
        rows(&r),
        s(&[&["1", "young", "ANN!"], &["3", "old", "ANN!"]])
    );
    assert_eq!(
        fail(&e, "SELECT name, count(*) FROM customers")
            .await
            .error_class,
        "MISSING_AGGREGATION"
    );
    assert_eq!(
        fail(&e, "SELECT nope(1)").await.error_class,
        "UNRESOLVED_ROUTINE"
    );
    assert_eq!(fail(&e, "SELECT 1/0").await.error_class, "DIVIDE_BY_ZERO");
    // DataFusion coerces `born = 5` (DATE = INT) where Databricks fails with
    // DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES: a known difference of the DataFusion engine.
}

#[tokio::test]
async fn parse_errors_are_parse_syntax_error() {
    let (_d, e) = engine();
    let err = fail(&e, "SELEC * FROM t").await;
    assert_eq!(
        (err.error_class.as_str(), err.sql_state.as_str()),
        ("PARSE_SYNTAX_ERROR", "42601")
    );
    assert_eq!(
        err.to_string(),
        "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'."
    );
    assert_eq!(
        fail(&e, "SELECT * FROM").await.message,
        "Syntax error at or near end of input."
    );
    assert_eq!(
        fail(&e, "GRANT SELECT ON t TO me").await.message,
        "Syntax error at or near 'GRANT'."
    );
    assert_eq!(
        fail(&e, "SELECT 1; SELECT 2").await.message,
        "Syntax error at or near 'SELECT'."
    );
}

#[tokio::test]
async fn errors_carry_databricks_classes() {
    let (_d, e) = seeded().await;
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT * FROM nope", "TABLE_OR_VIEW_NOT_FOUND", "42P01"),
        (
            "SELECT * FROM main.nope.t",
            "TABLE_OR_VIEW_NOT_FOUND",
            "42P01",
        ),
        ("CREATE TABLE nope.t (a INT)", "SCHEMA_NOT_FOUND", "42704"),
        (
            "CREATE TABLE nocat.s.t (a INT)",
            "NO_SUCH_CATALOG_EXCEPTION",
            "42704",
        ),
        (
            "CREATE SCHEMA nocat.s",
            "NO_SUCH_CATALOG_EXCEPTION",
            "42704",
        ),
        (
            "CREATE TABLE customers (a INT)",
            "TABLE_OR_VIEW_ALREADY_EXISTS",
            "42P07",
        ),
        ("CREATE SCHEMA default", "SCHEMA_ALREADY_EXISTS", "42P06"),
        (
            "SELECT nme FROM customers",
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            "42703",
        ),
        (
            "INSERT INTO customers (name) VALUES ('x')",
            "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
            "23502",
        ),
        (
            "INSERT INTO customers (id, age) VALUES (9, 'abc')",
            "CAST_INVALID_INPUT",
            "22018",
        ),
        (
            "INSERT INTO customers (id, age) VALUES (9, 3000000000)",
            "CAST_OVERFLOW",
            "22003",
        ),
        (
            "INSERT INTO customers VALUES (9, 'x')",
            "INSERT_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS",
            "21S01",
        ),
        (
            "INSERT INTO customers (id) VALUES (9, 'x')",
            "INSERT_COLUMN_ARITY_MISMATCH.TOO_MANY_DATA_COLUMNS",
            "21S01",
        ),
        (
            "SELECT * FROM customers VERSION AS OF 7",
            "DELTA_VERSION_NOT_FOUND",
            "22003",
        ),
        (
            "RESTORE TABLE customers TO VERSION AS OF 7",
            "DELTA_VERSION_NOT_FOUND",
            "22003",
        ),
        (
            "ALTER TABLE customers DROP COLUMN age",
            "DELTA_UNSUPPORTED_DROP_COLUMN",
            "0AKDC",
        ),
        (
            "ALTER TABLE customers ALTER COLUMN age TYPE BIGINT",
            "DELTA_UNSUPPORTED_ALTER_TABLE_CHANGE_COL_OP",
            "0AKDC",
        ),
        (
            "ALTER TABLE customers ADD COLUMNS (age INT)",
            "FIELDS_ALREADY_EXISTS",
            "42710",
        ),
        (
            "ALTER TABLE customers ALTER COLUMN nope COMMENT 'x'",
            "FIELD_NOT_FOUND",
            "42704",
        ),
        ("CREATE TABLE t (a FOO)", "UNSUPPORTED_DATATYPE", "0A000"),
        (
            "CREATE TABLE t (a INT, A STRING)",
            "COLUMN_ALREADY_EXISTS",
            "42711",
        ),
        ("DROP TABLE nope", "TABLE_OR_VIEW_NOT_FOUND", "42P01"),
        ("DROP SCHEMA default", "SCHEMA_NOT_EMPTY", "2BP01"),
        ("DROP SCHEMA nope", "SCHEMA_NOT_FOUND", "42704"),
        ("DESCRIBE HISTORY nope", "TABLE_OR_VIEW_NOT_FOUND", "42P01"),
    ];
    for (sql, class, state) in cases {
        let err = fail(&e, sql).await;
        assert_eq!(
            (err.error_class.as_str(), err.sql_state.as_str()),
            (*class, *state),
            "{sql}: {err}"
        );
    }
    let err = fail(&e, "SELECT * FROM nope").await;
    assert!(
        err.message.starts_with(
            "The table or view `main`.`default`.`nope` cannot be found. Verify the spelling"
        ),
        "{err}"
    );
    let err = fail(&e, "SELECT nme FROM customers").await;
    assert!(
        err.message.contains("`nme`") && err.message.contains("`customers`.`name`"),
        "{err}"
    );
    assert!(
        fail(&e, "ALTER TABLE customers DROP COLUMN age")
            .await
            .message
            .contains("Column Mapping")
    );
    // Nothing above changed the table.
    assert_eq!(history(&e, "customers").await.len(), 2);
    // IF [NOT] EXISTS tolerate.
    run(&e, "CREATE TABLE IF NOT EXISTS customers (a INT)").await;
    run(&e, "DROP TABLE IF EXISTS nope").await;
    run(&e, "CREATE SCHEMA IF NOT EXISTS default").await;
    run(&e, "DROP SCHEMA IF EXISTS nope").await;
}

#[tokio::test]
async fn merge_with_all_three_clauses_is_one_commit() {
    let (_d, e) = engine();
    run(
        &e,
        "CREATE TABLE sites (site_id INT NOT NULL, name STRING, capacity DOUBLE)",
    )
    .await;
    run(
        &e,
        "INSERT INTO sites VALUES (1, 'Plant A', 10), (2, 'Plant B', 20), (3, 'Plant C', 30)",
    )
    .await;
    let before = history(&e, "sites").await.len();
    let r = run(
        &e,
        "MERGE INTO sites AS tgt
         USING (VALUES (1, 'Plant A', 11.5), (2, 'Plant B2', 20), (4, 'Plant D', 40)) AS src(site_id, name, capacity)
         ON tgt.site_id = src.site_id
         WHEN MATCHED THEN UPDATE SET *
         WHEN NOT MATCHED THEN INSERT *
         WHEN NOT MATCHED BY SOURCE THEN DELETE",
    )
    .await;
    assert_eq!(
        col_names(&r),
        [
            "num_affected_rows",
            "num_updated_rows",
            "num_deleted_rows",
            "num_inserted_rows"
        ]
    );
    assert!(r.columns.iter().all(|c| c.type_name == "LONG"));
    assert_eq!(rows(&r), s(&[&["4", "2", "1", "1"]]));
    let data = run(&e, "SELECT * FROM sites ORDER BY site_id").await;
    assert_eq!(
        rows(&data),
        s(&[
            &["1", "Plant A", "11.5"],
            &["2", "Plant B2", "20.0"],
            &["4", "Plant D", "40.0"]
        ])
    );

    let h = run(&e, "DESCRIBE HISTORY sites").await;
    assert_eq!(h.rows.len(), before + 1, "exactly one new commit");
    let names = col_names(&h);
    assert_eq!(
        &names[..6],
        [
            "version",
            "timestamp",
            "userId",
            "userName",
            "operation",
            "operationParameters"
        ]
    );
    let top = &rows(&h)[0];
    let col = |n: &str| top[names.iter().position(|x| *x == n).unwrap()].clone();
    assert_eq!(col("version"), "2");
    assert_eq!(col("operation"), "MERGE");
    assert_eq!(col("readVersion"), "1");
    assert_eq!(col("isBlindAppend"), "false");
    let metrics: serde_json::Value = serde_json::from_str(&col("operationMetrics")).unwrap();
    assert_eq!(metrics["numTargetRowsUpdated"], "2");
    assert_eq!(metrics["numTargetRowsInserted"], "1");
    assert_eq!(metrics["numTargetRowsDeleted"], "1");
    assert_eq!(metrics["numSourceRows"], "3");
    let params: serde_json::Value = serde_json::from_str(&col("operationParameters")).unwrap();
    assert_eq!(params["predicate"], "[\"(tgt.site_id = src.site_id)\"]");
    assert!(col("timestamp").ends_with('Z'));

    // Explicit clauses, conditions, another table as source, and a no-op merge (no commit).
    run(&e, "CREATE TABLE staging (id INT, label STRING)").await;
    run(&e, "INSERT INTO staging VALUES (2, 'B-new'), (5, 'E')").await;
    let r = run(
        &e,
        "MERGE INTO sites t USING staging s ON t.site_id = s.id
         WHEN MATCHED AND s.label <> t.name THEN UPDATE SET name = s.label
         WHEN NOT MATCHED BY TARGET AND s.id > 4 THEN INSERT (site_id, name) VALUES (s.id, s.label)",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["2", "1", "0", "1"]]));
    let data = run(
        &e,
        "SELECT site_id, name, capacity FROM sites ORDER BY site_id",
    )
    .await;
    assert_eq!(
        rows(&data),
        s(&[
            &["1", "Plant A", "11.5"],
            &["2", "B-new", "20.0"],
            &["4", "Plant D", "40.0"],
            &["5", "E", "NULL"]
        ])
    );
    let n = history(&e, "sites").await.len();
    let r = run(&e, "MERGE INTO sites t USING staging s ON t.site_id = s.id WHEN NOT MATCHED THEN INSERT (site_id) VALUES (s.id)").await;
    assert_eq!(rows(&r), s(&[&["0", "0", "0", "0"]]));
    assert_eq!(history(&e, "sites").await.len(), n);

    // Two source rows for one target row.
    let err = fail(
        &e,
        "MERGE INTO sites t USING (VALUES (1, 'x'), (1, 'y')) AS s(id, n) ON t.site_id = s.id WHEN MATCHED THEN UPDATE SET name = s.n",
    )
    .await;
    assert_eq!(
        err.error_class,
        "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE"
    );
    // INSERT * needs every target column in the source; NOT NULL still holds.
    let err = fail(&e, "MERGE INTO sites t USING (VALUES (9)) AS s(site_id) ON t.site_id = s.site_id WHEN NOT MATCHED THEN INSERT *").await;
    assert_eq!(err.error_class, "DELTA_MERGE_UNRESOLVED_EXPRESSION");
    let err = fail(&e, "MERGE INTO sites t USING (VALUES (9)) AS s(x) ON t.site_id = s.x WHEN NOT MATCHED THEN INSERT (name) VALUES ('n')").await;
    assert_eq!(err.error_class, "DELTA_NOT_NULL_CONSTRAINT_VIOLATED");
    let err = fail(&e, "MERGE INTO sites t USING (VALUES (9)) AS s(x) ON t.site_id = s.nope WHEN MATCHED THEN DELETE").await;
    assert_eq!(err.error_class, "UNRESOLVED_COLUMN.WITH_SUGGESTION");
}

#[tokio::test]
async fn delete_update_truncate() {
    let (_d, e) = seeded().await;
    run(
        &e,
        "INSERT INTO customers (id, name, age) VALUES (3, 'Cy', 20)",
    )
    .await;
    let r = run(
        &e,
        "UPDATE customers SET age = age + 1, name = 'Ann B' WHERE id = 1",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1"]]));
    let r = run(&e, "DELETE FROM customers WHERE age IS NULL").await;
    assert_eq!(rows(&r), s(&[&["1"]]));
    let r = run(&e, "DELETE FROM customers WHERE id = 42").await;
    assert_eq!(rows(&r), s(&[&["0"]]));
    let data = run(&e, "SELECT id, name, age FROM customers").await;
    assert_eq!(rows(&data), s(&[&["1", "Ann B", "35"], &["3", "Cy", "20"]]));
    let ops: Vec<String> = history(&e, "customers")
        .await
        .into_iter()
        .map(|(_, op)| op)
        .take(2)
        .collect();
    assert_eq!(ops, ["DELETE", "UPDATE"]);
    assert_eq!(
        fail(&e, "UPDATE customers SET id = NULL").await.error_class,
        "DELTA_NOT_NULL_CONSTRAINT_VIOLATED"
    );
    run(&e, "TRUNCATE TABLE customers").await;
    assert_eq!(
        rows(&run(&e, "SELECT count(*) FROM customers").await),
        s(&[&["0"]])
    );
    assert_eq!(history(&e, "customers").await[0].1, "TRUNCATE");
    run(&e, "INSERT INTO customers (id) VALUES (8)").await;
    let r = run(&e, "DELETE FROM customers").await;
    assert_eq!(rows(&r), s(&[&["1"]]));
}

#[tokio::test]
async fn time_travel_and_restore() {
    let (_d, e) = seeded().await; // v0 create, v1 two rows
    run(&e, "DELETE FROM customers WHERE id = 1").await; // v2
    run(&e, "INSERT INTO customers (id, name) VALUES (7, 'Gus')").await; // v3
    let v1 = run(
        &e,
        "SELECT id, name FROM customers VERSION AS OF 1 ORDER BY id",
    )
    .await;
    assert_eq!(rows(&v1), s(&[&["1", "Ann"], &["2", "Bob"]]));
    let v0 = run(&e, "SELECT count(*) FROM customers VERSION AS OF 0").await;
    assert_eq!(rows(&v0), s(&[&["0"]]));
    let now = run(&e, "SELECT id FROM customers ORDER BY id").await;
    assert_eq!(rows(&now), s(&[&["2"], &["7"]]));

    let r = run(&e, "RESTORE TABLE customers TO VERSION AS OF 1").await;
    assert_eq!(
        col_names(&r),
        [
            "table_size_after_restore",
            "num_of_files_after_restore",
            "num_removed_files",
            "num_restored_files",
            "removed_files_size",
            "restored_files_size"
        ]
    );
    let vals = rows(&r)[0].clone();
    assert_eq!(&vals[1..4], ["1", "2", "1"]);
    assert!(vals[0].parse::<i64>().unwrap() > 0);
    let back = run(&e, "SELECT id, name FROM customers ORDER BY id").await;
    assert_eq!(rows(&back), s(&[&["1", "Ann"], &["2", "Bob"]]));
    let h = history(&e, "customers").await;
    assert_eq!(h[0], ("4".to_string(), "RESTORE".to_string()));
    // RESTORE without TABLE/TO, and to the current version (no-op).
    run(&e, "RESTORE customers VERSION AS OF 3").await;
    assert_eq!(
        rows(&run(&e, "SELECT id FROM customers ORDER BY id").await),
        s(&[&["2"], &["7"]])
    );
    let r = run(&e, "RESTORE customers VERSION AS OF 5").await;
    assert_eq!(&rows(&r)[0][2..4], ["0", "0"]);
    assert_eq!(history(&e, "customers").await.len(), 6);
    let r = run(&e, "DESCRIBE HISTORY customers LIMIT 2").await;
    assert_eq!(r.rows.len(), 2);
    // TIMESTAMP AS OF: the far past is before the first commit; "now" is after the last.
    let err = fail(&e, "SELECT * FROM customers TIMESTAMP AS OF '2000-01-01'").await;
    assert_eq!(
        err.error_class,
        "DELTA_TIMESTAMP_EARLIER_THAN_COMMIT_RETENTION"
    );
    let newest = rows(&run(&e, "DESCRIBE HISTORY customers LIMIT 1").await)[0][1].clone();
    let r = run(
        &e,
        &format!("SELECT count(*) FROM customers TIMESTAMP AS OF '{newest}'"),
    )
    .await;
    assert_eq!(rows(&r), s(&[&["2"]]));
}

#[tokio::test]
async fn alter_table_and_metadata() {
    let (_d, e) = seeded().await;
    run(
        &e,
        "ALTER TABLE customers ADD COLUMNS (tier STRING COMMENT 'customer tier', visits INT)",
    )
    .await;
    run(&e, "ALTER TABLE customers ADD COLUMN region STRING").await;
    run(&e, "INSERT INTO customers (id, tier) VALUES (3, 'gold')").await;
    let r = run(
        &e,
        "SELECT id, tier, visits, region FROM customers ORDER BY id",
    )
    .await;
    assert_eq!(
        rows(&r),
        s(&[
            &["1", "NULL", "NULL", "NULL"],
            &["2", "NULL", "NULL", "NULL"],
            &["3", "gold", "NULL", "NULL"]
        ])
    );
    run(
        &e,
        "ALTER TABLE customers ALTER COLUMN name COMMENT 'full name'",
    )
    .await;
    run(
        &e,
        "ALTER TABLE customers SET TBLPROPERTIES ('owner' = 'team-a', 'quality' = 'silver')",
    )
    .await;
    run(&e, "COMMENT ON TABLE customers IS 'All customers'").await;
    run(&e, "ALTER TABLE customers ALTER COLUMN age TYPE INT").await; // same type: accepted, no commit

    let d = run(&e, "DESCRIBE TABLE customers").await;
    assert_eq!(col_names(&d), ["col_name", "data_type", "comment"]);
    let d = rows(&d);
    assert_eq!(d[0], ["id", "bigint", "primary key"]);
    assert_eq!(d[1], ["name", "string", "full name"]);
    assert_eq!(d[7], ["balance", "decimal(10,2)", "NULL"]);
    assert_eq!(d[8], ["tier", "string", "customer tier"]);

    let meta = e
        .get_table("main", "default", "customers")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.comment.as_deref(), Some("All customers"));
    assert_eq!(meta.table_type, TableType::Managed);
    assert_eq!(
        meta.properties,
        BTreeMap::from([
            ("owner".to_string(), "team-a".to_string()),
            ("quality".to_string(), "silver".to_string())
        ])
    );
    assert_eq!(
        meta.columns[0],
        ColumnDef {
            name: "id".into(),
            type_text: "bigint".into(),
            nullable: false,
            comment: Some("primary key".into())
        }
    );
    assert_eq!(meta.columns.len(), 11);
    assert!(
        meta.storage_location.starts_with("file:///")
            && meta.storage_location.contains("/main/default/customers")
    );
    assert_eq!(meta.version, 7);
    assert!(meta.updated_at >= meta.created_at && meta.created_at > 0);
    assert_eq!(uuid::Uuid::parse_str(&meta.table_id).map(|_| ()), Ok(()));

    let ops: Vec<String> = history(&e, "customers")
        .await
        .into_iter()
        .map(|(_, op)| op)
        .collect();
    assert_eq!(
        ops,
        [
            "SET TBLPROPERTIES",
            "SET TBLPROPERTIES",
            "CHANGE COLUMN",
            "WRITE",
            "ADD COLUMNS",
            "ADD COLUMNS",
            "WRITE",
            "CREATE TABLE"
        ]
    );
    let props = run(&e, "SHOW TBLPROPERTIES customers").await;
    assert!(rows(&props).contains(&vec!["owner".to_string(), "team-a".to_string()]));
    assert!(!rows(&props).iter().any(|r| r[0].starts_with("lode.")));
}

#[tokio::test]
async fn deep_clone_copies_data_and_metadata() {
    let (_d, e) = seeded().await; // v1: Ann, Bob
    run(&e, "DELETE FROM customers WHERE id = 2").await; // v2
    let r = run(
        &e,
        "CREATE TABLE backup DEEP CLONE customers VERSION AS OF 1",
    )
    .await;
    assert_eq!(
        col_names(&r)[..2],
        ["source_table_size", "source_num_of_files"]
    );
    assert_eq!(
        rows(&run(&e, "SELECT id, name, balance FROM backup").await),
        s(&[&["1", "Ann", "12.50"], &["2", "Bob", "-0.01"]])
    );
    let h = run(&e, "DESCRIBE HISTORY backup").await;
    assert_eq!(h.rows.len(), 1);
    assert_eq!(rows(&h)[0][4], "CLONE");
    let params: serde_json::Value = serde_json::from_str(h.rows[0][5].as_deref().unwrap()).unwrap();
    assert_eq!(params["source"], "main.default.customers");
    assert_eq!(params["sourceVersion"], "1");
    let src = e
        .get_table("main", "default", "customers")
        .await
        .unwrap()
        .unwrap();
    let cl = e
        .get_table("main", "default", "backup")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(src.table_id, cl.table_id);
    assert_eq!(
        (
            cl.comment.clone(),
            cl.properties.clone(),
            cl.columns.clone()
        ),
        (src.comment, src.properties, src.columns)
    );
    assert_eq!(
        fail(&e, "CREATE TABLE backup DEEP CLONE customers")
            .await
            .error_class,
        "TABLE_OR_VIEW_ALREADY_EXISTS"
    );
    // CREATE OR REPLACE keeps the target's identity and history.
    run(&e, "CREATE OR REPLACE TABLE backup DEEP CLONE customers").await;
    assert_eq!(rows(&run(&e, "SELECT id FROM backup").await), s(&[&["1"]]));
    let again = e
        .get_table("main", "default", "backup")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.table_id, again.version), (cl.table_id, 1));
    // CTAS and CREATE OR REPLACE with columns.
    let r = run(
        &e,
        "CREATE TABLE names AS SELECT id, upper(name) AS n FROM customers",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1", "1"]]));
    assert_eq!(
        rows(&run(&e, "SELECT * FROM names").await),
        s(&[&["1", "ANN"]])
    );
    run(&e, "CREATE OR REPLACE TABLE names (k STRING)").await;
    assert_eq!(
        rows(&run(&e, "SELECT count(*) FROM names").await),
        s(&[&["0"]])
    );
    assert_eq!(history(&e, "names").await[0].1, "CREATE OR REPLACE TABLE");
}

#[tokio::test]
async fn everything_persists_across_engines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    {
        let e = SqlEngine::new(root.clone()).unwrap();
        run(&e, "CREATE CATALOG ops COMMENT 'operations'").await;
        run(
            &e,
            "CREATE SCHEMA ops.scada COMMENT 'tags' WITH DBPROPERTIES ('team' = 'ot')",
        )
        .await;
        e.execute(
            "CREATE TABLE events (ts TIMESTAMP, tag STRING, v DOUBLE)",
            Some("ops"),
            Some("scada"),
            &[],
        )
        .await
        .unwrap();
        e.execute(
            "INSERT INTO events VALUES ('2026-11-24 08:00:00', 'T1', 1.25)",
            Some("ops"),
            Some("scada"),
            &[],
        )
        .await
        .unwrap();
    }
    let e = SqlEngine::new(root).unwrap();
    let cats: Vec<String> = e
        .list_catalogs()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(cats, ["main", "ops"]);
    let schema = e.get_schema("ops", "scada").await.unwrap().unwrap();
    assert_eq!(
        (
            schema.comment.as_deref(),
            schema.properties.get("team").map(String::as_str)
        ),
        (Some("tags"), Some("ot"))
    );
    let r = run(&e, "SELECT * FROM ops.scada.events").await;
    assert_eq!(rows(&r), s(&[&["2026-11-24T08:00:00.000Z", "T1", "1.25"]]));
    assert_eq!(history(&e, "ops.scada.events").await.len(), 2);
    let schemas: Vec<String> = e
        .list_schemas("ops")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(schemas, ["default", "scada"]);
}

#[tokio::test]
async fn named_parameters() {
    let (_d, e) = seeded().await;
    let p = |v: &[(&str, Option<&str>)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect::<Vec<_>>()
    };
    e.execute(
        "INSERT INTO customers (id, name, age, balance, updated_at) VALUES (:id, :name, :age, :bal, :ts)",
        None,
        None,
        &p(&[("id", Some("5")), ("name", Some("O'Neil")), ("age", None), ("bal", Some("3.456")), ("ts", Some("2026-01-01T00:00:00Z"))]),
    )
    .await
    .unwrap();
    let r = e
        .execute(
            "SELECT name, age, balance, updated_at FROM customers WHERE id = :id",
            None,
            None,
            &p(&[("id", Some("5"))]),
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&r),
        s(&[&["O'Neil", "NULL", "3.46", "2026-01-01T00:00:00.000Z"]])
    );
    let r = e
        .execute(
            "SELECT count(*) FROM customers WHERE id > :min LIMIT :n",
            None,
            None,
            &p(&[("min", Some("1")), ("n", Some("5"))]),
        )
        .await
        .unwrap();
    assert_eq!(rows(&r), s(&[&["2"]]));
    let err = e
        .execute("SELECT * FROM customers WHERE id = :nope", None, None, &[])
        .await
        .unwrap_err();
    assert_eq!(
        (err.error_class.as_str(), err.sql_state.as_str()),
        ("UNBOUND_SQL_PARAMETER", "42P02")
    );
    let err = e
        .execute(
            "INSERT INTO customers (id) VALUES (:id)",
            None,
            None,
            &p(&[("id", Some("x"))]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_class, "CAST_INVALID_INPUT");
    let r = e
        .execute(
            "SELECT id FROM IDENTIFIER(:t) WHERE id = 1",
            None,
            None,
            &p(&[("t", Some("main.default.customers"))]),
        )
        .await
        .unwrap();
    assert_eq!(rows(&r), s(&[&["1"]]));
}

#[tokio::test]
async fn catalog_and_schema_api() {
    let (_d, e) = engine();
    assert_eq!(
        e.list_catalogs().await.unwrap(),
        [CatalogMeta {
            name: "main".into(),
            comment: Some("Main catalog".into())
        }]
    );
    let props = BTreeMap::from([("k".to_string(), "v".to_string())]);
    let s1 = e
        .create_schema("main", "Sales", Some("c1"), &props)
        .await
        .unwrap();
    assert_eq!(
        (s1.name.as_str(), s1.catalog.as_str(), s1.comment.as_deref()),
        ("sales", "main", Some("c1"))
    );
    assert_eq!(
        e.create_schema("main", "sales", None, &BTreeMap::new())
            .await
            .unwrap_err()
            .error_class,
        "SCHEMA_ALREADY_EXISTS"
    );
    assert_eq!(
        e.create_schema("nope", "x", None, &BTreeMap::new())
            .await
            .unwrap_err()
            .error_class,
        "NO_SUCH_CATALOG_EXCEPTION"
    );
    let s2 = e
        .update_schema("main", "sales", Some("c2"), None)
        .await
        .unwrap();
    assert_eq!(
        (s2.comment.as_deref(), s2.properties.clone(), s2.created_at),
        (Some("c2"), props, s1.created_at)
    );
    let s3 = e
        .update_schema("main", "sales", None, Some(&BTreeMap::new()))
        .await
        .unwrap();
    assert_eq!(
        (s3.comment.as_deref(), s3.properties.len()),
        (Some("c2"), 0)
    );
    assert_eq!(
        e.update_schema("main", "nope", None, None)
            .await
            .unwrap_err()
            .error_class,
        "SCHEMA_NOT_FOUND"
    );
    run(&e, "CREATE TABLE sales.orders (id INT)").await;
    assert_eq!(
        e.drop_schema("main", "sales", false)
            .await
            .unwrap_err()
            .error_class,
        "SCHEMA_NOT_EMPTY"
    );
    assert_eq!(e.list_tables("main", "sales").await.unwrap().len(), 1);
    e.drop_schema("main", "sales", true).await.unwrap();
    assert_eq!(e.get_schema("main", "sales").await.unwrap(), None);
    assert_eq!(
        e.list_tables("main", "sales")
            .await
            .unwrap_err()
            .error_class,
        "SCHEMA_NOT_FOUND"
    );
    // SQL forms.
    run(&e, "CREATE SCHEMA IF NOT EXISTS main.ops COMMENT 'x'").await;
    run(&e, "COMMENT ON SCHEMA ops IS 'y'").await;
    assert_eq!(
        e.get_schema("main", "ops")
            .await
            .unwrap()
            .unwrap()
            .comment
            .as_deref(),
        Some("y")
    );
    let r = run(&e, "SHOW SCHEMAS").await;
    assert_eq!(rows(&r), s(&[&["default"], &["ops"]]));
    run(&e, "CREATE CATALOG IF NOT EXISTS lab").await;
    assert_eq!(
        fail(&e, "CREATE CATALOG lab").await.error_class,
        "CATALOG_ALREADY_EXISTS"
    );
    assert_eq!(
        rows(&run(&e, "SHOW CATALOGS").await),
        s(&[&["lab"], &["main"]])
    );
    run(&e, "CREATE TABLE lab.default.t (a INT)").await;
    assert_eq!(
        fail(&e, "DROP CATALOG lab").await.error_class,
        "CATALOG_NOT_EMPTY"
    );
    run(&e, "DROP CATALOG lab CASCADE").await;
    run(&e, "DROP SCHEMA ops").await;
    assert_eq!(e.list_catalogs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn datasets_tables_api_and_show() {
    let (_d, e) = engine();
    let cols = vec![
        ColumnDef {
            name: "window_start".into(),
            type_text: "timestamp".into(),
            nullable: false,
            comment: None,
        },
        ColumnDef {
            name: "avg_v".into(),
            type_text: "decimal(10,2)".into(),
            nullable: true,
            comment: Some("mean".into()),
        },
    ];
    let m = e
        .ensure_dataset(
            "main",
            "default",
            "Gold_KPIs",
            TableType::MaterializedView,
            &cols,
            Some("kpis"),
            "pipe-1",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            m.name.as_str(),
            m.table_type,
            m.pipeline_id.as_deref(),
            m.version
        ),
        ("gold_kpis", TableType::MaterializedView, Some("pipe-1"), 0)
    );
    assert_eq!(m.columns, cols);
    assert!(m.properties.is_empty());
    let again = e
        .ensure_dataset(
            "main",
            "default",
            "gold_kpis",
            TableType::MaterializedView,
            &[],
            None,
            "pipe-2",
        )
        .await
        .unwrap();
    assert_eq!(again.table_id, m.table_id);
    assert_eq!(
        serde_json::to_value(&m).unwrap()["table_type"],
        "MATERIALIZED_VIEW"
    );
    e.ensure_dataset(
        "main",
        "default",
        "bronze",
        TableType::StreamingTable,
        &cols[..1],
        None,
        "pipe-1",
    )
    .await
    .unwrap();
    run(&e, "CREATE TABLE seed (id INT)").await;
    run(&e, "INSERT INTO seed VALUES (2), (1)").await;
    let names: Vec<String> = e
        .list_tables("main", "default")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["bronze", "gold_kpis", "seed"]);
    let r = run(&e, "SHOW TABLES IN main.default LIKE 'g*|s*'").await;
    assert_eq!(col_names(&r), ["database", "tableName", "isTemporary"]);
    assert_eq!(
        rows(&r),
        s(&[
            &["default", "gold_kpis", "false"],
            &["default", "seed", "false"]
        ])
    );
    let rr = e.read_rows("main", "default", "seed").await.unwrap();
    assert_eq!(
        (rr.columns[0].type_name.as_str(), rows(&rr)),
        ("INT", s(&[&["2"], &["1"]]))
    );
    assert_eq!(e.get_table("main", "default", "nope").await.unwrap(), None);
    e.drop_table("main", "default", "seed").await.unwrap();
    assert_eq!(
        e.drop_table("main", "default", "seed")
            .await
            .unwrap_err()
            .error_class,
        "TABLE_OR_VIEW_NOT_FOUND"
    );
    assert_eq!(
        e.read_rows("main", "default", "seed")
            .await
            .unwrap_err()
            .error_class,
        "TABLE_OR_VIEW_NOT_FOUND"
    );
    run(&e, "DROP TABLE gold_kpis").await;
    assert_eq!(e.list_tables("main", "default").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_serialised() {
    let (_d, e) = engine();
    run(&e, "CREATE TABLE c (id INT)").await;
    let e = Arc::new(e);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let e = e.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                e.execute(&format!("INSERT INTO c VALUES ({i})"), None, None, &[]).await
            } else {
                e.execute(
                    &format!("MERGE INTO c USING (VALUES ({i})) AS s(id) ON c.id = s.id WHEN NOT MATCHED THEN INSERT *"),
                    None,
                    None,
                    &[],
                )
                .await
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(rows(&run(&e, "SELECT count(*) FROM c").await), s(&[&["8"]]));
    assert_eq!(history(&e, "c").await.len(), 9);
}

#[tokio::test]
async fn insert_select_overwrite_and_subqueries() {
    let (_d, e) = seeded().await;
    run(&e, "CREATE TABLE ids (id BIGINT, label STRING)").await;
    let r = run(
        &e,
        "INSERT INTO ids SELECT id, name FROM customers WHERE id > 1",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1", "1"]]));
    run(&e, "INSERT INTO TABLE ids (label, id) VALUES ('z', 26)").await;
    assert_eq!(
        rows(&run(&e, "SELECT * FROM ids ORDER BY id").await),
        s(&[&["2", "Bob"], &["26", "z"]])
    );
    // INSERT OVERWRITE replaces the rows in one WRITE commit.
    run(&e, "INSERT OVERWRITE ids VALUES (7, 'seven')").await;
    assert_eq!(
        rows(&run(&e, "SELECT * FROM ids").await),
        s(&[&["7", "seven"]])
    );
    let h = run(&e, "DESCRIBE HISTORY ids LIMIT 1").await;
    assert_eq!(
        (h.rows[0][4].as_deref(), h.rows[0][5].as_deref()),
        (
            Some("WRITE"),
            Some("{\"mode\":\"Overwrite\",\"partitionBy\":\"[]\"}")
        )
    );
    // FROM a subquery and from inline VALUES; aliases qualify columns.
    let r = run(
        &e,
        "SELECT x.n FROM (SELECT name AS n, id FROM customers WHERE active) AS x",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["Ann"]]));
    let r = run(
        &e,
        "SELECT v.b, col1 FROM (VALUES (1, 'a'), (2, 'b')) AS v(col1, b) WHERE v.col1 = 2",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["b", "2"]]));
    let r = run(&e, "SELECT c.* FROM customers c WHERE c.id = 2").await;
    assert_eq!(r.columns.len(), 8);
    // DELETE and UPDATE with an alias.
    run(
        &e,
        "UPDATE customers AS c SET c.name = 'Robert' WHERE c.id = 2",
    )
    .await;
    run(&e, "DELETE FROM customers c WHERE c.name = 'Ann'").await;
    assert_eq!(
        rows(&run(&e, "SELECT id, name FROM customers").await),
        s(&[&["2", "Robert"]])
    );
    // Comparisons are typed by the column: numbers numerically, not as text.
    run(&e, "INSERT INTO customers (id) VALUES (10)").await;
    assert_eq!(
        rows(&run(&e, "SELECT id FROM customers WHERE id > '9'").await),
        s(&[&["10"]])
    );
    assert_eq!(
        fail(&e, "SELECT id FROM customers WHERE id = 'ten'")
            .await
            .error_class,
        "CAST_INVALID_INPUT"
    );
    assert_eq!(rows(&run(&e, "SELECT id FROM customers WHERE id BETWEEN 3 AND 10 OR name IN ('x', 'Robert') ORDER BY id").await), s(&[&["2"], &["10"]]));
}

#[tokio::test]
async fn table_comments_and_properties() {
    let (_d, e) = engine();
    run(
        &e,
        "CREATE TABLE t (a INT) TBLPROPERTIES ('comment' = 'from props', 'k' = 'v')",
    )
    .await;
    let m = e.get_table("main", "default", "t").await.unwrap().unwrap();
    assert_eq!(
        (m.comment.as_deref(), m.properties.len()),
        (Some("from props"), 1)
    );
    run(&e, "ALTER TABLE t SET TBLPROPERTIES ('comment' = 'c2')").await;
    assert_eq!(
        e.get_table("main", "default", "t")
            .await
            .unwrap()
            .unwrap()
            .comment
            .as_deref(),
        Some("c2")
    );
    run(&e, "COMMENT ON TABLE t IS NULL").await;
    assert_eq!(
        e.get_table("main", "default", "t")
            .await
            .unwrap()
            .unwrap()
            .comment,
        None
    );
    run(&e, "INSERT INTO t VALUES (1)").await;
    // A NOT NULL column cannot be added over existing rows; a nullable one can.
    assert_eq!(
        fail(&e, "ALTER TABLE t ADD COLUMN b INT NOT NULL")
            .await
            .error_class,
        "DELTA_NOT_NULL_CONSTRAINT_VIOLATED"
    );
    run(&e, "ALTER TABLE t ADD COLUMN b INT COMMENT 'bee'").await;
    let m = e.get_table("main", "default", "t").await.unwrap().unwrap();
    assert_eq!(m.columns[1].comment.as_deref(), Some("bee"));
    // The primary key is kept out of the properties.
    run(
        &e,
        "CREATE TABLE pk (id INT NOT NULL PRIMARY KEY, v STRING)",
    )
    .await;
    assert!(
        e.get_table("main", "default", "pk")
            .await
            .unwrap()
            .unwrap()
            .properties
            .is_empty()
    );
    assert_eq!(
        fail(&e, "CREATE TABLE pk2 (id INT, PRIMARY KEY (nope))")
            .await
            .error_class,
        "UNRESOLVED_COLUMN.WITH_SUGGESTION"
    );
}

#[tokio::test]
async fn union_all_keeps_every_row_union_removes_duplicates_and_columns_must_match() {
    let (_d, e) = engine();
    run(&e, "CREATE CATALOG c").await;
    run(&e, "CREATE SCHEMA c.s").await;
    run(&e, "CREATE TABLE c.s.a (id INT, name STRING)").await;
    run(
        &e,
        "CREATE TABLE c.s.b (code STRING, score DOUBLE, day DATE)",
    )
    .await;
    run(&e, "INSERT INTO c.s.a VALUES (1, 'x'), (2, NULL)").await;
    run(&e, "INSERT INTO c.s.b VALUES ('k', 2.5, DATE '2020-03-16')").await;
    let r = run(
        &e,
        "SELECT 'a' AS t, CAST(id AS STRING) AS v0, CAST(name AS STRING) AS v1, CAST(NULL AS STRING) AS v2 FROM c.s.a \
         UNION ALL SELECT 'b', CAST(code AS STRING), CAST(score AS STRING), CAST(day AS STRING) FROM c.s.b ORDER BY t, v0",
    )
    .await;
    assert_eq!(col_names(&r), ["t", "v0", "v1", "v2"]);
    assert_eq!(
        rows(&r),
        [
            ["a", "1", "x", "NULL"],
            ["a", "2", "NULL", "NULL"],
            ["b", "k", "2.5", "2020-03-16"],
        ]
    );
    let r = run(
        &e,
        "SELECT 1 AS n UNION SELECT 1 UNION ALL SELECT 2 ORDER BY n",
    )
    .await;
    assert_eq!(rows(&r), [["1"], ["2"]]);
    let err = fail(&e, "SELECT 1, 2 UNION ALL SELECT 3").await;
    assert_eq!(err.error_class, "NUM_COLUMNS_MISMATCH");
}

async fn plants(e: &SqlEngine) {
    run(
        e,
        "CREATE TABLE plants (id INT NOT NULL, name STRING, region STRING)",
    )
    .await;
    run(
        e,
        "INSERT INTO plants VALUES (1, 'A', 'north'), (2, 'B', 'south'), (3, 'C', 'north')",
    )
    .await;
    run(e, "CREATE TABLE output (plant_id INT, mwh DOUBLE)").await;
    run(e, "INSERT INTO output VALUES (1, 10.0), (1, 5.0), (2, 7.0)").await;
}

#[tokio::test]
async fn issue_15_insert_and_ctas_take_a_join_a_cte_and_a_window_from_datafusion() {
    let (_d, e) = engine();
    plants(&e).await;
    run(&e, "CREATE TABLE totals (name STRING, mwh DOUBLE)").await;
    let r = run(
        &e,
        "INSERT INTO totals WITH t AS (SELECT plant_id, sum(mwh) AS mwh FROM output GROUP BY plant_id)
         SELECT p.name, t.mwh FROM plants p JOIN t ON p.id = t.plant_id",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["2", "2"]]));
    let data = run(&e, "SELECT name, mwh FROM totals ORDER BY name").await;
    assert_eq!(rows(&data), s(&[&["A", "15.0"], &["B", "7.0"]]));
    run(
        &e,
        "CREATE TABLE ranked AS SELECT name, row_number() OVER (PARTITION BY region ORDER BY id DESC) AS rk FROM plants",
    )
    .await;
    let data = run(&e, "SELECT name, rk FROM ranked ORDER BY name").await;
    assert_eq!(rows(&data), s(&[&["A", "2"], &["B", "1"], &["C", "1"]]));
    assert_eq!(history(&e, "totals").await[0].1, "WRITE");
}

#[tokio::test]
async fn issue_15_update_and_delete_filter_with_subqueries() {
    let (_d, e) = engine();
    plants(&e).await;
    let r = run(
        &e,
        "UPDATE plants SET name = concat(name, '+') WHERE id IN (SELECT plant_id FROM output WHERE mwh > 6)",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["2"]]));
    let r = run(
        &e,
        "DELETE FROM plants p WHERE NOT EXISTS (SELECT 1 FROM output o WHERE o.plant_id = p.id)",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1"]]));
    // Insertion order survives both rewrites.
    let data = run(&e, "SELECT id, name FROM plants").await;
    assert_eq!(rows(&data), s(&[&["1", "A+"], &["2", "B+"]]));
    let ops: Vec<String> = history(&e, "plants")
        .await
        .into_iter()
        .map(|(_, op)| op)
        .take(2)
        .collect();
    assert_eq!(ops, ["DELETE", "UPDATE"]);
}

#[tokio::test]
async fn issue_15_merge_takes_a_cte_and_join_source() {
    let (_d, e) = engine();
    plants(&e).await;
    let r = run(
        &e,
        "MERGE INTO plants t USING (
           WITH busy AS (SELECT plant_id, count(*) AS n FROM output GROUP BY plant_id)
           SELECT p.id, CASE WHEN b.n > 0 THEN concat(p.name, '-', CAST(b.n AS STRING)) END AS name, p.region
           FROM plants p LEFT JOIN busy b ON b.plant_id = p.id
           UNION ALL SELECT 4, 'D', 'east'
         ) s ON t.id = s.id
         WHEN MATCHED AND s.name IS NOT NULL THEN UPDATE SET name = s.name
         WHEN NOT MATCHED THEN INSERT *",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["3", "2", "0", "1"]]));
    let data = run(&e, "SELECT id, name, region FROM plants ORDER BY id").await;
    assert_eq!(
        rows(&data),
        s(&[
            &["1", "A-2", "north"],
            &["2", "B-1", "south"],
            &["3", "C", "north"],
            &["4", "D", "east"]
        ])
    );
    assert_eq!(history(&e, "plants").await[0].1, "MERGE");
}

/// DML hands its expressions back to DataFusion as SQL text: Spark's string escapes must
/// survive that round trip (and DDL literals be unescaped once).
#[tokio::test]
async fn backslash_escapes_survive_the_dml_round_trip() {
    let (_d, e) = engine();
    run(&e, r"CREATE TABLE q (a STRING, b STRING) COMMENT 'it\'s'").await;
    run(&e, r"INSERT INTO q VALUES ('it\'s', 'a\\b')").await;
    run(&e, r"UPDATE q SET b = concat(b, '\\c') WHERE a = 'it\'s'").await;
    let data = run(&e, "SELECT a, b FROM q").await;
    assert_eq!(rows(&data), s(&[&["it's", r"a\b\c"]]));
    let meta = e.get_table("main", "default", "q").await.unwrap().unwrap();
    assert_eq!(meta.comment.as_deref(), Some("it's"));
}

/// Literal `VALUES` rows skip DataFusion's planner (`inline_rows`); the table they produce must
/// be exactly what the engine makes of the same rows when one cell is an expression and the
/// whole list goes through DataFusion.
#[tokio::test]
async fn literal_values_rows_land_exactly_as_the_engine_would_write_them() {
    let (_d, e) = engine();
    let columns = "(id INT NOT NULL, name STRING, capacity DOUBLE, price DECIMAL(10,2), opened DATE, \
                   seen TIMESTAMP, active BOOLEAN, delta BIGINT)";
    // The first row differs only in its last cell: `-3` literal against `0 - 3` computed.
    let rows_sql = |last: &str| {
        format!(
            "(1, 'it\\'s', 11.5, 2.5, DATE '2026-01-02', TIMESTAMP '2026-01-02 03:04:05', true, {last}), \
             (2, NULL, 20, -7.25, NULL, NULL, false, 9000000000), \
             (3, 'Plant \\\\C', 1e3, 0, DATE '2020-02-29', TIMESTAMP '2026-12-07T10:00:00Z', NULL, NULL)"
        )
    };
    for (table, last) in [("fast", "-3"), ("engine", "0 - 3")] {
        run(&e, &format!("CREATE TABLE {table} {columns}")).await;
        run(
            &e,
            &format!(
                "MERGE INTO {table} AS t USING (VALUES {}) AS s(id, name, capacity, price, opened, seen, active, delta) \
                 ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
                rows_sql(last)
            ),
        )
        .await;
        run(
            &e,
            &format!(
                "INSERT INTO {table} VALUES {}",
                rows_sql(last)
                    .replace("(1,", "(11,")
                    .replace("(2,", "(12,")
                    .replace("(3,", "(13,")
            ),
        )
        .await;
    }
    let fast = run(&e, "SELECT * FROM fast ORDER BY id").await;
    let engine_rows = run(&e, "SELECT * FROM engine ORDER BY id").await;
    assert_eq!(rows(&fast), rows(&engine_rows));
    assert_eq!(rows(&fast).len(), 6);
    assert_eq!(rows(&fast)[0][1], "it's");
    assert_eq!(rows(&fast)[2][1], r"Plant \C");
    // A literal that does not fit its column fails the same way on both paths.
    let fast_err = fail(
        &e,
        "INSERT INTO fast (id, opened) VALUES (20, 'not a date')",
    )
    .await;
    let engine_err = fail(
        &e,
        "INSERT INTO engine (id, opened) VALUES (20 + 0, 'not a date')",
    )
    .await;
    assert_eq!(fast_err.error_class, engine_err.error_class);
}

/// An insert-only MERGE appends, as Delta's does: the target's files stay, only the new rows
/// are written. (The seed staging table takes one such MERGE per batch; rewriting it whole each
/// time made a large seed quadratic.)
#[tokio::test]
async fn an_insert_only_merge_appends_and_removes_no_file() {
    let (_d, e) = engine();
    run(&e, "CREATE TABLE t (id INT, name STRING)").await;
    run(&e, "INSERT INTO t VALUES (1, 'a'), (2, 'b')").await;
    let r = run(
        &e,
        "MERGE INTO t USING (VALUES (2, 'B'), (3, 'c')) AS s(id, name) ON t.id = s.id \
         WHEN NOT MATCHED THEN INSERT *",
    )
    .await;
    assert_eq!(rows(&r), s(&[&["1", "0", "0", "1"]]));
    let data = run(&e, "SELECT id, name FROM t ORDER BY id").await;
    assert_eq!(rows(&data), s(&[&["1", "a"], &["2", "b"], &["3", "c"]]));
    let h = run(&e, "DESCRIBE HISTORY t").await;
    let metrics_at = h
        .columns
        .iter()
        .position(|c| c.name == "operationMetrics")
        .unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(h.rows[0][metrics_at].as_deref().unwrap()).unwrap();
    assert_eq!(metrics["numTargetFilesRemoved"], "0");
    assert_eq!(metrics["numTargetRowsInserted"], "1");
    assert_eq!(metrics["numTargetRowsCopied"], "0");
    assert_eq!(history(&e, "t").await[0].1, "MERGE");
}

/// Issue 16: auto compaction keeps a table that a stream appends to every second at a bounded
/// number of files, with its rows, history and streaming reads intact.
mod issue_16_auto_compaction {
    use std::ops::Range;

    use serde_json::json;

    use super::super::{Checkpoints, SqlEngine, SqlError, TableName, storage};

    /// Delta's `autoCompact.minNumFiles`: the number of small files Databricks compacts at.
    const MIN_NUM_FILES: usize = 50;

    async fn engine_with_events() -> (tempfile::TempDir, SqlEngine) {
        let dir = tempfile::tempdir().unwrap();
        let engine = SqlEngine::new(dir.path().join("tables")).unwrap();
        run(
            &engine,
            "CREATE TABLE main.default.events (id STRING NOT NULL, n INT)",
        )
        .await;
        (dir, engine)
    }

    async fn run(engine: &SqlEngine, sql: &str) -> Vec<Vec<Option<String>>> {
        engine
            .execute(sql, None, None, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows
    }

    /// The first column of every row.
    async fn firsts(engine: &SqlEngine, sql: &str) -> Vec<String> {
        run(engine, sql)
            .await
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect()
    }

    /// The ids batches `batches` appended, in order.
    fn ids(batches: Range<usize>) -> Vec<String> {
        batches
            .flat_map(|b| (0..3).map(move |r| format!("b{b:03}-{r}")))
            .collect()
    }

    /// Appends batch `b` (three rows) the way a Zerobus stream does, in one commit; returns
    /// the commit's version.
    async fn append(engine: &SqlEngine, b: usize) -> u64 {
        let records: Vec<_> = ids(b..b + 1)
            .into_iter()
            .map(|id| json!({"id": id, "n": b}))
            .collect();
        engine
            .append_json_records("main", "default", "events", &records)
            .await
            .unwrap()
            .version
            .unwrap()
    }

    async fn live_files(engine: &SqlEngine) -> usize {
        let dir = engine.table_dir(&TableName {
            catalog: "main".into(),
            schema: "default".into(),
            table: "events".into(),
        });
        storage::files(&storage::open(&dir).await.unwrap())
            .await
            .unwrap()
            .len()
    }

    /// `(version, parameters)` of every OPTIMIZE in the table's history, oldest first.
    async fn compactions(engine: &SqlEngine) -> Vec<(u64, String)> {
        let mut found: Vec<(u64, String)> = run(engine, "DESCRIBE HISTORY main.default.events")
            .await
            .into_iter()
            .filter(|r| r[4].as_deref() == Some("OPTIMIZE"))
            .map(|r| {
                let version = r[0].as_deref().unwrap().parse().unwrap();
                (version, r[5].clone().unwrap_or_default())
            })
            .collect();
        found.reverse();
        found
    }

    #[tokio::test]
    async fn issue_16_a_table_that_gets_small_appends_keeps_a_bounded_file_count_and_its_rows() {
        let (_dir, engine) = engine_with_events().await;
        let mut appended_at = Vec::new();
        for b in 0..120 {
            appended_at.push(append(&engine, b).await);
            let files = live_files(&engine).await;
            assert!(
                files < MIN_NUM_FILES,
                "after append {b}: {files} live files"
            );
        }
        // Every row once, and still in insertion order where the engine keeps it (the rows a
        // DML statement numbers, the Unity Catalog row read).
        assert_eq!(
            firsts(&engine, "SELECT id FROM main.default.events ORDER BY id").await,
            ids(0..120)
        );
        let in_insertion_order: Vec<String> = engine
            .read_rows("main", "default", "events")
            .await
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect();
        assert_eq!(in_insertion_order, ids(0..120));
        // The 50th and the 99th append left 50 small files (the second time: 49 new ones and
        // the first compaction's): each was compacted into one, in an OPTIMIZE commit of its own.
        let optimized = compactions(&engine).await;
        let versions: Vec<u64> = optimized.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, [appended_at[49] + 1, appended_at[98] + 1]);
        assert!(
            optimized[0].1.contains(r#""auto":"true""#),
            "{:?}",
            optimized[0]
        );
        // Time travel reads what each version read: before, at and after a compaction.
        for (version, batches) in [
            (appended_at[29], 0..30),
            (appended_at[49], 0..50),
            (versions[0], 0..50),
            (appended_at[50], 0..51),
            (versions[1], 0..99),
        ] {
            assert_eq!(
                firsts(
                    &engine,
                    &format!(
                        "SELECT id FROM main.default.events VERSION AS OF {version} ORDER BY id"
                    )
                )
                .await,
                ids(batches),
                "version {version}"
            );
        }
        // A table whose `delta.autoOptimize.autoCompact` is false keeps every file.
        let (_dir, engine) = engine_with_events().await;
        run(
            &engine,
            "ALTER TABLE main.default.events SET TBLPROPERTIES ('delta.autoOptimize.autoCompact' = 'false')",
        )
        .await;
        for b in 0..MIN_NUM_FILES + 5 {
            append(&engine, b).await;
        }
        assert_eq!(live_files(&engine).await, MIN_NUM_FILES + 5);
        assert!(compactions(&engine).await.is_empty());
    }

    /// `STREAM(events)` after version `since`, up to `upto`, as a pipeline update reads it.
    async fn stream(engine: &SqlEngine, since: u64, upto: u64) -> Result<Vec<String>, SqlError> {
        let checkpoints = Checkpoints::from([("events".to_string(), (Some(since), upto))]);
        let (_, batches) = engine
            .query_batches(
                "SELECT id FROM STREAM(events)",
                "main",
                "default",
                &checkpoints,
            )
            .await?;
        let mut out = Vec::new();
        for batch in batches {
            let column = deltalake::arrow::compute::cast(
                batch.column(0),
                &deltalake::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let column = deltalake::arrow::array::AsArray::as_string::<i32>(&column);
            out.extend(column.iter().map(|v| v.unwrap_or_default().to_string()));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn issue_16_a_streaming_read_across_a_compaction_returns_each_appended_row_once() {
        let (_dir, engine) = engine_with_events().await;
        let mut appended_at = Vec::new();
        for b in 0..60 {
            appended_at.push(append(&engine, b).await);
        }
        let optimized = compactions(&engine).await;
        assert_eq!(optimized.len(), 1, "one compaction after 50 appends");
        let compacted_at = optimized[0].0;
        // From before the compaction (whose files it removed) to after it: the rows of the
        // appends in between, each once; the compacted file's copies are not read again.
        assert_eq!(
            stream(&engine, appended_at[39], appended_at[59])
                .await
                .unwrap(),
            ids(40..60)
        );
        // Up to the compaction only: the appends before it; the compaction alone: nothing.
        assert_eq!(
            stream(&engine, appended_at[44], compacted_at)
                .await
                .unwrap(),
            ids(45..50)
        );
        assert_eq!(
            stream(&engine, appended_at[49], compacted_at)
                .await
                .unwrap(),
            Vec::<String>::new()
        );
        // A commit that removed data is not an append: the stream refuses it, as on Databricks.
        run(&engine, "DELETE FROM main.default.events WHERE n = 3").await;
        let latest = engine
            .table_version("main", "default", "events")
            .await
            .unwrap()
            .unwrap();
        let refused = stream(&engine, appended_at[59], latest).await.unwrap_err();
        assert_eq!(refused.error_class, "DELTA_SOURCE_TABLE_IGNORE_CHANGES");
    }
}
