//! `atoll`: the one binary — publisher CLI, operator CLI and the node — as a library, so
//! that the integration tests and benchmarks drive the same node wiring (for example the
//! swarm tests run discovery over the real catalog through [`node::catalog_port`]).

pub mod api;
pub mod cli;
pub mod conformance;
pub mod home;
pub mod node;

#[cfg(test)]
mod fuzz;
