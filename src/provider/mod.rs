//! Providers: the only code that touches live systems. A provider reads the live objects the
//! engine asks about (in batches) and creates, updates or deletes one object when the executor
//! tells it to. It speaks canonical spec JSON in the same shape as the manifests, so the engine
//! can diff without knowing any system's wire format; it knows nothing about rendering.

pub mod ignition;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::manifest::{Address, EnvironmentConfig, Kind};

/// A live object as a provider read it, in the manifests' canonical spec shape.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    pub spec: Value,
    /// A server-assigned id, for kinds that have one.
    pub id: Option<String>,
}

/// One object to read: its address and the spec that says where it lives (the last applied
/// spec when there is one, since that is where the object actually is).
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub address: Address,
    pub spec: Value,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not what the gateway writes: {message}")]
    UnreadableLive { path: PathBuf, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("no provider handles {0} in this environment")]
    NotConfigured(Kind),
}

/// What every system's provider can do.
pub trait Provider: Send + Sync {
    /// `ignition`, `databricks`: matches `Kind::system`.
    fn system(&self) -> &'static str;

    /// Reads the given objects; an object that does not exist is absent from the result.
    fn refresh(
        &self,
        requests: &[RefreshRequest],
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError>;

    /// Creates the object (or overwrites a leftover at its place) and returns what is live.
    fn create(&self, address: &Address, desired: &Value) -> Result<LiveObject, ProviderError>;

    /// Changes the object in place; `live` is the spec it was read with.
    fn update(
        &self,
        address: &Address,
        desired: &Value,
        live: &Value,
    ) -> Result<LiveObject, ProviderError>;

    /// Deletes the object that `live` describes.
    fn delete(&self, address: &Address, live: &Value) -> Result<(), ProviderError>;
}

/// The providers of one environment, by system.
pub struct Providers {
    providers: Vec<Box<dyn Provider>>,
}

impl Providers {
    /// Builds the providers an environment configures, rooted at the manifest root.
    pub fn for_environment(environment: &EnvironmentConfig, root: &std::path::Path) -> Providers {
        let mut providers: Vec<Box<dyn Provider>> = Vec::new();
        if let Some(ignition) = &environment.ignition {
            providers.push(Box::new(ignition::files::IgnitionFiles::new(
                root.join(&ignition.data_dir),
                ignition.collection.clone(),
            )));
        }
        Providers { providers }
    }

    pub fn from_list(providers: Vec<Box<dyn Provider>>) -> Providers {
        Providers { providers }
    }

    /// The provider for a kind.
    pub fn for_kind(&self, kind: Kind) -> Result<&dyn Provider, ProviderError> {
        self.providers
            .iter()
            .find(|p| p.system() == kind.system())
            .map(|p| p.as_ref())
            .ok_or(ProviderError::NotConfigured(kind))
    }

    /// Reads every requested object, one batch per provider.
    pub fn refresh(
        &self,
        requests: Vec<RefreshRequest>,
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
        let mut by_system: BTreeMap<&'static str, Vec<RefreshRequest>> = BTreeMap::new();
        for request in requests {
            by_system
                .entry(request.address.kind.system())
                .or_default()
                .push(request);
        }
        let mut live = BTreeMap::new();
        for (_, requests) in by_system {
            let provider = self.for_kind(requests[0].address.kind)?;
            live.extend(provider.refresh(&requests)?);
        }
        Ok(live)
    }
}
