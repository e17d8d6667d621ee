//! The data folder as DataFusion's catalog: every catalog folder is a catalog, every schema
//! folder a schema, every Delta table folder a table. Tables are opened when a query names
//! them, so each statement reads the newest commit and nothing is registered after a write.
//! A table name with a suffix that [`super::front`] wrote reads another version: `t@v3` is
//! version 3, `t@ts<micros>` the newest version committed at or before that instant, and
//! `t@v3..5` only the rows the commits after version 3 up to version 5 added (a streaming read,
//! see [`rows_added_since`]). Each catalog also answers `information_schema` (`catalogs`,
//! `schemata`, `tables`, `columns`) in Databricks' shape, built from the Delta snapshots when it
//! is queried.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemTable, MemoryCatalogProvider, MemorySchemaProvider,
    SchemaProvider, TableProvider,
};
use deltalake::datafusion::common::Result;
use deltalake::kernel::Action;
use deltalake::{DeltaTable, Path};

use super::front::carry;
use super::{SqlError, TableName, catalog, storage};

pub(crate) const INFORMATION_SCHEMA: &str = "information_schema";

/// The catalog that holds a statement's own rows (see [`Lakehouse::statement_rows`]). Catalog
/// names Databricks accepts cannot start with `__`, so it never shadows a user's.
pub(crate) const STATEMENT_CATALOG: &str = "__lode_statement";

/// All catalogs under the data folder.
#[derive(Debug)]
pub(crate) struct Lakehouse {
    pub root: PathBuf,
    /// Rows a statement carries inline (a large `VALUES` list), already converted to Arrow:
    /// planning tens of thousands of literal rows as SQL costs DataFusion far more than
    /// reading them as a table. Readable as `__lode_statement.inline.source`.
    pub statement_rows: Option<Arc<dyn TableProvider>>,
}

impl CatalogProviderList for Lakehouse {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // Catalogs are folders, made by CREATE CATALOG; DataFusion's in-memory ones are unused.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        catalog::list_catalogs(&self.root)
            .map(|cs| cs.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let name = name.to_lowercase();
        if name == STATEMENT_CATALOG {
            return self.statement_rows.clone().map(statement_catalog);
        }
        self.root
            .join(&name)
            .join(catalog::CATALOG_FILE)
            .is_file()
            .then(|| {
                Arc::new(LakeCatalog {
                    root: self.root.clone(),
                    name,
                }) as _
            })
    }
}

fn statement_catalog(rows: Arc<dyn TableProvider>) -> Arc<dyn CatalogProvider> {
    let schema = MemorySchemaProvider::new();
    let catalog = MemoryCatalogProvider::new();
    // Both registrations are into fresh in-memory providers, which accept any name.
    let _ = schema.register_table("source".into(), rows);
    let _ = catalog.register_schema("inline", Arc::new(schema));
    Arc::new(catalog)
}

#[derive(Debug)]
struct LakeCatalog {
    root: PathBuf,
    name: String,
}

impl CatalogProvider for LakeCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = catalog::list_schemas(&self.root.join(&self.name), &self.name)
            .map(|ss| ss.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        names.push(INFORMATION_SCHEMA.into());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let name = name.to_lowercase();
        if name == INFORMATION_SCHEMA {
            return Some(Arc::new(InformationSchema {
                root: self.root.clone(),
                catalog: self.name.clone(),
            }));
        }
        let dir = self.root.join(&self.name).join(&name);
        dir.join(catalog::SCHEMA_FILE).is_file().then(|| {
            Arc::new(LakeSchema {
                dir,
                catalog: self.name.clone(),
                schema: name,
            }) as _
        })
    }
}

