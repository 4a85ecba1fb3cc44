//! Whole-system tests: each test starts the real `rapport` binary in
//! monolithic mode (embedded broker, SQLite, every service on loopback
//! ports chosen at run time) as a child process and talks to it like a user.
//!
//! All tests share one binary so the dependency stack links once.

mod access;
mod api_keys;
mod audit;
mod bad_input;
mod cli;
mod contact_lifecycle;
mod contacts_rest;
mod durability;
mod events;
mod harness;
mod isolation;
mod migrate;
mod oidc;
mod pipelines;
mod readme;
mod roles;
mod shutdown;
mod slice;
mod trace;
