//! keyflow: one OpenAI- and Anthropic-compatible endpoint in front of a pool
//! of SiliconFlow API keys. See `docs/ARCHITECTURE.md` for the map.

pub mod access;
pub mod admin;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod console;
pub mod dbcopy;
pub mod edge;
pub mod health;
pub mod images;
pub mod jobs;
pub mod keys;
pub mod migrate;
pub mod models;
pub mod pins;
pub mod pool;
pub mod proxy;
pub mod secret;
pub mod settings;
pub mod state;
pub mod stats;
pub mod store;
pub mod tokens;
pub mod upstream;
pub mod usage;

pub use app::App;
