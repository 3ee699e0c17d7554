//! Merges the layers into a [`Config`]: flag > environment variable
//! (canonical name before aliases) > file > default.
//!
//! Pure: the environment comes through [`EnvSource`] and the file is
//! already parsed, so every rule here is unit-tested with plain values.
//! `layers` holds the precedence itself, `via` how a flag's or the file's
//! value becomes the setting's, `edge` the parsers of the server's limits;
//! the call for each setting is generated from its declaration
//! (`catalog::resolve_settings`).

pub(super) mod edge;
mod layers;
pub(super) mod via;

pub(super) use layers::Layers;

use super::catalog;
use super::env::EnvSource;
use super::{Config, ConfigError, FileConfig, GlobalFlags};
#[cfg(test)]
use crate::secret::Secret;

/// Builds the configuration from the flags, the environment and the parsed
/// file (`None` when there is none). Runtime settings are validated, and a
/// problem names the setting and where its value came from.
pub fn resolve(flags: &GlobalFlags, env: &dyn EnvSource, file: Option<FileConfig>) -> Result<Config, ConfigError> {
    let mut config = Config { config_file: file.as_ref().map(|f| f.path.clone()), ..Config::default() };
    let file = file.unwrap_or_default();
    let mut r = Layers::new(env, file.path.clone());
    catalog::resolve_settings(&mut r, flags, file, &mut config)?;
    compat_notices(env, &mut config);

    if let Some(problem) = config.runtime.problems().into_iter().next() {
        return Err(ConfigError::Setting {
            setting: problem.setting,
            origin: r.origin_of(problem.setting),
            message: problem.message,
        });
    }
    config.origins = r.into_origins();
    Ok(config)
}

/// What the seed tools accepted that keyflow takes in another form: applied
/// with a notice instead of refusing to start.
fn compat_notices(env: &dyn EnvSource, config: &mut Config) {
    let interval = &mut config.runtime.auto_refresh_interval_secs;
    if (1..60).contains(interval) {
        config.notices.push(format!(
            "AUTO_REFRESH_INTERVAL={interval} is below the 60 s minimum (upstream rate-limits balance checks); using 60"
        ));
        *interval = 60;
    }
    if env.get("LLM_API_URL").is_some_and(|v| !v.trim().is_empty()) {
        config.notices.push(
            "LLM_API_URL is not used: keyflow expands image prompts through its own key pool \
             (IMAGE_PROMPT_MODEL); remove it"
                .to_string(),
        );
    }
}

#[cfg(test)]
mod tests;
