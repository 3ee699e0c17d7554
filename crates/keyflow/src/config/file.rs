//! `keyflow.toml`: the same settings as the environment, under their
//! snake_case keys, with an `[image]` table. Every field is optional, and an
//! unknown key is an error that names it and the file. [`FileConfig`]'s
//! fields are generated from the declarations in `catalog.rs`; here are
//! the reading and the value types that TOML allows more than one way.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

#[cfg(test)]
use super::modes::Strategy;
use super::{ConfigError, FileConfig};
use crate::secret::Secret;

impl FileConfig {
    /// Parses TOML text; `path` only names the file in messages.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        let mut file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        file.path = path.to_path_buf();
        Ok(file)
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        FileConfig::from_toml_str(&text, path)
    }
}

/// A list written as a TOML array or as one string (JSON array or comma list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextList {
    Text(String),
    Items(Vec<String>),
}

impl TextList {
    /// The items, cleaned like the environment's lists.
    pub fn into_items(self) -> Result<Vec<String>, String> {
        match self {
            TextList::Text(text) => super::parse::list(&text),
            TextList::Items(items) => Ok(super::parse::clean_items(items)),
        }
    }
}

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = TextList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<TextList, E> {
                Ok(TextList::Text(text.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(TextList::Items(items))
            }
        }

        deserializer.deserialize_any(ListVisitor)
    }
}

/// A [`TextList`] of secrets (tokens, keys): its `Debug` hides the content.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretList(pub TextList);

impl SecretList {
    /// Client tokens, one per item (a string is split on commas).
    pub fn into_tokens(self) -> Vec<Secret> {
        match self.0 {
            TextList::Text(text) => super::parse::tokens(&text),
            TextList::Items(items) => super::parse::clean_items(items).into_iter().map(Secret::new).collect(),
        }
    }

    /// Raw text for the key importer: an array becomes one key per line.
    pub fn into_text(self) -> String {
        match self.0 {
            TextList::Text(text) => text,
            TextList::Items(items) => items.join("\n"),
        }
    }
}

impl fmt::Debug for SecretList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretList(****)")
    }
}

/// A secret string from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretText(pub Secret);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| SecretText(Secret::new(s)))
    }
}

/// A size written as a number of bytes or as a string such as `"64MiB"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeText(pub String);

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = SizeText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of bytes or a string such as \"64MiB\"")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<SizeText, E> {
                Ok(SizeText(n.to_string()))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<SizeText, E> {
                Ok(SizeText(n.to_string()))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<SizeText, E> {
                Ok(SizeText(text.to_string()))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::from_toml_str(text, Path::new("conf/keyflow.toml"))
    }

    #[test]
    fn reads_every_kind_of_value() -> Result<(), ConfigError> {
        let file = parse(
            r#"
            bind = "0.0.0.0:7898"
            upstream_url = "https://api.siliconflow.cn/v1"
            client_tokens = ["t1", "t2"]
            free_client_tokens = "f1,f2"
            admin_password = "s3cret-password"
            keys_at_start = ["sk-a", "sk-b"]
            max_body_bytes = "10MB"
            key_strategy = "least_used"
            ban_models = "a/b, c"
            free_models = ["x"]
            access_control = "open"
            page_size = 20

            [image]
            max_images_per_request = 2
            banned_keywords = ["gore"]
            "#,
        )?;
        assert_eq!(file.path, Path::new("conf/keyflow.toml"));
        assert_eq!(file.bind.as_deref(), Some("0.0.0.0:7898"));
        assert_eq!(file.key_strategy, Some(Strategy::LeastUsed));
        assert_eq!(file.max_body_bytes, Some(SizeText("10MB".into())));
        assert_eq!(file.ban_models.clone().map(TextList::into_items), Some(Ok(vec!["a/b".into(), "c".into()])));
        let tokens = file.client_tokens.clone().map(SecretList::into_tokens).unwrap_or_default();
        assert_eq!(tokens, [Secret::new("t1"), Secret::new("t2")]);
        assert_eq!(file.keys_at_start.clone().map(SecretList::into_text).as_deref(), Some("sk-a\nsk-b"));
        assert_eq!(file.image.as_ref().and_then(|i| i.max_images_per_request), Some(2));
        assert!(!format!("{file:?}").contains("s3cret-password"));
        assert_eq!(parse("max_body_bytes = 1048576")?.max_body_bytes, Some(SizeText("1048576".into())));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_named_with_the_file() {
        let err = parse("bnd = \"0.0.0.0:1\"").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("bnd") && err.contains("conf/keyflow.toml"), "{err}");
        let err = parse("[image]\nlsky = true").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("lsky") && err.contains("conf/keyflow.toml"), "{err}");
    }

    #[test]
    fn wrong_types_are_named() {
        let err = parse("max_retries = \"three\"").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("max_retries"), "{err}");
        let err = parse("key_strategy = \"fastest\"").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("fastest") && err.contains("balance_desc"), "{err}");
        let err = parse("ban_models = 5").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("a string or an array of strings"), "{err}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = FileConfig::read(Path::new("/nonexistent/keyflow.toml")).err();
        assert!(matches!(err, Some(ConfigError::Read { .. })), "{err:?}");
    }
}
