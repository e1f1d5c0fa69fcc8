//! # atoll-catalog
//!
//! The node's memory: what it has seen, what it believes, whom it trusts and what it runs,
//! in one SQLite file (WAL, migrations tracked by `user_version`).
//!
//! * **Entries** go in through [`Catalog::ingest`], which takes only
//!   [`atoll_registry::Verified`] entries and applies the origin-wins rules of DESIGN.md
//!   atomically, returning an [`IngestOutcome`]: new, newer, duplicate, rollback (rejected
//!   and audited), equivocation (flagged, the origin's copy kept, the publisher penalised),
//!   stale (past expiry) or yanked. [`Catalog::ingest_batch`] does many in one transaction.
//! * **Manifests** arrive later as blobs; [`Catalog::attach_manifest`] checks them against
//!   the entries that name their hash and makes the app searchable by name, description
//!   and categories.
//! * **Trust**: [`Catalog::pin`] / [`Catalog::block`] / signed endorsements
//!   ([`Catalog::ingest_endorsement`]) and penalties feed [`Catalog::recompute_trust`], a
//!   damped propagation from the pinned anchors ([`trust::compute`]); [`Catalog::explain`]
//!   shows the path and penalties behind a score.
//! * **Search**: [`Catalog::search`] with a [`SearchQuery`] (FTS5, filters, sort, paging).
//! * **Refusals**: an entry whose manifest blob turns out bad is removed again with
//!   [`Catalog::refuse_entry`] (the previous head comes back; the bytes are remembered as
//!   refused by payload id, in the audit log).
//! * **Desired state** for the orchestrator ([`Catalog::put_installed`]), **sync cursors**
//!   (never ahead of the clock), **relays** the operator added or disabled at runtime and
//!   the **outbox** relays of trusted publishers ([`Catalog::outbox_publishers`]), the **blob index** and the **audit log** of refused input
//!   (one row per input, bounded rows, the newest [`audit::MAX_AUDIT_ROWS`] kept).
//!
//! ```
//! use atoll_catalog::{Catalog, IngestOutcome, Provenance, SearchQuery};
//! use atoll_registry::{Envelope, Entry, Hash, Keypair};
//! use atoll_registry::objects::{BlobRef, EntryType, Origin};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut catalog = Catalog::open(dir.path().join("catalog.db")).unwrap();
//!
//! let key = Keypair::from_seed([1; 32]);
//! let entry = Entry {
//!     kind: EntryType,
//!     app: "hello".parse().unwrap(),
//!     publisher: key.did(),
//!     version: "1.0.0".parse().unwrap(),
//!     sequence: 1,
//!     manifest: BlobRef { hash: Hash::of(b"manifest"), size: 8 },
//!     artifacts: vec![],
//!     origin: Origin::default(),
//!     published_at: 1_700_000_000,
//!     expires_at: 4_000_000_000,
//!     yanked: None,
//! };
//! let verified = Envelope::sign(&entry, &key).unwrap().verify::<Entry>().unwrap();
//! let relay = Provenance::Relay("ws://127.0.0.1:7777".into());
//! assert_eq!(catalog.ingest(&verified, &relay).unwrap(), IngestOutcome::New { sequence: 1 });
//! assert_eq!(catalog.ingest(&verified, &relay).unwrap(), IngestOutcome::Duplicate { sequence: 1 });
//!
//! let page = catalog.search(&SearchQuery { words: "hello".into(), ..Default::default() }).unwrap();
//! assert_eq!(page.items.len(), 1);
//! ```
//!
//! Modules: [`store`] opening and migrations ([`schema`]), [`ingest`] the rules,
//! [`objects`] profiles and endorsements, [`manifests`], [`search`], [`trust`], [`query`]
//! one app's view, [`refuse`] entries refused after the fact, [`desired`] installed apps,
//! [`relays`] relays chosen at runtime and publishers' outbox relays, [`rotation`] key
//! state (rotations, void objects of retired keys),
//! [`blobs`], [`sync`], [`audit`] (refused input and guard overrides), [`check`], [`guard`]
//! the install/update guard every install path asks.
//! The design — rules as implemented, the trust formula — is in the crate's README.md.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod blobs;
pub mod check;
pub mod desired;
pub mod error;
pub mod guard;
pub mod ingest;
pub mod lookalike;
pub mod manifests;
pub mod objects;
pub mod provenance;
pub mod query;
pub mod refuse;
pub mod relays;
pub mod resolve;
pub mod rotation;
pub mod schema;
pub mod search;
pub mod service;
mod signed;
pub mod store;
pub mod stored;
pub mod sync;
pub mod trust;
pub mod updates;

pub use audit::{AuditInput, AuditKind, AuditRecord};
pub use blobs::{BlobInfo, BlobKind};
pub use check::CheckReport;
pub use desired::{DesiredRun, InstalledRow};
pub use error::{
    CatalogError, Inconsistency, ManifestRejected, Missing, NoteError, OpenError, Stored,
};
pub use guard::{Decision as GuardDecision, GuardFacts, Override, Overrides, Refusal};
pub use ingest::IngestOutcome;
pub use lookalike::{SameAppId, WithId};
pub use manifests::Attached;
pub use objects::{UpdateOutcome, MAX_ENDORSEMENTS_PER_SIGNER};
pub use provenance::Provenance;
pub use query::{AppView, EntryRecord, EntryStatus};
pub use refuse::RefusedEntry;
pub use relays::{OutboxPublisher, RelayChoice, RelayChoiceRow};
pub use resolve::{Plan as DependencyPlan, ResolveError, Step as DependencyStep};
pub use rotation::{KeyHistory, RotationOutcome, RotationRecord, Voided};
pub use search::{AppSummary, SearchPage, SearchQuery, Sort};
pub use service::CatalogService;
pub use store::Catalog;
pub use stored::UnknownName;
pub use sync::CursorRecord;
pub use trust::{
    EndorsementRow, Endorsements, PenaltyKind, TrustDecision, TrustExplanation, TrustParams,
    TrustRow, TrustStats,
};
pub use updates::{UpdateFailure, UpdatePolicy};
