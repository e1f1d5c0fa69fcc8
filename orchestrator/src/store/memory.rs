//! [`DesiredState`] in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{AppRecord, DesiredState};
use crate::error::StoreError;

/// Desired state in memory (lost when dropped).
#[derive(Debug, Default)]
pub struct MemoryStore {
    apps: Mutex<BTreeMap<String, AppRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl DesiredState for MemoryStore {
    fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
        Ok(self
            .apps
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .values()
            .cloned()
            .collect())
    }

    fn get(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        Ok(self
            .apps
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .get(name)
            .cloned())
    }

    fn put(&self, record: &AppRecord) -> Result<(), StoreError> {
        self.apps
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .insert(record.name.clone(), record.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.apps
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .remove(name);
        Ok(())
    }
}
