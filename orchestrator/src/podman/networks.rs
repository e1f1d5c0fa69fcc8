//! Network endpoints: the app-private bridge networks.

use std::collections::BTreeMap;

use hyper::Method;

use super::client::{empty, label_filter, DEFAULT_TIMEOUT};
use super::types::Network;
use super::{seg, Podman};
use crate::error::PodmanError;

impl Podman {
    /// Networks carrying all the given labels.
    pub async fn list_networks(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<Network>, PodmanError> {
        let path = format!("/networks/json?filters={}", label_filter(labels));
        self.client.get(&path).await
    }

    /// Create a bridge network with DNS (aliases resolve between its containers).
    pub async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), PodmanError> {
        let spec = serde_json::json!({
            "name": name,
            "driver": "bridge",
            "dns_enabled": true,
            "labels": labels,
        });
        let _: serde_json::Value = self.client.post("/networks/create", &spec).await?;
        Ok(())
    }

    /// Inspect a network's labels; `None` if it does not exist.
    pub async fn network_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, PodmanError> {
        match self
            .client
            .get::<Network>(&format!("/networks/{}/json", seg(name)))
            .await
        {
            Ok(n) => Ok(Some(n.labels)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Remove a network. A missing network is fine.
    pub async fn remove_network(&self, name: &str) -> Result<(), PodmanError> {
        let path = format!("/networks/{}", seg(name));
        match self
            .client
            .call(Method::DELETE, &path, empty(), DEFAULT_TIMEOUT)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}
