//! The global flags: one per setting that has one, the command-line layer
//! of the configuration (flag > environment > `keyflow.toml` > default).
//! [`GlobalFlags`] is generated from the declarations in `catalog.rs`
//! (`declare.rs`), beside the catalogue it mirrors, so that `config` takes
//! what it resolves as plain data and never reaches up to the command line;
//! `cli` flattens it into `keyflow`'s arguments. This file holds how a
//! flag is shown: its heading, its line of help and its place in `--help`.
//!
//! Values are parsed with [`super::parse`], so a flag accepts what its
//! environment variable accepts.

pub use super::catalog::GlobalFlags;
use super::catalog::{SettingInfo, SETTINGS};

pub(crate) const SERVER: &str = "Server";
pub(crate) const RUNTIME: &str = "Live settings (seed the database on first start)";
pub(crate) const IMAGES: &str = "Images through chat";

/// A flag's line in `--help`: the declared text with `{env}` written as
/// `[env: NAME, ALIAS]` and `{default}` as `[default: TEXT]`.
pub(crate) fn flag_help(info: &SettingInfo, text: &str) -> String {
    text.replace("{env}", &format!("[env: {}]", info.env.join(", ")))
        .replace("{default}", &format!("[default: {}]", info.default))
}

/// A flag's place in `--help` (`--config` is 0): the table's order, except
/// that a flag declared `before` another setting stands just ahead of that
/// setting's flag, several such in table order.
pub(crate) fn flag_order(info: &SettingInfo, before: Option<&str>) -> usize {
    let n = SETTINGS.len();
    let index = |key: &str| SETTINGS.iter().position(|s| s.key == key).unwrap_or(n);
    let own = index(info.key);
    match before {
        Some(anchor) => 1 + 2 * n * index(anchor) + own,
        None => 1 + 2 * n * own + n + own,
    }
}

/// The bytes of `--field-name` for a flag field `field_name` (`N` is the
/// name's length plus two), at compile time, so the catalogue names the
/// flag clap derives from the same field.
pub(crate) const fn long_flag<const N: usize>(field: &str) -> [u8; N] {
    let mut out = [b'-'; N];
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() && i + 2 < N {
        out[i + 2] = if bytes[i] == b'_' { b'-' } else { bytes[i] };
        i += 1;
    }
    out
}
