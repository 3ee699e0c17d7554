//! The precedence for one setting at a time, remembering where each value
//! came from so a later validation error can say so.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::catalog::{self as cat, SettingInfo};
use crate::config::env::{first_set, EnvSource};
use crate::config::file::TextList;
use crate::config::{parse, Config, ConfigError, Origin};

pub(super) struct Layers<'a> {
    env: &'a dyn EnvSource,
    /// The config file, for messages about its values.
    path: PathBuf,
    origins: BTreeMap<&'static str, Origin>,
}

impl<'a> Layers<'a> {
    pub(super) fn new(env: &'a dyn EnvSource, path: PathBuf) -> Self {
        Layers { env, path, origins: BTreeMap::new() }
    }

    pub(super) fn origin_of(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    pub(super) fn into_origins(self) -> BTreeMap<&'static str, Origin> {
        self.origins
    }

    fn file_origin(&self, info: &SettingInfo) -> Origin {
        Origin::File { path: self.path.clone(), key: info.key }
    }

    fn invalid(info: &SettingInfo, origin: Origin, raw: &str, expected: String) -> ConfigError {
        let value = if info.secret { "value hidden".to_string() } else { format!("{:?}", raw.trim()) };
        ConfigError::Value { setting: info.key, origin, value, expected }
    }

    /// Parses a raw value from the file, naming the file and key on error.
    pub(super) fn file_value<T>(
        &self,
        info: &SettingInfo,
        raw: Option<String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        parse(&raw).map(Some).map_err(|expected| Self::invalid(info, self.file_origin(info), &raw, expected))
    }

    /// A list from the file: an array as is, a string parsed like the
    /// environment's.
    pub(super) fn file_list(
        &self,
        info: &SettingInfo,
        list: Option<TextList>,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        match list {
            None => Ok(None),
            Some(TextList::Items(items)) => Ok(Some(parse::clean_items(items))),
            Some(TextList::Text(text)) => self.file_value(info, Some(text), parse::list),
        }
    }

    /// Parses a flag that clap left as text (lists), naming the flag on error.
    pub(super) fn flag_value<T>(
        info: &SettingInfo,
        raw: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let origin = Origin::Flag(info.flag.unwrap_or_default());
        parse(raw).map(Some).map_err(|expected| Self::invalid(info, origin, raw, expected))
    }

    /// Overwrites `target` with the highest layer that is set, if any.
    pub(super) fn set<T>(
        &mut self,
        target: &mut T,
        info: &SettingInfo,
        flag: Option<T>,
        parse: impl Fn(&str) -> Result<T, String>,
        file: Option<T>,
    ) -> Result<(), ConfigError> {
        if let Some(value) = self.pick(info, flag, parse, file)? {
            *target = value;
        }
        Ok(())
    }

    /// flag > environment > file for one setting; `None` when none is set.
    pub(super) fn pick<T>(
        &mut self,
        info: &SettingInfo,
        flag: Option<T>,
        parse: impl Fn(&str) -> Result<T, String>,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        self.pick_with(info, flag, |_, text| parse(text), file)
    }

    /// [`Self::pick`] with a parser that depends on which variable was set.
    pub(super) fn pick_with<T>(
        &mut self,
        info: &SettingInfo,
        flag: Option<T>,
        parse: impl Fn(&'static str, &str) -> Result<T, String>,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        if let Some(value) = flag {
            let origin = Origin::Flag(info.flag.unwrap_or_default());
            self.origins.insert(info.key, origin);
            return Ok(Some(value));
        }
        if let Some((name, raw)) = first_set(self.env, info.env) {
            // Secrets are taken whole: a password may hold ` #`.
            let raw = if info.secret { raw } else { parse::without_comment(&raw).to_string() };
            let value = parse(name, &raw).map_err(|expected| Self::invalid(info, Origin::Env(name), &raw, expected))?;
            self.origins.insert(info.key, Origin::Env(name));
            return Ok(Some(value));
        }
        if let Some(value) = file {
            self.origins.insert(info.key, self.file_origin(info));
            return Ok(Some(value));
        }
        Ok(None)
    }

    /// `--bind` > `KEYFLOW_BIND` > `HOST`/`PORT` > file > default. `HOST` or
    /// `PORT` alone replaces only its half of the lower layer's address, so
    /// a platform that sets `PORT` keeps the host from the file.
    pub(super) fn bind(&mut self, flag: Option<SocketAddr>, file: Option<String>) -> Result<SocketAddr, ConfigError> {
        let info = &cat::BIND;
        let file_addr = self.file_value(info, file, parse::socket_addr)?;
        let bind_only = SettingInfo { env: &["KEYFLOW_BIND"], ..*info };
        if let Some(addr) = self.pick(&bind_only, flag, parse::socket_addr, None)? {
            return Ok(addr);
        }
        let base = match file_addr {
            Some(addr) => {
                self.origins.insert(info.key, self.file_origin(info));
                addr
            }
            None => Config::default().bind,
        };
        let host = self.half(info, "HOST", parse::host)?;
        let port = self.half(info, "PORT", parse::port)?;
        if host.is_some() || port.is_some() {
            let name = if host.is_some() { "HOST" } else { "PORT" };
            self.origins.insert(info.key, Origin::Env(name));
        }
        let ip = host.unwrap_or(base.ip());
        Ok(SocketAddr::new(ip, port.unwrap_or(base.port())))
    }

    /// One half of the listen address from `HOST` or `PORT`.
    fn half<T>(
        &self,
        info: &SettingInfo,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((name, raw)) = first_set(self.env, &[name]) else {
            return Ok(None);
        };
        parse(&raw).map(Some).map_err(|expected| Self::invalid(info, Origin::Env(name), &raw, expected))
    }
}
