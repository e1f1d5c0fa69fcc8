//! Nostr relays: the embedded relay ([`EmbeddedRelay`]) and the relay pool with one sync
//! session per relay ([`RelayPool`]).

mod embedded;
mod pool;
mod seen;
mod session;

pub use embedded::{EmbeddedRelay, EmbeddedRelayError, LMDB_MAP_SIZE};
pub use pool::{Inbound, PublishError, PublishReport, RelayPool, RelayPoolError};
pub use session::{RelayState, SyncMode};
