//! The precedence for one setting at a time, remembering where each value
//! came from so a later validation error can say so.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::catalog::SettingInfo;
use crate::config::env::{first_set, EnvSource};
use crate::config::{parse, ConfigError, Origin};

pub(in crate::config) struct Layers<'a> {
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
    pub(super) fn parse_file<T>(
        &self,
        info: &SettingInfo,
        raw: String,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(&raw).map_err(|expected| Self::invalid(info, self.file_origin(info), &raw, expected))
    }

    /// Parses a flag that clap left as text (lists), naming the flag on error.
    pub(super) fn parse_flag<T>(
        info: &SettingInfo,
        raw: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let origin = Origin::Flag(info.flag.unwrap_or_default());
        parse(raw).map_err(|expected| Self::invalid(info, origin, raw, expected))
    }

    /// Overwrites `target` with the highest layer that is set, if any.
    pub(in crate::config) fn set<T>(
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
    fn pick<T>(
        &mut self,
        info: &SettingInfo,
        flag: Option<T>,
        parse: impl Fn(&str) -> Result<T, String>,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        self.pick_with(info, flag, |_, text| parse(text), file)
    }

    /// [`Self::pick`] with a parser that depends on which variable was set.
    fn pick_with<T>(
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

    /// [`Self::set`] for the database: its canonical variable holds a URL,
    /// its alias (`DB_PATH`) a SQLite file path.
    pub(in crate::config) fn database(
        &mut self,
        target: &mut String,
        info: &SettingInfo,
        flag: Option<String>,
        parse: impl Fn(&str) -> Result<String, String>,
        file: Option<String>,
    ) -> Result<(), ConfigError> {
        let canonical = info.env.first().copied();
        let from_env =
            |name: &str, text: &str| if Some(name) == canonical { parse(text) } else { parse::sqlite_path(text) };
        if let Some(url) = self.pick_with(info, flag, from_env, file)? {
            *target = url;
        }
        Ok(())
    }

    /// [`Self::set`] for the listen address, whose declaration names its
    /// variables as `[KEYFLOW_BIND, HOST, PORT]`: `--bind` >
    /// `KEYFLOW_BIND` > `HOST`/`PORT` > file > default. `HOST` or `PORT`
    /// alone replaces only its half of the lower layer's address, so a
    /// platform that sets `PORT` keeps the host from the file.
    pub(in crate::config) fn bind(
        &mut self,
        target: &mut SocketAddr,
        info: &SettingInfo,
        flag: Option<SocketAddr>,
        parse: impl Fn(&str) -> Result<SocketAddr, String>,
        file: Option<SocketAddr>,
    ) -> Result<(), ConfigError> {
        let &[_, host_name, port_name] = info.env else {
            return self.set(target, info, flag, parse, file);
        };
        let canonical_only = SettingInfo { env: &info.env[..1], ..*info };
        if let Some(addr) = self.pick(&canonical_only, flag, parse, None)? {
            *target = addr;
            return Ok(());
        }
        let base = match file {
            Some(addr) => {
                self.origins.insert(info.key, self.file_origin(info));
                addr
            }
            None => *target,
        };
        let host = self.half(info, host_name, parse::host)?;
        let port = self.half(info, port_name, parse::port)?;
        if host.is_some() || port.is_some() {
            let name = if host.is_some() { host_name } else { port_name };
            self.origins.insert(info.key, Origin::Env(name));
        }
        let ip = host.unwrap_or(base.ip());
        *target = SocketAddr::new(ip, port.unwrap_or(base.port()));
        Ok(())
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
