//! Issue 15's SQL conformance cases: queries a Databricks SQL warehouse runs every day (joins,
//! CTEs, subqueries, windows, set operations, the demo's functions, information_schema, SHOW
//! CREATE TABLE, time travel), each with its expected rows or error class.

use super::{SqlEngine, SqlError};

async fn lake() -> (tempfile::TempDir, SqlEngine) {
    let dir = tempfile::tempdir().unwrap();
    let e = SqlEngine::new(dir.path().join("data")).unwrap();
    for sql in [
        "CREATE TABLE equipment (id STRING NOT NULL COMMENT 'equipment id', kind STRING, site STRING) COMMENT 'Equipment master'",
        "INSERT INTO equipment VALUES ('CR_001', 'Crusher', 'North'), ('CR_002', 'Crusher', 'North'), ('HT_005', 'Truck', 'South'), ('CV_001', 'Conveyor', NULL)",
        "CREATE TABLE readings (id STRING, ts TIMESTAMP, metric STRING, v DOUBLE, ok BOOLEAN)",
        "INSERT INTO readings VALUES
           ('CR_001', TIMESTAMP'2026-01-01 00:00:10', 'vib', 10.0, true),
           ('CR_001', TIMESTAMP'2026-01-01 00:00:50', 'vib', 14.0, true),
           ('CR_002', TIMESTAMP'2026-01-01 00:00:20', 'vib', 41.5, true),
           ('CR_002', TIMESTAMP'2026-01-01 00:01:20', 'vib', 57.25, false),
           ('HT_005', TIMESTAMP'2026-01-01 00:00:30', 'speed', 40.0, true),
           ('XX_009', TIMESTAMP'2026-01-01 00:00:40', 'vib', 5.0, NULL)",
    ] {
        run(&e, sql).await;
    }
    (dir, e)
}

async fn run(e: &SqlEngine, sql: &str) -> super::ResultSet {
    e.execute(sql, None, None, &[])
        .await
        .unwrap_or_else(|err| panic!("{sql}\n  -> {err}"))
}

