//! Black-box tests of keyflow-mock over real HTTP, one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod chat;
mod faults;
mod hosting;
mod media;
mod resources;
mod support;