#[derive(Debug)]
struct LakeSchema {
    dir: PathBuf,
    catalog: String,
    schema: String,
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        catalog::table_names(&self.dir).unwrap_or_default()
    }

    fn table_exist(&self, name: &str) -> bool {
        let base = name.split_once('@').map_or(name, |(b, _)| b);
        storage::is_table(&self.dir.join(base.to_lowercase()))
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let (base, suffix) = name.split_once('@').unwrap_or((name, ""));
        let base = base.to_lowercase();
        let dir = self.dir.join(&base);
        if !storage::is_table(&dir) {
            return Ok(None);
        }
        let name = TableName {
            catalog: self.catalog.clone(),
            schema: self.schema.clone(),
            table: base,
        };
        let provider = open_at(&dir, &name, suffix).await.map_err(carry)?;
        Ok(Some(provider))
    }
}

/// A scan of every live file, oldest first: with one partition a query without ORDER BY
/// returns rows in insertion order, as the statement API always has.
async fn provider_of(t: &DeltaTable) -> std::result::Result<Arc<dyn TableProvider>, SqlError> {
    let files: Vec<String> = storage::files(t).await?.into_iter().map(|f| f.0).collect();
    t.table_provider()
        .with_file_paths(files)
        .await
        .map_err(SqlError::internal)
}

/// The suffix of the current version with its rows numbered (see [`numbered`]).
pub(crate) const NUMBERED: &str = "numbered";

/// The current rows in insertion order (as `storage::read_rows` returns them) with a
/// 1-based `__lode_row` column: the DML statements find the rows a predicate hits by it.
/// DataFusion's Delta scan reads files in log order, not insertion order, so it cannot
/// number them itself.
async fn numbered(t: &DeltaTable) -> std::result::Result<Arc<dyn TableProvider>, SqlError> {
    let batches = storage::read_batches(t).await?;
    let table_schema = t.snapshot()?.snapshot().arrow_schema();
    let mut fields: Vec<Field> = table_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("__lode_row", DataType::Int64, false));
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let mut next = 1i64;
    let mut numbered = Vec::with_capacity(batches.len());
    for b in batches {
        let n = b.num_rows() as i64;
        let mut columns = b.columns().to_vec();
        columns.push(Arc::new(Int64Array::from_iter_values(next..next + n)));
        next += n;
        numbered.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(Arc::new(
        MemTable::try_new(schema, vec![numbered]).map_err(SqlError::internal)?,
    ))
}

/// The table in `dir` at the version `suffix` names (see the module doc).
async fn open_at(
    dir: &std::path::Path,
    name: &TableName,
    suffix: &str,
) -> std::result::Result<Arc<dyn TableProvider>, SqlError> {
    let current = storage::open(dir).await?;
    let latest = storage::version(&current);
    if suffix.is_empty() {
        return provider_of(&current).await;
    }
    if suffix == NUMBERED {
        return numbered(&current).await;
    }
    if let Some(micros) = suffix.strip_prefix("ts") {
        let micros: i64 = micros
            .parse()
            .map_err(|_| SqlError::internal(format!("bad time travel suffix {suffix}")))?;
        let version = storage::version_at(&current, micros).await?;
        let t = storage::open_version(dir, version).await?;
        return provider_of(&t).await;
    }
    let Some(range) = suffix.strip_prefix('v') else {
        return Err(SqlError::table_not_found(&name.quoted()));
    };
    let parse = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| SqlError::internal(format!("bad version suffix {suffix}")))
    };
    let (since, upto) = match range.split_once("..") {
        Some((a, b)) => (Some(parse(a)?), parse(b)?),
        None => (None, parse(range)?),
    };
    if upto > latest {
        return Err(SqlError::version_not_found(upto as i64, latest));
    }
    let t = if upto == latest {
        current
    } else {
        storage::open_version(dir, upto)
            .await
            .map_err(|_| SqlError::version_not_found(upto as i64, latest))?
    };
    match since {
        None => provider_of(&t).await,
        Some(since) => rows_added_since(&t, since).await,
    }
}

