//! keyflow: one OpenAI- and Anthropic-compatible endpoint in front of a pool
//! of SiliconFlow API keys. See `docs/ARCHITECTURE.md` for the map.

pub mod cli;
pub mod config;
pub mod pool;
pub mod secret;
pub mod usage;
