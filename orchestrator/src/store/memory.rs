//! [`DesiredState`] in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{AppRecord, DesiredState, StoreFuture};
use crate::error::StoreError;

/// Desired state in memory (lost when dropped). Share one (`Arc`) between orchestrators
/// opened one after the other to model a restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    apps: Mutex<BTreeMap<String, AppRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, AppRecord>) -> T,
    ) -> Result<T, StoreError> {
        let mut apps = self.apps.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(f(&mut apps))
    }
}

impl DesiredState for MemoryStore {
    fn list(&self) -> StoreFuture<'_, Vec<AppRecord>> {
        let out = self.with(|apps| apps.values().cloned().collect());
        Box::pin(async move { out })
    }

    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<AppRecord>> {
        let out = self.with(|apps| apps.get(name).cloned());
        Box::pin(async move { out })
    }

    fn put<'a>(&'a self, record: &'a AppRecord) -> StoreFuture<'a, ()> {
        let out = self.with(|apps| {
            apps.insert(record.name.clone(), record.clone());
        });
        Box::pin(async move { out })
    }

    fn delete<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let out = self.with(|apps| {
            apps.remove(name);
        });
        Box::pin(async move { out })
    }
}