/// What a streaming read of `t` gets after version `since`: the rows of the files that the
/// commits after it (up to `t`'s version) added with `dataChange = true`, in commit order, as
/// Delta's streaming source reads them. A compaction's files (`dataChange = false`) hold rows
/// already read, so they are skipped, and a file it removed is still read by path: files stay
/// on disk until a vacuum. A commit that removed data fails the read: the source was not only
/// appended to.
async fn rows_added_since(
    t: &DeltaTable,
    since: u64,
) -> std::result::Result<Arc<dyn TableProvider>, SqlError> {
    // The schema the table's own scan gives (string columns as views), so a query plans the
    // same over a streaming read as over the whole table.
    let schema = t
        .table_provider()
        .await
        .map_err(SqlError::internal)?
        .schema();
    let mut batches = Vec::new();
    for version in since + 1..=storage::version(t) {
        for action in storage::commit_actions(t, version).await? {
            match action {
                Action::Add(add) if add.data_change => {
                    let path = Path::from_url_path(&add.path).map_err(SqlError::internal)?;
                    batches.extend(storage::read_data_file(t, &path, &schema).await?);
                }
                Action::Remove(remove) if remove.data_change => {
                    return Err(SqlError::new(
                        "DELTA_SOURCE_TABLE_IGNORE_CHANGES",
                        "0A000",
                        format!(
                            "Detected a data update (for example {}) in the source table at version {version}. This is currently not supported. If this is going to happen regularly and you are okay to skip changes, set the option 'skipChangeCommits' to 'true'. If you would like the data update to be reflected, please do a full refresh.",
                            remove.path
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(Arc::new(
        MemTable::try_new(schema, vec![batches]).map_err(SqlError::internal)?,
    ))
}

/// `<catalog>.information_schema`: views over the catalog's folders and Delta snapshots.
#[derive(Debug)]
struct InformationSchema {
    root: PathBuf,
    catalog: String,
}

const INFO_TABLES: [&str; 4] = ["catalogs", "schemata", "tables", "columns"];

fn text_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn texts(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        INFO_TABLES.iter().map(|s| s.to_string()).collect()
    }

    fn table_exist(&self, name: &str) -> bool {
        INFO_TABLES.contains(&name.to_lowercase().as_str())
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let batch = match name.to_lowercase().as_str() {
            "catalogs" => self.catalogs(),
            "schemata" => self.schemata(),
            "tables" => self.tables().await,
            "columns" => self.columns().await,
            _ => return Ok(None),
        }
        .map_err(carry)?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }
}

impl InformationSchema {
    fn catalogs(&self) -> std::result::Result<RecordBatch, SqlError> {
        let cats = catalog::list_catalogs(&self.root)?;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            text_field("catalog_name", false),
            text_field("catalog_owner", false),
            text_field("comment", true),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                texts(cats.iter().map(|c| Some(c.name.clone())).collect()),
                texts(
                    cats.iter()
                        .map(|_| Some(storage::USER_NAME.into()))
                        .collect(),
                ),
                texts(cats.iter().map(|c| c.comment.clone()).collect()),
            ],
        )?)
    }

    fn schemata(&self) -> std::result::Result<RecordBatch, SqlError> {
        let mut schemas = catalog::list_schemas(&self.root.join(&self.catalog), &self.catalog)?;
        schemas.sort_by(|a, b| a.name.cmp(&b.name));
        let mut rows: Vec<(String, Option<String>)> =
            schemas.into_iter().map(|s| (s.name, s.comment)).collect();
        rows.push((
            INFORMATION_SCHEMA.into(),
            Some("Information schema (auto-created)".into()),
        ));
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            text_field("catalog_name", false),
            text_field("schema_name", false),
            text_field("schema_owner", false),
            text_field("comment", true),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                texts(rows.iter().map(|_| Some(self.catalog.clone())).collect()),
                texts(rows.iter().map(|r| Some(r.0.clone())).collect()),
                texts(
                    rows.iter()
                        .map(|_| Some(storage::USER_NAME.into()))
                        .collect(),
                ),
                texts(rows.iter().map(|r| r.1.clone()).collect()),
            ],
        )?)
    }

    async fn table_metas(&self) -> std::result::Result<Vec<super::TableMeta>, SqlError> {
        let mut out = Vec::new();
        let catalog_dir = self.root.join(&self.catalog);
        for s in catalog::list_schemas(&catalog_dir, &self.catalog)? {
            for table in catalog::table_names(&catalog_dir.join(&s.name))? {
                let name = TableName {
                    catalog: self.catalog.clone(),
                    schema: s.name.clone(),
                    table,
                };
                let dir = catalog_dir.join(&name.schema).join(&name.table);
                if let Some(meta) = super::read_table_meta(&dir, &name).await? {
                    out.push(meta);
                }
            }
        }
        Ok(out)
    }

    async fn tables(&self) -> std::result::Result<RecordBatch, SqlError> {
        let metas = self.table_metas().await?;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            text_field("table_catalog", false),
            text_field("table_schema", false),
            text_field("table_name", false),
            text_field("table_type", false),
            text_field("is_insertable_into", false),
            text_field("table_owner", false),
            text_field("comment", true),
            text_field("data_source_format", false),
        ]));
        let col =
            |f: &dyn Fn(&super::TableMeta) -> Option<String>| texts(metas.iter().map(f).collect());
        Ok(RecordBatch::try_new(
            schema,
            vec![
                col(&|m| Some(m.catalog.clone())),
                col(&|m| Some(m.schema.clone())),
                col(&|m| Some(m.name.clone())),
                col(&|m| Some(m.table_type.as_str().into())),
                col(&|m| {
                    Some(
                        if m.table_type == super::TableType::Managed {
                            "YES"
                        } else {
                            "NO"
                        }
                        .into(),
                    )
                }),
                col(&|_| Some(storage::USER_NAME.into())),
                col(&|m| m.comment.clone()),
                col(&|_| Some("DELTA".into())),
            ],
        )?)
    }

    async fn columns(&self) -> std::result::Result<RecordBatch, SqlError> {
        let metas = self.table_metas().await?;
        let rows: Vec<ColumnRow<'_>> = metas
            .iter()
            .flat_map(|m| m.columns.iter().enumerate().map(move |(i, c)| (m, i, c)))
            .collect();
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            text_field("table_catalog", false),
            text_field("table_schema", false),
            text_field("table_name", false),
            text_field("column_name", false),
            Field::new("ordinal_position", DataType::Int32, false),
            text_field("is_nullable", false),
            text_field("full_data_type", false),
            text_field("data_type", false),
            text_field("comment", true),
        ]));
        let col =
            |f: &dyn Fn(&ColumnRow<'_>) -> Option<String>| texts(rows.iter().map(f).collect());
        Ok(RecordBatch::try_new(
            schema,
            vec![
                col(&|r| Some(r.0.catalog.clone())),
                col(&|r| Some(r.0.schema.clone())),
                col(&|r| Some(r.0.name.clone())),
                col(&|r| Some(r.2.name.clone())),
                // Databricks numbers columns from 1 here.
                Arc::new(Int32Array::from(
                    rows.iter().map(|r| r.1 as i32 + 1).collect::<Vec<_>>(),
                )),
                col(&|r| Some(if r.2.nullable { "YES" } else { "NO" }.into())),
                col(&|r| Some(r.2.type_text.clone())),
                col(&|r| Some(simple_type_name(&r.2.type_text))),
                col(&|r| r.2.comment.clone()),
            ],
        )?)
    }
}

/// A column of a table, with its position from 0.
type ColumnRow<'a> = (&'a super::TableMeta, usize, &'a super::ColumnDef);

/// `decimal(10,2)` -> `DECIMAL`, `bigint` -> `BIGINT`: information_schema's DATA_TYPE.
fn simple_type_name(full: &str) -> String {
    full.split('(').next().unwrap_or(full).to_uppercase()
}
