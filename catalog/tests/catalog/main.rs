//! Integration tests of the catalog, on real SQLite files in temp dirs (one test binary).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod concurrency;
mod ingest;
mod migrate;
mod misc;
mod refusals;
mod robustness;
mod rotation;
mod search;
mod service;
mod trust;
mod trust_live;
