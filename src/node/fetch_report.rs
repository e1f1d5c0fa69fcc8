//! An install's (or update's) blob fetch as job events: each [`FetchProgress`] of the entry's
//! blobs becomes a `fetch` event whose message says what moves, how much of it is held,
//! from which source and over which path ("fetching image images/web.oci.tar: 12.3 of
//! 40.0 MB from origin 3fa2b1c0… (direct)"), and whose percent follows the bytes held of
//! all the entry's blobs, between [`FETCH_FROM`] and [`FETCH_TO`].

use std::collections::HashMap;

use atoll_discovery::blobs::{FetchProgress, FetchState};
use atoll_registry::{Entry, Hash};
use tokio::sync::mpsc;

use crate::api::jobs::JobHandle;

/// The job's percent when the fetch starts.
pub const FETCH_FROM: u8 = 2;
/// The job's percent when every blob is held; the orchestrator's work fills the rest.
pub const FETCH_TO: u8 = 40;

/// Forward the fetch events of `entry`'s blobs to `job` until the sender side closes.
pub async fn forward(
    job: JobHandle,
    entry: &Entry,
    mut rx: mpsc::UnboundedReceiver<FetchProgress>,
) {
    let mut held: HashMap<Hash, (u64, u64)> = std::iter::once(&entry.manifest)
        .chain(entry.artifacts.iter().map(|a| &a.blob))
        .map(|b| (b.hash, (0, b.size)))
        .collect();
    while let Some(p) = rx.recv().await {
        let slot = held.entry(p.blob).or_insert((0, p.total));
        slot.0 = slot.0.max(p.fetched.min(slot.1));
        let (sum, total) = held
            .values()
            .fold((0u64, 0u64), |(s, t), (h, n)| (s + h, t + n));
        job.fetch(percent(sum, total), message(&p), p);
    }
}

/// [`FETCH_FROM`]..=[`FETCH_TO`] by `held` of `total` bytes.
fn percent(held: u64, total: u64) -> u8 {
    let span = u64::from(FETCH_TO - FETCH_FROM);
    let part = if total == 0 {
        span
    } else {
        (u128::from(held.min(total)) * u128::from(span) / u128::from(total)) as u64
    };
    FETCH_FROM + part as u8
}

/// What people read about one event.
pub fn message(p: &FetchProgress) -> String {
    let what = if p.name.is_empty() {
        p.kind.clone()
    } else {
        format!("{} {}", p.kind, p.name)
    };
    let of = format!("{} of {}", size(p.fetched), size(p.total));
    let from = match (&p.source, p.path) {
        (Some(s), Some(path)) => format!("{s} ({})", path.as_str()),
        (Some(s), None) => s.clone(),
        (None, _) => "this node".to_owned(),
    };
    let detail = p.detail.as_deref().unwrap_or("");
    match p.state {
        FetchState::Held => format!("{what} ({}) is held by this node", size(p.total)),
        FetchState::Connecting if p.fetched > 0 => {
            format!("{what}: {of} held; connecting to {from}")
        }
        FetchState::Connecting => format!("{what}: connecting to {from}"),
        FetchState::Fetching => format!("fetching {what}: {of} from {from}"),
        FetchState::Stalled => {
            format!("{what}: {from} stalled ({detail}); leaving it for the next source")
        }
        FetchState::Failed => format!("{what}: {from} failed ({detail}); trying the next source"),
        FetchState::Done => format!("{what}: {of} from {from}, verified"),
    }
}

/// `812 B`, `4.2 kB`, `12.3 MB`, `1.5 GB` (decimal units).
fn size(n: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, scale) in UNITS {
        if n as f64 >= scale {
            return format!("{:.1} {unit}", n as f64 / scale);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_spans_the_fetch_range_by_bytes() {
        assert_eq!(percent(0, 100), FETCH_FROM);
        assert_eq!(percent(100, 100), FETCH_TO);
        assert_eq!(percent(50, 100), FETCH_FROM + (FETCH_TO - FETCH_FROM) / 2);
        assert_eq!(percent(0, 0), FETCH_TO);
        assert_eq!(percent(u64::MAX, u64::MAX), FETCH_TO);
    }

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(4_200), "4.2 kB");
        assert_eq!(size(12_345_678), "12.3 MB");
        assert_eq!(size(40_000_000), "40.0 MB");
    }
}
