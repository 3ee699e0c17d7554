//! How a value from the file or a flag becomes the setting's value: the
//! `=> via` of a declaration in `catalog.rs`. A value from the file is
//! written back as text and read by the setting's own parser ([`from_file::text`],
//! the default), so it is checked like the environment's; a flag's value is
//! taken as clap parsed it unless the declaration names a conversion.
//!
//! Every via has the same shape: the layers (or, for a flag, the setting
//! alone), the setting, the value, and the setting's parser.

use super::Layers;
use crate::config::catalog::SettingInfo;
use crate::config::file::{SecretList, SecretText, SizeText, TextList};
use crate::config::{AccessControl, ConfigError, Strategy};

/// A TOML value as the text its setting's parser reads.
pub(in crate::config) trait FileValue {
    fn into_text(self) -> String;
}

impl FileValue for String {
    fn into_text(self) -> String {
        self
    }
}

impl FileValue for SecretText {
    fn into_text(self) -> String {
        self.0.expose().to_string()
    }
}

impl FileValue for SizeText {
    fn into_text(self) -> String {
        self.0
    }
}

/// Raw text for the key importer: an array becomes one key per line.
impl FileValue for SecretList {
    fn into_text(self) -> String {
        SecretList::into_text(self)
    }
}

macro_rules! displayed {
    ($($ty:ty),*) => {$(
        impl FileValue for $ty {
            fn into_text(self) -> String {
                self.to_string()
            }
        }
    )*};
}

displayed!(bool, u32, u64, usize, Strategy, AccessControl);

/// Ways from a `keyflow.toml` value to the setting's; errors name the file and key.
pub(in crate::config) mod from_file {
    use super::*;
    use crate::config::parse;
    use crate::secret::Secret;

    /// The value's text through the setting's parser (the default).
    pub(in crate::config) fn text<T>(
        r: &Layers<'_>,
        info: &SettingInfo,
        value: impl FileValue,
        parse: &dyn Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        r.parse_file(info, value.into_text(), parse)
    }

    /// A list: an array as is (items trimmed, blanks and repeats dropped), a
    /// string through the setting's parser.
    pub(in crate::config) fn list(
        r: &Layers<'_>,
        info: &SettingInfo,
        list: TextList,
        parse: &dyn Fn(&str) -> Result<Vec<String>, String>,
    ) -> Result<Vec<String>, ConfigError> {
        match list {
            TextList::Items(items) => Ok(parse::clean_items(items)),
            TextList::Text(text) => r.parse_file(info, text, parse),
        }
    }

    /// A list whose items the setting's parser checks: the items, read
    /// like an environment list, joined by commas.
    pub(in crate::config) fn joined_list<T>(
        r: &Layers<'_>,
        info: &SettingInfo,
        list: TextList,
        parse: &dyn Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let items = match list {
            TextList::Items(items) => parse::clean_items(items),
            TextList::Text(text) => r.parse_file(info, text, parse::list)?,
        };
        r.parse_file(info, items.join(","), parse)
    }

    /// Client tokens, one per item (a string is split on commas).
    pub(in crate::config) fn tokens(
        _: &Layers<'_>,
        _: &SettingInfo,
        list: SecretList,
        _: &dyn Fn(&str) -> Result<Vec<Secret>, String>,
    ) -> Result<Vec<Secret>, ConfigError> {
        Ok(list.into_tokens())
    }
}

/// Ways from a flag's value, as clap parsed it, to the setting's.
pub(in crate::config) mod from_flag {
    use super::*;
    use crate::config::parse;
    use crate::secret::Secret;

    /// Text clap left alone (lists), read by the setting's parser; an
    /// error names the flag.
    pub(in crate::config) fn parsed<T>(
        info: &SettingInfo,
        text: String,
        parse: &dyn Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Layers::parse_flag(info, &text, parse)
    }

    /// A value for a setting stored as `Option<T>`.
    pub(in crate::config) fn some<T>(
        _: &SettingInfo,
        value: T,
        _: &dyn Fn(&str) -> Result<Option<T>, String>,
    ) -> Result<Option<T>, ConfigError> {
        Ok(Some(value))
    }

    /// A secret for a live setting, which the database stores as text.
    pub(in crate::config) fn exposed(
        _: &SettingInfo,
        secret: Secret,
        _: &dyn Fn(&str) -> Result<Option<String>, String>,
    ) -> Result<Option<String>, ConfigError> {
        Ok(Some(secret.expose().to_string()))
    }

    /// Client tokens, comma-separated; `""` = none.
    pub(in crate::config) fn tokens(
        _: &SettingInfo,
        secret: Secret,
        _: &dyn Fn(&str) -> Result<Vec<Secret>, String>,
    ) -> Result<Vec<Secret>, ConfigError> {
        Ok(parse::tokens(secret.expose()))
    }

    /// A cap where 0 means none, as in the environment.
    pub(in crate::config) fn nonzero(
        _: &SettingInfo,
        n: u32,
        _: &dyn Fn(&str) -> Result<Option<u32>, String>,
    ) -> Result<Option<u32>, ConfigError> {
        Ok((n > 0).then_some(n))
    }
}
