//! The black-box suite: keyflow on port 0 against keyflow-mock on port 0,
//! each test with its own temporary SQLite file.

mod helpers;

mod admin;
mod failover;
mod proxy;
