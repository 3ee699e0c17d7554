//! The console in a real browser: headless Chromium from Debian's
//! `chromium` and `chromium-driver` packages, driven through WebDriver
//! (fantoccini) against keyflow on port 0 and keyflow-mock on port 0.

// Test code states its expectations with unwrap/expect/panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::field_reassign_with_default)]
// Helpers serve several test files; not every file uses every helper.
#![allow(dead_code)]

mod browser;
#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod assets;
mod dashboard;
mod login;
mod management;
mod phone;
mod screenshots;
mod stats;
mod walkthrough;
