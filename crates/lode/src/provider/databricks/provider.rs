//! The Databricks provider: one `DatabricksClient` to one workspace, and the per-kind code that
//! reads live objects in batches (one schema list per catalog, one table list per schema, ...)
//! into the manifests' spec shape and writes desired specs back. It knows nothing of plans.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use super::client::DatabricksClient;
use super::{files, genie, monitors, pipelines, tables};
use crate::manifest::{Address, Kind};
use crate::provider::{
    ChangeOptions, Discovered, DiscoveryScope, LiveObject, Provider, ProviderError, RefreshRequest,
};

/// Settings from the environment file.
#[derive(Debug, Clone)]
pub struct DatabricksSettings {
    /// The SQL warehouse for statements and Genie; the first listed one when absent.
    pub warehouse_id: Option<String>,
    /// How long to wait for a pipeline update to reach RUNNING or COMPLETED.
    pub pipeline_timeout: Duration,
    /// How long to wait for one SQL statement.
    pub statement_timeout: Duration,
}

impl Default for DatabricksSettings {
    fn default() -> Self {
        DatabricksSettings {
            warehouse_id: None,
            pipeline_timeout: Duration::from_secs(600),
            statement_timeout: Duration::from_secs(300),
        }
    }
}

/// A Databricks workspace.
pub struct DatabricksProvider {
    pub client: std::sync::Arc<DatabricksClient>,
    pub settings: DatabricksSettings,
    warehouse: OnceLock<String>,
}

impl DatabricksProvider {
    pub fn new(
        client: std::sync::Arc<DatabricksClient>,
        settings: DatabricksSettings,
    ) -> DatabricksProvider {
        DatabricksProvider {
            client,
            settings,
            warehouse: OnceLock::new(),
        }
    }

    /// The warehouse statements run on: configured, or the first the workspace lists.
    pub fn warehouse_id(&self) -> Result<String, ProviderError> {
        if let Some(id) = self.warehouse.get() {
            return Ok(id.clone());
        }
        let id = match &self.settings.warehouse_id {
            Some(id) => id.clone(),
            None => {
                let warehouses: Vec<Value> =
                    self.client
                        .list_all("/api/2.0/sql/warehouses", &[], "warehouses")?;
                warehouses
                    .iter()
                    .find_map(|w| w.get("id").and_then(Value::as_str).map(str::to_string))
                    .ok_or_else(|| ProviderError::Refused("the workspace has no SQL warehouse; set `databricks.warehouse_id` in the environment file".into()))?
            }
        };
        let _ = self.warehouse.set(id.clone());
        Ok(id)
    }

    /// `https://host/...` links for outputs.
    pub fn host(&self) -> &str {
        self.client.host()
    }
}

