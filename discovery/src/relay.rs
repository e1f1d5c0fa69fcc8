//! Nostr relays: the embedded relay ([`EmbeddedRelay`]), the relay pool with one sync
//! session per relay ([`RelayPool`], relays added and removed while it runs, each with
//! its [`RelaySource`]), and the guarded transport every relay connection
//! uses ([`guard`]).

mod embedded;
pub mod front;
pub mod guard;
mod pool;
mod seen;
mod session;
mod source;

pub use embedded::{
    EmbeddedRelay, EmbeddedRelayError, LMDB_MAP_SIZE, MAX_QUERY_EVENTS, MAX_SUBSCRIPTIONS,
};
pub use guard::{Refusal, MAX_RELAY_MESSAGE, MAX_RELAY_TEXT};
pub use pool::{
    normal_url, PoolMessage, PublishError, PublishReport, RelayChange, RelayPool, RelayPoolError,
    MAX_RELAYS,
};
pub use session::{RelayState, SyncMode};
pub use source::{OutboxReason, RelaySource};