async fn rows(e: &SqlEngine, sql: &str) -> Vec<Vec<String>> {
    run(e, sql)
        .await
        .rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| c.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

async fn fail(e: &SqlEngine, sql: &str) -> SqlError {
    match e.execute(sql, None, None, &[]).await {
        Ok(r) => panic!("{sql} should fail, got {r:?}"),
        Err(err) => err,
    }
}

fn s(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter()
        .map(|r| r.iter().map(|x| x.to_string()).collect())
        .collect()
}

#[tokio::test]
async fn issue_15_every_join_kind() {
    let (_d, e) = lake().await;
    let base = "SELECT e.id, r.v FROM equipment e";
    let cases: &[(&str, &[&[&str]])] = &[
        (
            "JOIN readings r ON e.id = r.id AND r.metric = 'vib' ORDER BY r.v",
            &[
                &["CR_001", "10.0"],
                &["CR_001", "14.0"],
                &["CR_002", "41.5"],
                &["CR_002", "57.25"],
            ],
        ),
        (
            "LEFT JOIN readings r ON e.id = r.id WHERE r.v IS NULL OR e.kind = 'Truck' ORDER BY e.id",
            &[&["CV_001", "NULL"], &["HT_005", "40.0"]],
        ),
        (
            "RIGHT JOIN readings r ON e.id = r.id WHERE e.id IS NULL ORDER BY r.v",
            &[&["NULL", "5.0"]],
        ),
        (
            "FULL OUTER JOIN readings r ON e.id = r.id WHERE e.id IS NULL OR r.id IS NULL ORDER BY r.v",
            // NULL sorts first ascending, as in Spark.
            &[&["CV_001", "NULL"], &["NULL", "5.0"]],
        ),
        (
            "LEFT SEMI JOIN readings r ON e.id = r.id AND r.v >= 40 CROSS JOIN (SELECT 1.5 AS v) r ORDER BY e.id",
            &[&["CR_002", "1.5"], &["HT_005", "1.5"]],
        ),
        (
            "LEFT ANTI JOIN readings r ON e.id = r.id CROSS JOIN (SELECT 0.0 AS v) r",
            &[&["CV_001", "0.0"]],
        ),
    ];
    for (tail, expected) in cases {
        assert_eq!(
            rows(&e, &format!("{base} {tail}")).await,
            s(expected),
            "{tail}"
        );
    }
}

#[tokio::test]
async fn issue_15_ctes_and_subqueries() {
    let (_d, e) = lake().await;
    let r = rows(
        &e,
        "WITH vib AS (SELECT id, v FROM readings WHERE metric = 'vib'),
              peak AS (SELECT id, max(v) AS top FROM vib GROUP BY id)
         SELECT p.id, p.top, q.kind FROM peak p JOIN equipment q USING (id) ORDER BY p.top DESC",
    )
    .await;
    assert_eq!(
        r,
        s(&[
            &["CR_002", "57.25", "Crusher"],
            &["CR_001", "14.0", "Crusher"]
        ])
    );
    let r = rows(
        &e,
        "SELECT id FROM equipment WHERE id IN (SELECT id FROM readings WHERE v > 40)
           AND EXISTS (SELECT 1 FROM readings r WHERE r.id = equipment.id AND r.ok)
           AND (SELECT count(*) FROM readings) = 6 ORDER BY id",
    )
    .await;
    assert_eq!(r, s(&[&["CR_002"]]));
    let r = rows(
        &e,
        "SELECT id, v FROM readings WHERE v > (SELECT avg(v) FROM readings) ORDER BY v",
    )
    .await;
    assert_eq!(
        r,
        s(&[
            &["HT_005", "40.0"],
            &["CR_002", "41.5"],
            &["CR_002", "57.25"]
        ])
    );
}

#[tokio::test]
async fn issue_15_group_by_having_windows_and_qualify() {
    let (_d, e) = lake().await;
    let r = rows(
        &e,
        "SELECT metric, count(*) AS n, round(avg(v), 2) AS mean FROM readings GROUP BY metric HAVING count(*) > 1",
    )
    .await;
    assert_eq!(r, s(&[&["vib", "5", "25.55"]]));
    let r = rows(
        &e,
        "SELECT id, v,
                row_number() OVER (PARTITION BY id ORDER BY ts DESC) AS rn,
                rank() OVER (ORDER BY v DESC) AS rk,
                lag(v) OVER (PARTITION BY id ORDER BY ts) AS prev,
                lead(v, 1, -1.0) OVER (PARTITION BY id ORDER BY ts) AS next,
                sum(v) OVER (PARTITION BY id) AS total
         FROM readings WHERE id LIKE 'CR%' ORDER BY id, ts",
    )
    .await;
    assert_eq!(
        r,
        s(&[
            &["CR_001", "10.0", "2", "4", "NULL", "14.0", "24.0"],
            &["CR_001", "14.0", "1", "3", "10.0", "-1.0", "24.0"],
            &["CR_002", "41.5", "2", "2", "NULL", "57.25", "98.75"],
            &["CR_002", "57.25", "1", "1", "41.5", "-1.0", "98.75"],
        ])
    );
    let r = rows(
        &e,
        "SELECT id, v FROM readings QUALIFY row_number() OVER (PARTITION BY id ORDER BY ts DESC) = 1 ORDER BY id",
    )
    .await;
    assert_eq!(
        r,
        s(&[
            &["CR_001", "14.0"],
            &["CR_002", "57.25"],
            &["HT_005", "40.0"],
            &["XX_009", "5.0"]
        ])
    );
}

#[tokio::test]
async fn issue_15_set_operations() {
    let (_d, e) = lake().await;
    let q = |op: &str| format!("SELECT id FROM equipment {op} SELECT id FROM readings ORDER BY id");
    assert_eq!(
        rows(&e, &q("INTERSECT")).await,
        s(&[&["CR_001"], &["CR_002"], &["HT_005"]])
    );
    assert_eq!(rows(&e, &q("EXCEPT")).await, s(&[&["CV_001"]]));
    assert_eq!(rows(&e, &q("UNION")).await.len(), 5);
    assert_eq!(rows(&e, &q("UNION ALL")).await.len(), 10);
}

#[tokio::test]
async fn issue_15_demo_functions() {
    let (_d, e) = lake().await;
    let cases: &[(&str, &str)] = &[
        (
            "date_trunc('MINUTE', TIMESTAMP'2026-01-01 00:01:59')",
            "2026-01-01T00:01:00.000Z",
        ),
        (
            "from_utc_timestamp(TIMESTAMP'2024-01-01 00:00:00', 'Australia/Perth')",
            "2024-01-01T08:00:00.000Z",
        ),
        (
            "timestamp_micros(1704067201234567)",
            "2024-01-01T00:00:01.234567Z",
        ),
        (
            "timestamp_millis(1704067201234)",
            "2024-01-01T00:00:01.234Z",
        ),
        (
            "unix_micros(TIMESTAMP'2024-01-01 00:00:00')",
            "1704067200000000",
        ),
        (
            "regexp_extract('[default]Mining/Equipment/CR_002/Vib', '/Equipment/([A-Za-z]+_[0-9]+)/', 1)",
            "CR_002",
        ),
        (
            "regexp_extract('no match here', '/Equipment/([A-Z]+)/', 1)",
            "",
        ),
        ("element_at(split('a/b/c', '/'), -1)", "c"),
        ("element_at(split('a/b/c', '/'), 1)", "a"),
        ("nullif(3, 3)", "NULL"),
        ("concat_ws('-', 'a', NULL, 'b')", "a-b"),
        // Spark's concat is NULL when any argument is (DataFusion's skips NULLs).
        ("concat('a', NULL, 'b')", "NULL"),
        ("concat('a', 1, 'b')", "a1b"),
        // Spark's pattern letters, not chrono's.
        (
            "date_format(TIMESTAMP'2026-03-04 05:06:07.089', 'yyyy-MM-dd HH:mm:ss.SSS')",
            "2026-03-04 05:06:07.089",
        ),
        (
            "date_format(DATE'2026-03-04', 'd MMM yy, EEE')",
            "4 Mar 26, Wed",
        ),
        (
            "date_format(TIMESTAMP'2026-03-04 15:00:00', 'h a \\'o\\'\\'clock\\'')",
            "3 PM o'clock",
        ),
        ("round(2.345, 2)", "2.35"),
        ("7 DIV 2", "3"),
        ("7 / 2", "3.5"),
        (
            "TIMESTAMP'2026-01-01 01:00:00' - INTERVAL 30 MINUTES",
            "2026-01-01T00:30:00.000Z",
        ),
        (
            "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL 2 HOURS",
            "2026-01-01T02:00:00.000Z",
        ),
    ];
    for (expr, expected) in cases {
        let got = rows(&e, &format!("SELECT {expr} AS x")).await;
        assert_eq!(got, s(&[&[expected]]), "{expr}");
    }
    let r = rows(
        &e,
        "SELECT max_by(id, v) AS hi, min_by(id, v) AS lo, bool_or(NOT ok) AS any_bad,
                percentile_approx(v, 0.5) IS NOT NULL AS p FROM readings",
    )
    .await;
    assert_eq!(r, s(&[&["CR_002", "XX_009", "true", "true"]]));
    let r = rows(
        &e,
        "SELECT id, last_value(ok, true) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS carried
         FROM readings ORDER BY ts DESC LIMIT 1",
    )
    .await;
    // The newest row's `ok` is NULL; `last_value(x, true)` carries the previous value over.
    assert_eq!(r, s(&[&["CR_002", "false"]]));
}

#[tokio::test]
async fn issue_15_result_types_use_databricks_names() {
    let (_d, e) = lake().await;
    let r = run(
        &e,
        "SELECT id, v, ok, ts, count(*) OVER () AS n, CAST(1 AS INT) AS i, DATE'2026-01-01' AS d,
                CAST(2.5 AS DECIMAL(10,2)) AS m, split(id, '_') AS parts FROM readings LIMIT 1",
    )
    .await;
    let types: Vec<(&str, &str)> = r
        .columns
        .iter()
        .map(|c| (c.type_name.as_str(), c.type_text.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("STRING", "STRING"),
            ("DOUBLE", "DOUBLE"),
            ("BOOLEAN", "BOOLEAN"),
            ("TIMESTAMP", "TIMESTAMP"),
            ("LONG", "BIGINT"),
            ("INT", "INT"),
            ("DATE", "DATE"),
            ("DECIMAL", "DECIMAL(10,2)"),
            ("ARRAY", "ARRAY<STRING>"),
        ]
    );
    assert_eq!(r.rows[0][3].as_deref(), Some("2026-01-01T00:00:10.000Z"));
    assert_eq!(r.rows[0][7].as_deref(), Some("2.50"));
}

#[tokio::test]
async fn issue_15_errors_keep_databricks_classes() {
    let (_d, e) = lake().await;
    let cases: &[(&str, &str)] = &[
        (
            "SELECT e.idd FROM equipment e JOIN readings r ON e.id = r.id",
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        ),
        (
            "WITH x AS (SELECT 1 AS a) SELECT b FROM x",
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        ),
        (
            "SELECT * FROM equipment JOIN nope ON true",
            "TABLE_OR_VIEW_NOT_FOUND",
        ),
        ("SELECT nosuchfn(id) FROM equipment", "UNRESOLVED_ROUTINE"),
        ("SELECT id FROM equipment WHERE", "PARSE_SYNTAX_ERROR"),
        ("WITH x AS (SELECT 1) SELEC * FROM x", "PARSE_SYNTAX_ERROR"),
        (
            "SELECT id FROM equipment VERSION AS OF 99",
            "DELTA_VERSION_NOT_FOUND",
        ),
    ];
    for (sql, class) in cases {
        assert_eq!(fail(&e, sql).await.error_class, *class, "{sql}");
    }
    let err = fail(&e, "SELECT e.kindd FROM equipment e").await;
    assert!(err.message.contains("`e`.`kind`"), "{}", err.message);
}

#[tokio::test]
async fn issue_15_time_travel_in_joins_and_ctes() {
    let (_d, e) = lake().await;
    // v0 create, v1 four rows; v2 one more.
    run(
        &e,
        "INSERT INTO equipment VALUES ('LD_001', 'Loader', 'South')",
    )
    .await;
    let r = rows(
        &e,
        "WITH old AS (SELECT id FROM equipment VERSION AS OF 1)
         SELECT count(*) AS n FROM equipment e LEFT ANTI JOIN old ON e.id = old.id",
    )
    .await;
    assert_eq!(r, s(&[&["1"]]));
    let r = rows(
        &e,
        "SELECT (SELECT count(*) FROM equipment VERSION AS OF 1) AS was, (SELECT count(*) FROM EQUIPMENT) AS now",
    )
    .await;
    assert_eq!(r, s(&[&["4", "5"]]));
    let far_future = fail(
        &e,
        "SELECT * FROM equipment TIMESTAMP AS OF '2999-01-01 00:00:00'",
    )
    .await;
    assert_eq!(
        far_future.error_class,
        "DELTA_TIMESTAMP_GREATER_THAN_COMMIT"
    );
}

#[tokio::test]
async fn issue_15_information_schema() {
    let (_d, e) = lake().await;
    let r = rows(
        &e,
        "SELECT table_schema, table_name, table_type, comment FROM main.information_schema.tables ORDER BY table_name",
    )
    .await;
    assert_eq!(
        r,
        s(&[
            &["default", "equipment", "MANAGED", "Equipment master"],
            &["default", "readings", "MANAGED", "NULL"],
        ])
    );
    let r = rows(
        &e,
        "SELECT column_name, ordinal_position, is_nullable, data_type, full_data_type, comment
         FROM information_schema.columns WHERE table_name = 'equipment' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        r,
        s(&[
            &["id", "1", "NO", "STRING", "string", "equipment id"],
            &["kind", "2", "YES", "STRING", "string", "NULL"],
            &["site", "3", "YES", "STRING", "string", "NULL"],
        ])
    );
    let r = rows(
        &e,
        "SELECT catalog_name FROM main.information_schema.catalogs",
    )
    .await;
    assert_eq!(r, s(&[&["main"]]));
    let r = rows(
        &e,
        "SELECT schema_name FROM main.information_schema.schemata ORDER BY schema_name",
    )
    .await;
    assert_eq!(r, s(&[&["default"], &["information_schema"]]));
}

#[tokio::test]
async fn issue_15_show_create_table() {
    let (_d, e) = lake().await;
    let r = run(&e, "SHOW CREATE TABLE equipment").await;
    assert_eq!(r.columns[0].name, "createtab_stmt");
    let text = r.rows[0][0].clone().unwrap();
    assert!(
        text.starts_with(
            "CREATE TABLE main.default.equipment (\n  id STRING NOT NULL COMMENT 'equipment id',\n  kind STRING,\n  site STRING)\nUSING delta\nCOMMENT 'Equipment master'\nTBLPROPERTIES (\n"
        ),
        "{text}"
    );
    assert!(text.contains("'delta.minReaderVersion' = '1'"), "{text}");
    assert_eq!(
        fail(&e, "SHOW CREATE TABLE nope").await.error_class,
        "TABLE_OR_VIEW_NOT_FOUND"
    );
}
