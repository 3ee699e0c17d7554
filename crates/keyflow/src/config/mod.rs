//! Configuration: flag > environment > keyflow.toml > default.
