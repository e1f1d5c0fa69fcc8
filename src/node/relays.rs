//! The node's Nostr relays while it runs: the configured ones, those the operator added
//! or disabled at runtime (persisted in the catalog, `relay_choices`), and the outbox
//! relays of trusted publishers ([`super::outbox`]). [`NodeRelays`] merges them into the
//! relay pool — at start ([`startup`]), on every operator change and every
//! [`super::outbox::INTERVAL`] — and answers `atoll sync relay`, `GET/POST/DELETE
//! /api/v1/relays` and the UI.
//!
//! Rules: `add` of a configured relay re-enables it; `add` of another relay records it
//! as `added`. `remove` of a configured or outbox relay records it as `disabled` (it is
//! not used, whoever names it, until added again); `remove` of an added relay forgets
//! it. The embedded relay is part of the node and cannot be removed.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use atoll_catalog::{CatalogError, CatalogService, RelayChoice, RelayChoiceRow};
use atoll_discovery::relay::{normal_url, RelayPoolError, RelaySource, RelayState, SyncMode};
use atoll_discovery::{Discovery, DiscoveryConfig};
use serde::Serialize;

use super::outbox;

/// Why a relay change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RelayOpError {
    /// Not a relay URL (or a bad note, or too many relays): the operator's input.
    #[error("{0}")]
    Invalid(String),
    /// The embedded relay cannot be removed.
    #[error("{0}")]
    Embedded(String),
    /// Not a relay of this node.
    #[error("{0} is not a relay of this node")]
    NotFound(String),
    /// The catalog failed.
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

/// One relay as `atoll sync relay list`, `sync status` and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct RelayView {
    /// The relay URL.
    pub url: String,
    /// Why the node uses it (`None` for a disabled relay no one names now).
    pub source: Option<RelaySource>,
    /// The source in words (`config`, `operator`, `outbox of <did> (pinned)`).
    pub reason: String,
    /// `connected`, `connecting`, `offline` (with `last_error`) or `disabled`.
    pub state: &'static str,
    /// How it is reconciled.
    pub mode: Option<SyncMode>,
    /// Its `since` cursor (unix seconds).
    pub cursor: Option<u64>,
    /// Events received from it since the node started.
    pub events: u64,
    /// Connection attempts that failed.
    pub failed_connects: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

impl RelayView {
    fn live(s: RelayState) -> Self {
        let state = if s.connected {
            "connected"
        } else if s.failed_connects > 0 {
            "offline"
        } else {
            "connecting"
        };
        Self {
            reason: s.source.to_string(),
            url: s.url,
            source: Some(s.source),
            state,
            mode: Some(s.mode),
            cursor: s.cursor,
            events: s.events,
            failed_connects: s.failed_connects,
            last_error: s.last_error,
        }
    }

    fn disabled(url: String, named_by_config: bool) -> Self {
        Self {
            url,
            source: named_by_config.then_some(RelaySource::Config),
            reason: if named_by_config {
                "config, disabled by the operator".to_owned()
            } else {
                "disabled by the operator".to_owned()
            },
            state: "disabled",
            mode: None,
            cursor: None,
            events: 0,
            failed_connects: 0,
            last_error: None,
        }
    }
}

/// What an operator change did, in words, and the relays after it.
#[derive(Debug, Clone, Serialize)]
pub struct RelayChangeReport {
    /// The relay (normalised).
    pub url: String,
    /// What happened.
    pub message: String,
    /// Every relay now.
    pub relays: Vec<RelayView>,
}

/// Fill the relays a node starts with: the configured ones minus those the operator
/// disabled, plus those it added (so a disabled relay is never contacted, not even once).
pub fn startup(cfg: &mut DiscoveryConfig, choices: &[RelayChoiceRow]) {
    let disabled: HashSet<String> = choices
        .iter()
        .filter(|c| c.choice == RelayChoice::Disabled)
        .map(|c| norm(&c.url))
        .collect();
    cfg.relays.retain(|u| !disabled.contains(&norm(u)));
    cfg.operator_relays = choices
        .iter()
        .filter(|c| c.choice == RelayChoice::Added)
        .map(|c| c.url.clone())
        .filter(|u| !cfg.relays.iter().any(|c| norm(c) == norm(u)))
        .collect();
}

/// The normal form of a stored or configured URL (unchanged if nostr-sdk refuses it).
fn norm(url: &str) -> String {
    normal_url(url).unwrap_or_else(|_| url.to_owned())
}

