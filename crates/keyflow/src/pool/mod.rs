//! The key pool: keys in memory, their states, selection and import/export.

pub mod export;
pub mod import;
