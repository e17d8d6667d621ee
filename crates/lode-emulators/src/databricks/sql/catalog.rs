//! Catalogs and schemas on disk: a catalog is a folder `root/<catalog>/` with `_catalog.json`, a
//! schema a folder `root/<catalog>/<schema>/` with `_schema.json`, and every other sub-folder of
//! a schema holding a Delta log is a table. Files are replaced whole via a temporary file and a
//! rename, so a crash never leaves half a JSON document behind.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CatalogMeta, SchemaMeta, SqlEngine, SqlError, check_name, now_ms, storage};

pub(crate) const CATALOG_FILE: &str = "_catalog.json";
pub(crate) const SCHEMA_FILE: &str = "_schema.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CatalogFile {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SchemaFile {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: i64,
}

impl SchemaFile {
    pub(crate) fn new(
        name: &str,
        comment: Option<&str>,
        properties: BTreeMap<String, String>,
    ) -> SchemaFile {
        SchemaFile {
            name: name.into(),
            comment: comment.map(str::to_string),
            properties,
            created_at: now_ms(),
        }
    }

    fn meta(self, catalog: &str) -> SchemaMeta {
        SchemaMeta {
            catalog: catalog.into(),
            name: self.name,
            comment: self.comment,
            properties: self.properties,
            created_at: self.created_at,
        }
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, SqlError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
                SqlError::internal(format!("{}: {e}", path.display()))
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn write_catalog(dir: &Path, name: &str, comment: Option<&str>) -> std::io::Result<()> {
    write_json(
        &dir.join(CATALOG_FILE),
        &CatalogFile {
            name: name.into(),
            comment: comment.map(str::to_string),
            created_at: now_ms(),
        },
    )
}

pub(crate) fn write_schema(dir: &Path, file: &SchemaFile) -> std::io::Result<()> {
    write_json(&dir.join(SCHEMA_FILE), file)
}

fn sorted_subdirs(dir: &Path) -> Result<Vec<String>, SqlError> {
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Some(n) = entry.file_name().to_str()
        {
            names.push(n.to_string());
        }
    }
    names.sort();
    Ok(names)
}

pub(crate) fn list_catalogs(root: &Path) -> Result<Vec<CatalogMeta>, SqlError> {
    let mut out = Vec::new();
    for name in sorted_subdirs(root)? {
        if let Some(c) = read_json::<CatalogFile>(&root.join(&name).join(CATALOG_FILE))? {
            out.push(CatalogMeta {
                name,
                comment: c.comment,
            });
        }
    }
    Ok(out)
}

pub(crate) fn catalog_exists(engine: &SqlEngine, catalog: &str) -> bool {
    engine.catalog_dir(catalog).join(CATALOG_FILE).is_file()
}

pub(crate) fn require_catalog(engine: &SqlEngine, catalog: &str) -> Result<(), SqlError> {
    if catalog_exists(engine, catalog) {
        Ok(())
    } else {
        Err(SqlError::catalog_not_found(catalog))
    }
}

/// The schema must exist (its catalog too: a missing catalog is reported as such).
pub(crate) fn require_schema(
    engine: &SqlEngine,
    catalog: &str,
    schema: &str,
) -> Result<(), SqlError> {
    require_catalog(engine, catalog)?;
    if engine
        .schema_dir(catalog, schema)
        .join(SCHEMA_FILE)
        .is_file()
    {
        Ok(())
    } else {
        Err(SqlError::schema_not_found(&format!(
            "`{catalog}`.`{schema}`"
        )))
    }
}

pub(crate) fn list_schemas(catalog_dir: &Path, catalog: &str) -> Result<Vec<SchemaMeta>, SqlError> {
    let mut out = Vec::new();
    for name in sorted_subdirs(catalog_dir)? {
        if let Some(s) = read_json::<SchemaFile>(&catalog_dir.join(&name).join(SCHEMA_FILE))? {
            out.push(SchemaFile { name, ..s }.meta(catalog));
        }
    }
    Ok(out)
}

pub(crate) fn read_schema(dir: &Path, catalog: &str) -> Result<Option<SchemaMeta>, SqlError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    Ok(read_json::<SchemaFile>(&dir.join(SCHEMA_FILE))?
        .map(|s| SchemaFile { name, ..s }.meta(catalog)))
}