fn catalog_error(e: CatalogError) -> RelayOpError {
    match e {
        CatalogError::RelayUrl { .. }
        | CatalogError::TooManyRelays { .. }
        | CatalogError::Note(_) => RelayOpError::Invalid(e.to_string()),
        other => RelayOpError::Internal(other.into()),
    }
}

/// The node's relays (see the module).
pub struct NodeRelays {
    d: Discovery,
    catalog: CatalogService,
    /// `[relays] external`, normalised.
    config: Vec<String>,
    threshold: f64,
    /// One change at a time (operator or outbox task).
    serial: tokio::sync::Mutex<()>,
}

impl NodeRelays {
    /// The relays of a started node with configured relays `config` and trust
    /// threshold `threshold` (outbox relays of publishers at or above it are read).
    pub fn new(
        d: Discovery,
        catalog: CatalogService,
        config: &[String],
        threshold: f64,
    ) -> Arc<Self> {
        Arc::new(Self {
            d,
            catalog,
            config: config.iter().map(|u| norm(u)).collect(),
            threshold,
            serial: tokio::sync::Mutex::new(()),
        })
    }

    fn embedded(&self) -> Option<String> {
        self.d.embedded_relay_url().map(|u| norm(&u))
    }

    async fn choices(&self) -> Result<Vec<RelayChoiceRow>, RelayOpError> {
        self.catalog
            .read(|c| c.relay_choices())
            .await
            .map_err(catalog_error)
    }

