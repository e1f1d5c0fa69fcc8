//! The libpod REST API client: containers, images, networks, events and logs over the
//! rootless user's socket, plus the CLI's JSON output as a fallback for listing.

pub mod cli;
pub mod client;
mod containers;
pub mod events;
mod images;
pub mod logs;
mod networks;
pub mod types;

pub use client::Client;

use std::path::Path;

/// Typed libpod operations over one socket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Podman {
    client: Client,
}

impl Podman {
    /// A client for the API socket at `socket`.
    pub fn new(socket: &Path) -> Self {
        Self {
            client: Client::new(socket),
        }
    }

    /// The raw HTTP client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Percent-encode a path segment (container, image or network name).
pub(crate) fn seg(name: &str) -> String {
    client::encode(name)
}
