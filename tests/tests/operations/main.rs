//! Operations (OP-2, OP-3, DS-2): real `bulwark` nodes behind a real nginx on one real
//! PostgreSQL, all started by the tests on free loopback ports, and the faults a bank's
//! operators meet: a database restart, a node killed or stopped under load, a failover.
//! Each test counts what was lost.
//!
//! Needs PostgreSQL's server binaries (`initdb`, `pg_ctl`; Debian's postgresql package) and
//! nginx. Without them a test prints that it skipped and why; under `CI=true` it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod cluster;
mod database;
mod failover;
mod nodes;