    /// Bring the pool in line with config, choices and the outbox of trusted publishers.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _serial = self.serial.lock().await;
        self.apply().await
    }

    async fn apply(&self) -> anyhow::Result<()> {
        let choices = self
            .catalog
            .read(|c| c.relay_choices())
            .await
            .context("reading the relay choices")?;
        let threshold = self.threshold;
        let publishers = self
            .catalog
            .read(move |c| c.outbox_publishers(threshold))
            .await
            .context("reading the outbox of trusted publishers")?;
        let disabled: HashSet<String> = choices
            .iter()
            .filter(|c| c.choice == RelayChoice::Disabled)
            .map(|c| norm(&c.url))
            .collect();
        let mut desired: Vec<(String, RelaySource)> = Vec::new();
        for url in &self.config {
            if !disabled.contains(url) {
                desired.push((url.clone(), RelaySource::Config));
            }
        }
        for c in choices.iter().filter(|c| c.choice == RelayChoice::Added) {
            let url = norm(&c.url);
            if !desired.iter().any(|(u, _)| *u == url) && !disabled.contains(&url) {
                desired.push((url, RelaySource::Operator));
            }
        }
        let mut skip: HashSet<String> = desired.iter().map(|(u, _)| u.clone()).collect();
        skip.extend(disabled);
        skip.extend(self.embedded());
        for (url, publishers) in outbox::select(&publishers, &skip, threshold) {
            desired.push((url, RelaySource::Outbox { publishers }));
        }
        desired.retain(|(u, _)| Some(u) != self.embedded().as_ref());
        let pool = self.d.relays();
        for (url, source) in pool.relays() {
            if source != RelaySource::Embedded && !desired.iter().any(|(u, _)| *u == url) {
                if let Err(e) = pool.remove(&url).await {
                    tracing::warn!(relay = %url, error = %e, "cannot remove a relay");
                }
            }
        }
        for (url, source) in desired {
            if let Err(e) = pool.add(&url, source).await {
                tracing::warn!(relay = %url, error = %e, "cannot add a relay");
            }
        }
        Ok(())
    }

    /// Every relay: those in use with their state, then the disabled ones.
    pub async fn list(&self) -> Result<Vec<RelayView>, RelayOpError> {
        let mut out: Vec<RelayView> = self
            .d
            .relays()
            .states()
            .into_iter()
            .map(RelayView::live)
            .collect();
        for c in self.choices().await? {
            if c.choice == RelayChoice::Disabled {
                let url = norm(&c.url);
                let in_config = self.config.contains(&url);
                out.push(RelayView::disabled(url, in_config));
            }
        }
        Ok(out)
    }

    fn checked(url: &str) -> Result<String, RelayOpError> {
        normal_url(url).map_err(|e| match e {
            RelayPoolError::Relay { url, detail } => {
                RelayOpError::Invalid(format!("url: {url:?} is not a relay URL: {detail}"))
            }
            other => RelayOpError::Invalid(format!("url: {other}")),
        })
    }

    async fn report(
        &self,
        url: String,
        message: String,
    ) -> Result<RelayChangeReport, RelayOpError> {
        Ok(RelayChangeReport {
            url,
            message,
            relays: self.list().await?,
        })
    }

    /// Use a relay (persisted): see the module for the rules.
    pub async fn add(&self, url: &str) -> Result<RelayChangeReport, RelayOpError> {
        let url = Self::checked(url)?;
        let serial = self.serial.lock().await;
        if Some(&url) == self.embedded().as_ref() {
            drop(serial);
            return self
                .report(url, "already used: it is this node's embedded relay".into())
                .await;
        }
        let current = {
            let u = url.clone();
            self.catalog
                .read(move |c| c.relay_choice(&u))
                .await
                .map_err(catalog_error)?
        };
        let message = if self.config.contains(&url) {
            if current.is_some() {
                let u = url.clone();
                self.catalog
                    .write(move |c| c.clear_relay_choice(&u))
                    .await
                    .map_err(catalog_error)?;
                "re-enabled (a configured relay)"
            } else {
                "already used (a configured relay)"
            }
        } else {
            let u = url.clone();
            let changed = self
                .catalog
                .write(move |c| c.set_relay_choice(&u, RelayChoice::Added, ""))
                .await
                .map_err(catalog_error)?;
            if changed {
                "added; it syncs from its cursor now and after every restart"
            } else {
                "already added"
            }
        };
        self.apply().await.map_err(RelayOpError::Internal)?;
        drop(serial);
        self.report(url, message.into()).await
    }

    /// Stop using a relay (persisted): see the module for the rules.
    pub async fn remove(&self, url: &str) -> Result<RelayChangeReport, RelayOpError> {
        let url = Self::checked(url)?;
        let serial = self.serial.lock().await;
        if Some(&url) == self.embedded().as_ref() {
            return Err(RelayOpError::Embedded(format!(
                "{url} is this node's embedded relay; it cannot be removed (set [relays] embedded = false in the config)"
            )));
        }
        let current = {
            let u = url.clone();
            self.catalog
                .read(move |c| c.relay_choice(&u))
                .await
                .map_err(catalog_error)?
        };
        let in_pool = self
            .d
            .relays()
            .relays()
            .into_iter()
            .find(|(u, _)| *u == url)
            .map(|(_, s)| s);
        let disable = |url: String| async move {
            self.catalog
                .write(move |c| c.set_relay_choice(&url, RelayChoice::Disabled, ""))
                .await
                .map_err(catalog_error)
        };
        let message = match (current, in_pool) {
            (Some(RelayChoice::Disabled), _) => "already disabled".to_owned(),
            (Some(RelayChoice::Added), _) if !self.config.contains(&url) => {
                let u = url.clone();
                self.catalog
                    .write(move |c| c.clear_relay_choice(&u))
                    .await
                    .map_err(catalog_error)?;
                "removed".to_owned()
            }
            (_, Some(source)) => {
                disable(url.clone()).await?;
                format!("disabled ({source}); `atoll sync relay add` enables it again")
            }
            (_, None) if self.config.contains(&url) => {
                disable(url.clone()).await?;
                "disabled (config); `atoll sync relay add` enables it again".to_owned()
            }
            (_, None) => return Err(RelayOpError::NotFound(url)),
        };
        self.apply().await.map_err(RelayOpError::Internal)?;
        drop(serial);
        self.report(url, message).await
    }

    /// Recompute the outbox every [`outbox::INTERVAL`] until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(outbox::INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %format!("{e:#}"), "cannot update the relays");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_node_starts_without_its_disabled_relays_and_with_its_added_ones() {
        let mut cfg = DiscoveryConfig::new("/nonexistent");
        cfg.relays = vec!["ws://10.0.0.1:7777".into(), "wss://b.example.org".into()];
        let row = |url: &str, choice| RelayChoiceRow {
            url: url.into(),
            choice,
            note: String::new(),
            updated_at: 1,
        };
        startup(
            &mut cfg,
            &[
                row("ws://10.0.0.1:7777", RelayChoice::Disabled),
                row("wss://c.example.org", RelayChoice::Added),
                row("wss://b.example.org", RelayChoice::Added),
            ],
        );
        assert_eq!(cfg.relays, ["wss://b.example.org"]);
        assert_eq!(cfg.operator_relays, ["wss://c.example.org"]);
    }
}
