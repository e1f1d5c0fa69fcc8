//! The pipeline's decision for one event, as pure functions: what the event stages found
//! (the decoded event or why it was refused) and what the catalog answered go in, one
//! [`EventDecision`] comes out. The pipeline actor only carries decisions out (counting,
//! recording, queueing blob jobs); the table tests run these without relays or catalog.

use atoll_registry::audit;
use atoll_registry::Hash;
use nostr_sdk::EventId;

use crate::port::{EntryVerdict, ObjectVerdict, PortError};
use crate::reject::{Reason, Rejection, RejectionSource};
use crate::relay::guard::event_key;

/// What to do with one event (or the entry it carried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDecision {
    /// Not an atoll event: count it as ignored.
    Ignore,
    /// Refuse it: count and keep the rejection, and record it in the audit log unless
    /// `in_catalog` (the catalog recorded it already).
    Refuse {
        /// The reason.
        reason: Reason,
        /// The record.
        rejection: Box<Rejection>,
        /// The catalog recorded it already.
        in_catalog: bool,
    },
    /// Stored, and it is the app's head now: fetch its blobs.
    FetchBlobs,
    /// Stored, nothing to fetch.
    Record,
    /// Stored as the app's head but past its expiry: stored, and refused as expired
    /// (recorded; its blobs are not fetched).
    RecordStale {
        /// [`Reason::Expired`].
        reason: Reason,
        /// The record.
        rejection: Box<Rejection>,
    },
    /// Known already: count a duplicate.
    Skip,
    /// The catalog failed (storage, not input): not processed; a replay brings it again.
    Defer,
}

/// What is known about an event before it is decoded.
#[derive(Debug, Clone)]
pub struct EventFacts {
    /// Its claimed id.
    pub event_id: EventId,
    /// Its claimed signature (64 bytes).
    pub sig: [u8; 64],
    /// Its `d` tag, if any.
    pub d_tag: Option<String>,
    /// Who delivered it.
    pub from: RejectionSource,
}

/// Is an event's id known to be its own (then it may be remembered as processed and
/// NIP-77 need not fetch it again)? `verified` checks the id and signature; it is called
/// only when the decode result does not tell.
pub fn id_is_own<T>(decoded: &Result<T, Reason>, verified: impl FnOnce() -> bool) -> bool {
    match decoded {
        Err(Reason::NostrSignature) => false,
        // Too large to decode, but its id and signature may well be its own.
        Err(Reason::Oversized { .. }) => verified(),
        _ => true,
    }
}

/// The event stages refused an event: refuse it, keyed by its id if the id is its own,
/// else by the bytes that were refused (id and signature).
pub fn decode_refused(reason: Reason, facts: &EventFacts, own_id: bool) -> EventDecision {
    let key = if own_id {
        event_key(&facts.event_id)
    } else {
        unverified_key(facts)
    };
    let mut r = Rejection::new(&reason, facts.from.clone()).keyed(key);
    r.event_id = Some(facts.event_id.to_hex());
    r.subject = facts.d_tag.as_ref().map(|d| d.chars().take(200).collect());
    EventDecision::Refuse {
        reason,
        rejection: Box::new(r),
        in_catalog: false,
    }
}

/// The audit key of an event whose id is not its own.
pub fn unverified_key(facts: &EventFacts) -> Hash {
    audit::key(
        "unverified-event",
        &[facts.event_id.as_bytes(), facts.sig.as_ref()],
    )
}

/// What is known about a decoded entry when the catalog answers.
#[derive(Debug, Clone)]
pub struct EntryFacts {
    /// The id of the event that carried it.
    pub event_id: EventId,
    /// Its `d` tag.
    pub subject: String,
    /// Who delivered it.
    pub from: RejectionSource,
    /// Its signed expiry (unix seconds).
    pub expires_at: u64,
}

/// The catalog's verdict on an entry: what the pipeline does next.
pub fn entry_verdict(
    verdict: &Result<EntryVerdict, PortError>,
    facts: &EntryFacts,
    now: u64,
) -> EventDecision {
    let verdict = match verdict {
        Ok(v) => v,
        Err(_) => return EventDecision::Defer,
    };
    let record = |reason: &Reason, keyed: bool| {
        let mut r = Rejection::new(reason, facts.from.clone());
        if keyed {
            r.key = Some(event_key(&facts.event_id));
        }
        r.event_id = Some(facts.event_id.to_hex());
        r.subject = Some(facts.subject.clone());
        Box::new(r)
    };
    match verdict {
        EntryVerdict::Head | EntryVerdict::EquivocationWon => EventDecision::FetchBlobs,
        EntryVerdict::YankedHead => EventDecision::Record,
        EntryVerdict::StaleHead => {
            let reason = Reason::Expired {
                expires_at: facts.expires_at,
                now,
            };
            EventDecision::RecordStale {
                rejection: record(&reason, true),
                reason,
            }
        }
        EntryVerdict::Duplicate => EventDecision::Skip,
        EntryVerdict::Refused(reason) => EventDecision::Refuse {
            rejection: record(reason, false),
            reason: reason.clone(),
            in_catalog: true,
        },
    }
}

/// The catalog's answer to another signed object (profile, endorsement, list, mirror).
/// A failure drops the object as if it were known (it comes again with the next
/// delivery).
/// A refusal becomes `record(reason)` (the catalog audited it already).
pub fn object_stored(
    stored: &Result<ObjectVerdict, PortError>,
    record: impl FnOnce(&Reason) -> Box<Rejection>,
) -> EventDecision {
    match stored {
        Ok(ObjectVerdict::Stored) => EventDecision::Record,
        Ok(ObjectVerdict::Known) | Err(_) => EventDecision::Skip,
        Ok(ObjectVerdict::Refused(reason)) => EventDecision::Refuse {
            rejection: record(reason),
            reason: reason.clone(),
            in_catalog: true,
        },
    }
}

/// The catalog's answer when a profile binding upgrades an entry to the origin's: fetch
/// its blobs if it is the head now.
pub fn origin_upgrade(verdict: &Result<EntryVerdict, PortError>) -> bool {
    matches!(
        verdict,
        Ok(EntryVerdict::EquivocationWon | EntryVerdict::Head)
    )
}