impl Provider for DatabricksProvider {
    fn system(&self) -> &'static str {
        "databricks"
    }

    fn discover(&self, scope: &DiscoveryScope) -> Result<Vec<Discovered>, ProviderError> {
        super::discover::discover(self, scope)
    }

    fn check_connection(&self) -> Result<String, ProviderError> {
        let me: Value = self.client.get("/api/2.0/preview/scim/v2/Me", &[])?;
        Ok(format!(
            "authenticated as {} at {}",
            me.get("userName").and_then(Value::as_str).unwrap_or("?"),
            self.host()
        ))
    }

    fn capture_data(
        &self,
        address: &Address,
        live: &LiveObject,
    ) -> Result<Option<Value>, ProviderError> {
        if address.kind != Kind::Table {
            return Ok(None);
        }
        Ok(tables::current_version(self, &live.spec)?
            .map(|v| serde_json::json!({"delta_version": v})))
    }

    fn preview_data_restore(
        &self,
        address: &Address,
        live: &LiveObject,
        data: &Value,
    ) -> Result<Option<crate::provider::DataRestore>, ProviderError> {
        let Some(to_version) = data.get("delta_version").and_then(Value::as_i64) else {
            return Ok(None);
        };
        if address.kind != Kind::Table {
            return Ok(None);
        }
        let Some(from_version) = tables::current_version(self, &live.spec)? else {
            return Ok(None);
        };
        if from_version == to_version {
            return Ok(None);
        }
        // Counting is for people; a table that cannot be counted still restores.
        let rows_now = tables::count_rows(self, &live.spec, None).ok();
        let rows_then = tables::count_rows(self, &live.spec, Some(to_version)).ok();
        Ok(Some(crate::provider::DataRestore {
            address: address.clone(),
            table: tables::full_name(&live.spec),
            from_version,
            to_version,
            commits_undone: from_version - to_version,
            rows_now,
            rows_then,
        }))
    }

    fn restore_data(
        &self,
        address: &Address,
        live: &LiveObject,
        data: &Value,
    ) -> Result<Option<String>, ProviderError> {
        let Some(version) = data.get("delta_version").and_then(Value::as_i64) else {
            return Ok(None);
        };
        if address.kind != Kind::Table
            || tables::current_version(self, &live.spec)? == Some(version)
        {
            return Ok(None);
        }
        tables::restore_version(self, &live.spec, version)?;
        Ok(Some(format!(
            "RESTORE TABLE {} VERSION AS OF {version}",
            tables::full_name(&live.spec)
        )))
    }

    fn stop(&self, address: &Address, live: &LiveObject) -> Result<Option<String>, ProviderError> {
        if address.kind != Kind::Pipeline {
            return Ok(None);
        }
        let Some(id) = &live.id else { return Ok(None) };
        let _: Value = self.client.post(
            &format!("/api/2.0/pipelines/{id}/stop"),
            &serde_json::json!({}),
            super::client::Idempotency::Idempotent,
        )?;
        Ok(Some(format!("stopped the updates of pipeline {id}")))
    }

    fn refresh(
        &self,
        requests: &[RefreshRequest],
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
        let of_kind = |kind: Kind| {
            requests
                .iter()
                .filter(move |r| r.address.kind == kind)
                .collect::<Vec<_>>()
        };
        type Read = fn(
            &DatabricksProvider,
            &[&RefreshRequest],
        ) -> Result<BTreeMap<Address, LiveObject>, ProviderError>;
        let readers: [(Kind, Read); 6] = [
            (Kind::Schema, tables::read_schemas),
            (Kind::Table, tables::read_tables),
            (Kind::Pipeline, pipelines::read),
            (Kind::GenieSpace, genie::read),
            (Kind::QualityMonitor, monitors::read),
            (Kind::WorkspaceFile, files::read),
        ];
        // The kinds are read side by side: their listings and reads do not depend on each other.
        let results =
            crate::provider::concurrent::map_bounded(&readers, readers.len(), |(kind, read)| {
                let requests = of_kind(*kind);
                if requests.is_empty() {
                    return Ok(BTreeMap::new());
                }
                read(self, &requests)
            });
        let mut live = BTreeMap::new();
        for result in results {
            live.extend(result?);
        }
        Ok(live)
    }

    fn create(
        &self,
        address: &Address,
        desired: &Value,
        options: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        match address.kind {
            Kind::Schema => tables::create_schema(self, desired),
            Kind::Table => tables::create_table(self, desired),
            Kind::Pipeline => pipelines::create(self, address, desired, options),
            Kind::GenieSpace => genie::create(self, address, desired),
            Kind::QualityMonitor => monitors::write(self, desired, true),
            Kind::WorkspaceFile => files::write(self, desired),
            kind => Err(ProviderError::NotConfigured(kind)),
        }
    }

    fn update(
        &self,
        address: &Address,
        desired: &Value,
        live: &LiveObject,
        options: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        match address.kind {
            Kind::Schema => tables::update_schema(self, desired),
            Kind::Table => tables::update_table(self, desired, live, options),
            Kind::Pipeline => pipelines::update(self, address, desired, live, options),
            Kind::GenieSpace => genie::update(self, address, desired, live),
            Kind::QualityMonitor => monitors::write(self, desired, false),
            Kind::WorkspaceFile => files::write(self, desired),
            kind => Err(ProviderError::NotConfigured(kind)),
        }
    }

    fn delete(
        &self,
        address: &Address,
        live: &LiveObject,
        options: &ChangeOptions,
    ) -> Result<(), ProviderError> {
        match address.kind {
            Kind::Schema => tables::delete_schema(self, &live.spec),
            Kind::Table => tables::drop_table(self, &live.spec),
            Kind::Pipeline => pipelines::delete(self, live, options),
            Kind::GenieSpace => genie::delete(self, live),
            Kind::QualityMonitor => monitors::delete(self, &live.spec),
            Kind::WorkspaceFile => files::delete(self, &live.spec),
            kind => Err(ProviderError::NotConfigured(kind)),
        }
    }
}

/// A spec field as text.
pub fn text<'a>(spec: &'a Value, field: &str) -> &'a str {
    spec.get(field).and_then(Value::as_str).unwrap_or("")
}
