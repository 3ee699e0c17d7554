//! Merges the layers into a [`Config`]: flag > environment variable
//! (canonical name before aliases) > file > default.
//!
//! Pure: the environment comes through [`EnvSource`] and the file is
//! already parsed, so every rule here is unit-tested with plain values.
//! `layers` holds the precedence itself, `live` the runtime settings.

mod edge;
mod layers;
mod live;

use super::catalog as cat;
use super::env::EnvSource;
use super::file::{FileConfig, SecretList, SecretText};
use super::{parse, Config, ConfigError};
use crate::config::GlobalFlags;
use crate::secret::Secret;
use layers::Layers;

/// Builds the configuration from the flags, the environment and the parsed
/// file (`None` when there is none). Runtime settings are validated, and a
/// problem names the setting and where its value came from.
pub fn resolve(flags: &GlobalFlags, env: &dyn EnvSource, file: Option<FileConfig>) -> Result<Config, ConfigError> {
    let mut config = Config { config_file: file.as_ref().map(|f| f.path.clone()), ..Config::default() };
    let mut file = file.unwrap_or_default();
    let file_live = live::FileLive::take_from(&mut file);
    let mut r = Layers::new(env, file.path.clone());

    edge::resolve_edge(&mut r, &mut file, &mut config.edge)?;
    config.bind = r.bind(flags.bind, file.bind)?;
    let upstream = r.file_value(&cat::UPSTREAM_URL, file.upstream_url, parse::upstream_url)?;
    r.set(&mut config.upstream_url, &cat::UPSTREAM_URL, flags.upstream_url.clone(), parse::upstream_url, upstream)?;
    // `DB_PATH` is a file path, `DATABASE_URL` a URL.
    let database = r.file_value(&cat::DATABASE_URL, file.database_url, parse::database_url)?;
    let database_from_env = |name: &str, text: &str| match name {
        "DB_PATH" => parse::sqlite_path(text),
        _ => parse::database_url(text),
    };
    let flag_database = flags.database_url.clone();
    if let Some(url) = r.pick_with(&cat::DATABASE_URL, flag_database, database_from_env, database)? {
        config.database_url = url;
    }
    let pool_size = file.database_pool_size.map(|n| n.to_string());
    let pool_size = r.file_value(&cat::DATABASE_POOL_SIZE, pool_size, parse::pool_size)?;
    r.set(&mut config.database_pool_size, &cat::DATABASE_POOL_SIZE, None, parse::pool_size, pool_size)?;
    let name = r.file_value(&cat::INSTANCE_NAME, file.instance_name, parse::instance_name)?;
    config.instance_name = r.pick(&cat::INSTANCE_NAME, None, parse::instance_name, name)?;
    let journal = r.file_value(&cat::LOG_JOURNAL, file.log_journal, parse::path)?;
    config.log_journal = r.pick(&cat::LOG_JOURNAL, None, parse::path, journal)?;

    let tokens = |text: &str| Ok(parse::tokens(text));
    let flag_tokens = flags.api_key.as_ref().map(|s| parse::tokens(s.expose()));
    let file_tokens = file.client_tokens.map(SecretList::into_tokens);
    r.set(&mut config.client_tokens, &cat::CLIENT_TOKENS, flag_tokens, tokens, file_tokens)?;
    let flag_tokens = flags.free_api_key.as_ref().map(|s| parse::tokens(s.expose()));
    let file_tokens = file.free_client_tokens.map(SecretList::into_tokens);
    r.set(&mut config.free_client_tokens, &cat::FREE_CLIENT_TOKENS, flag_tokens, tokens, file_tokens)?;

    let username = r.file_value(&cat::ADMIN_USERNAME, file.admin_username, parse::text)?;
    let flag_username = flags.admin_username.clone();
    r.set(&mut config.admin_username, &cat::ADMIN_USERNAME, flag_username, parse::text, username)?;
    let password = r.file_value(&cat::ADMIN_PASSWORD, exposed(file.admin_password), parse::secret)?;
    let flag_password = flags.admin_password.clone();
    r.set(&mut config.admin_password, &cat::ADMIN_PASSWORD, flag_password, parse::secret, password)?;
    // Raw text for the importer, which reports malformed keys itself.
    let file_keys = file.keys_at_start.map(|list| Secret::new(list.into_text()));
    let flag_keys = flags.startup_keys.clone();
    let keys = r.pick(&cat::KEYS_AT_START, flag_keys, |t| Ok(Secret::new(t)), file_keys)?;
    config.keys_at_start = keys.filter(|k| !k.expose().trim().is_empty());

    let model = r.file_value(&cat::TEST_MODEL, file.test_model, parse::text)?;
    let flag_model = flags.test_model.clone();
    r.set(&mut config.test_model, &cat::TEST_MODEL, flag_model, parse::text, model)?;
    let key = r.file_value(&cat::FREE_MODEL_TEST_KEY, exposed(file.free_model_test_key), parse::secret)?;
    let flag_key = flags.free_model_test_key.clone();
    config.free_model_test_key = r.pick(&cat::FREE_MODEL_TEST_KEY, flag_key, parse::secret, key)?;
    r.set(&mut config.purge_invalid, &cat::PURGE_INVALID, flags.purge_invalid, parse::boolean, file.purge_invalid)?;
    let size = file.max_body_bytes.map(|s| s.0);
    let size = r.file_value(&cat::MAX_BODY_BYTES, size, parse::byte_size)?;
    r.set(&mut config.max_body_bytes, &cat::MAX_BODY_BYTES, flags.max_body_bytes, parse::byte_size, size)?;
    // No flag: a secret on the command line shows in `ps`.
    let secret = r.file_value(&cat::SECRET, exposed(file.secret), parse::secret)?;
    config.secret = r.pick(&cat::SECRET, None, parse::secret, secret)?;
    let level = r.file_value(&cat::LOG_LEVEL, file.log_level, parse::text)?;
    let flag_level = flags.log_level.clone();
    r.set(&mut config.log_level, &cat::LOG_LEVEL, flag_level, parse::text, level)?;

    live::resolve_live(&mut r, flags, file_live, &mut config.runtime)?;
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

fn exposed(secret: Option<SecretText>) -> Option<String> {
    secret.map(|s| s.0.expose().to_string())
}

#[cfg(test)]
mod tests;