/// Table folder names of a schema (folders with a Delta log), sorted.
pub(crate) fn table_names(schema_dir: &Path) -> Result<Vec<String>, SqlError> {
    Ok(sorted_subdirs(schema_dir)?
        .into_iter()
        .filter(|n| storage::is_table(&schema_dir.join(n)))
        .collect())
}

pub(crate) fn create_catalog(
    engine: &SqlEngine,
    name: &str,
    comment: Option<&str>,
    if_not_exists: bool,
) -> Result<(), SqlError> {
    check_name(name)?;
    if catalog_exists(engine, name) {
        return if if_not_exists {
            Ok(())
        } else {
            Err(SqlError::catalog_exists(name))
        };
    }
    let dir = engine.catalog_dir(name);
    write_catalog(&dir, name, comment)?;
    // Unity Catalog gives every new catalog a `default` schema.
    write_schema(
        &dir.join("default"),
        &SchemaFile::new(
            "default",
            Some("Default schema (auto-created)"),
            BTreeMap::new(),
        ),
    )?;
    Ok(())
}

pub(crate) fn drop_catalog(
    engine: &SqlEngine,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> Result<(), SqlError> {
    if !catalog_exists(engine, name) {
        return if if_exists {
            Ok(())
        } else {
            Err(SqlError::catalog_not_found(name))
        };
    }
    let dir = engine.catalog_dir(name);
    if !cascade {
        // Only an empty `default` schema may remain, as in Unity Catalog.
        for schema in sorted_subdirs(&dir)? {
            let sdir = dir.join(&schema);
            if schema != "default" || !table_names(&sdir)?.is_empty() {
                return Err(SqlError::catalog_not_empty(name));
            }
        }
    }
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

pub(crate) fn create_schema(
    engine: &SqlEngine,
    catalog: &str,
    schema: &str,
    comment: Option<&str>,
    properties: BTreeMap<String, String>,
    if_not_exists: bool,
) -> Result<SchemaMeta, SqlError> {
    check_name(schema)?;
    require_catalog(engine, catalog)?;
    let dir = engine.schema_dir(catalog, schema);
    if let Some(existing) = read_schema(&dir, catalog)? {
        return if if_not_exists {
            Ok(existing)
        } else {
            Err(SqlError::schema_exists(&format!("`{catalog}`.`{schema}`")))
        };
    }
    let file = SchemaFile::new(schema, comment, properties);
    write_schema(&dir, &file)?;
    Ok(file.meta(catalog))
}

/// `comment`: `None` leaves it, `Some(None)` or an empty string clears it.
pub(crate) fn update_schema(
    engine: &SqlEngine,
    catalog: &str,
    schema: &str,
    comment: Option<Option<&str>>,
    properties: Option<BTreeMap<String, String>>,
) -> Result<SchemaMeta, SqlError> {
    require_catalog(engine, catalog)?;
    let dir = engine.schema_dir(catalog, schema);
    let Some(mut file) = read_json::<SchemaFile>(&dir.join(SCHEMA_FILE))? else {
        return Err(SqlError::schema_not_found(&format!(
            "`{catalog}`.`{schema}`"
        )));
    };
    if let Some(c) = comment {
        file.comment = c.filter(|c| !c.is_empty()).map(str::to_string);
    }
    if let Some(p) = properties {
        file.properties = p;
    }
    file.name = schema.to_string();
    write_schema(&dir, &file)?;
    Ok(file.meta(catalog))
}

pub(crate) fn drop_schema(
    engine: &SqlEngine,
    catalog: &str,
    schema: &str,
    cascade: bool,
    if_exists: bool,
) -> Result<(), SqlError> {
    let dir = engine.schema_dir(catalog, schema);
    if !catalog_exists(engine, catalog) || !dir.join(SCHEMA_FILE).is_file() {
        return if if_exists {
            Ok(())
        } else {
            Err(SqlError::schema_not_found(&format!(
                "`{catalog}`.`{schema}`"
            )))
        };
    }
    if !cascade && !table_names(&dir)?.is_empty() {
        return Err(SqlError::schema_not_empty(&format!(
            "`{catalog}`.`{schema}`"
        )));
    }
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
