//! The runtime settings' layers. Their values only seed the database: the
//! console owns them after the first start.

use super::{exposed, Layers};
use crate::config::catalog as cat;
use crate::config::file::{FileConfig, FileImage, SecretText, TextList};
use crate::config::GlobalFlags;
use crate::config::{parse, AccessControl, ConfigError, RuntimeSettings, Strategy};

/// The file's runtime fields, moved out so the boot part can move the rest.
pub(super) struct FileLive {
    key_strategy: Option<Strategy>,
    sticky_sessions: Option<bool>,
    key_rpm_limit: Option<u32>,
    max_retries: Option<u32>,
    connect_timeout_secs: Option<u64>,
    first_byte_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    auto_refresh_interval_secs: Option<u64>,
    ban_models: Option<TextList>,
    free_models: Option<TextList>,
    access_control: Option<AccessControl>,
    guest_password: Option<SecretText>,
    page_size: Option<u32>,
    log_retention_days: Option<u32>,
    stats_time_zone: Option<String>,
    image: FileImage,
}

impl FileLive {
    pub(super) fn take_from(file: &mut FileConfig) -> FileLive {
        FileLive {
            key_strategy: file.key_strategy.take(),
            sticky_sessions: file.sticky_sessions.take(),
            key_rpm_limit: file.key_rpm_limit.take(),
            max_retries: file.max_retries.take(),
            connect_timeout_secs: file.connect_timeout_secs.take(),
            first_byte_timeout_secs: file.first_byte_timeout_secs.take(),
            idle_timeout_secs: file.idle_timeout_secs.take(),
            auto_refresh_interval_secs: file.auto_refresh_interval_secs.take(),
            ban_models: file.ban_models.take(),
            free_models: file.free_models.take(),
            access_control: file.access_control.take(),
            guest_password: file.guest_password.take(),
            page_size: file.page_size.take(),
            log_retention_days: file.log_retention_days.take(),
            stats_time_zone: file.stats_time_zone.take(),
            image: file.image.take().unwrap_or_default(),
        }
    }
}

/// A zero cap from a flag or the file means "no cap", as in the environment.
fn rpm(limit: Option<u32>) -> Option<Option<u32>> {
    limit.map(|n| (n > 0).then_some(n))
}

/// Wraps a parser for a setting stored as `Option<T>`.
fn some<T>(parse: fn(&str) -> Result<T, String>) -> impl Fn(&str) -> Result<Option<T>, String> {
    move |text| parse(text).map(Some)
}

pub(super) fn resolve_live(
    r: &mut Layers<'_>,
    flags: &GlobalFlags,
    file: FileLive,
    rt: &mut RuntimeSettings,
) -> Result<(), ConfigError> {
    let seconds = parse::number::<u64>;
    r.set(&mut rt.key_strategy, &cat::KEY_STRATEGY, flags.key_strategy, parse::strategy, file.key_strategy)?;
    r.set(&mut rt.sticky_sessions, &cat::STICKY_SESSIONS, flags.sticky_sessions, parse::boolean, file.sticky_sessions)?;
    let (flag_rpm, file_rpm) = (rpm(flags.key_rpm_limit), rpm(file.key_rpm_limit));
    r.set(&mut rt.key_rpm_limit, &cat::KEY_RPM_LIMIT, flag_rpm, parse::rpm_limit, file_rpm)?;
    r.set(&mut rt.max_retries, &cat::MAX_RETRIES, flags.max_retries, parse::number, file.max_retries)?;
    r.set(
        &mut rt.connect_timeout_secs,
        &cat::CONNECT_TIMEOUT,
        flags.connect_timeout,
        seconds,
        file.connect_timeout_secs,
    )?;
    r.set(
        &mut rt.first_byte_timeout_secs,
        &cat::FIRST_BYTE_TIMEOUT,
        flags.first_byte_timeout,
        seconds,
        file.first_byte_timeout_secs,
    )?;
    r.set(&mut rt.idle_timeout_secs, &cat::IDLE_TIMEOUT, flags.idle_timeout, seconds, file.idle_timeout_secs)?;
    r.set(
        &mut rt.auto_refresh_interval_secs,
        &cat::AUTO_REFRESH_INTERVAL,
        flags.auto_refresh_interval,
        seconds,
        file.auto_refresh_interval_secs,
    )?;
    let flag_list = Layers::flag_value(&cat::BAN_MODELS, flags.ban_models.as_deref(), parse::list)?;
    let file_list = r.file_list(&cat::BAN_MODELS, file.ban_models)?;
    r.set(&mut rt.ban_models, &cat::BAN_MODELS, flag_list, parse::list, file_list)?;
    let flag_list = Layers::flag_value(&cat::FREE_MODELS, flags.free_models.as_deref(), parse::list)?;
    let file_list = r.file_list(&cat::FREE_MODELS, file.free_models)?;
    r.set(&mut rt.free_models, &cat::FREE_MODELS, flag_list, parse::list, file_list)?;
    r.set(
        &mut rt.access_control,
        &cat::ACCESS_CONTROL,
        flags.access_control,
        parse::access_control,
        file.access_control,
    )?;
    let flag_guest = flags.guest_password.as_ref().map(|s| Some(s.expose().to_string()));
    let file_guest = r.file_value(&cat::GUEST_PASSWORD, exposed(file.guest_password), some(parse::text))?;
    r.set(&mut rt.guest_password, &cat::GUEST_PASSWORD, flag_guest, some(parse::text), file_guest)?;
    r.set(&mut rt.page_size, &cat::PAGE_SIZE, flags.page_size, parse::number, file.page_size)?;
    r.set(
        &mut rt.log_retention_days,
        &cat::LOG_RETENTION_DAYS,
        flags.log_retention_days,
        parse::number,
        file.log_retention_days,
    )?;
    let zone = some(parse::time_zone);
    let file_zone = r.file_value(&cat::STATS_TIME_ZONE, file.stats_time_zone, &zone)?;
    let flag_zone = flags.stats_tz.clone().map(Some);
    r.set(&mut rt.stats_time_zone, &cat::STATS_TIME_ZONE, flag_zone, zone, file_zone)?;
    resolve_image(r, flags, file.image, rt)
}

fn resolve_image(
    r: &mut Layers<'_>,
    flags: &GlobalFlags,
    file: FileImage,
    rt: &mut RuntimeSettings,
) -> Result<(), ConfigError> {
    let image = &mut rt.image;
    r.set(
        &mut image.max_images_per_request,
        &cat::MAX_IMAGES,
        flags.max_images_per_request,
        parse::number,
        file.max_images_per_request,
    )?;
    let model = r.file_value(&cat::IMAGE_PROMPT_MODEL, file.image_prompt_model, parse::text)?;
    r.set(
        &mut image.image_prompt_model,
        &cat::IMAGE_PROMPT_MODEL,
        flags.image_prompt_model.clone(),
        parse::text,
        model,
    )?;
    r.set(
        &mut image.prompt_expansion,
        &cat::IMAGE_PROMPT_EXPANSION,
        flags.image_prompt_expansion,
        parse::boolean,
        file.prompt_expansion,
    )?;
    r.set(
        &mut image.prompt_expansion_timeout_secs,
        &cat::IMAGE_PROMPT_TIMEOUT,
        flags.image_prompt_timeout,
        parse::number,
        file.prompt_expansion_timeout_secs,
    )?;
    let words = flags.banned_keywords.as_deref();
    let flag_words = Layers::flag_value(&cat::BANNED_KEYWORDS, words, parse::list)?;
    let file_words = r.file_list(&cat::BANNED_KEYWORDS, file.banned_keywords)?;
    r.set(&mut image.banned_keywords, &cat::BANNED_KEYWORDS, flag_words, parse::list, file_words)?;
    r.set(&mut image.use_lsky_pro, &cat::USE_LSKY_PRO, flags.use_lsky_pro, parse::boolean, file.use_lsky_pro)?;
    let url = some(parse::http_url);
    let file_url = r.file_value(&cat::LSKY_URL, file.lsky_url, &url)?;
    let flag_url = flags.lsky_url.clone().map(Some);
    r.set(&mut image.lsky_url, &cat::LSKY_URL, flag_url, &url, file_url)?;
    let token = some(parse::text);
    let file_token = r.file_value(&cat::LSKY_TOKEN, exposed(file.lsky_token), &token)?;
    let flag_token = flags.lsky_token.as_ref().map(|s| Some(s.expose().to_string()));
    r.set(&mut image.lsky_token, &cat::LSKY_TOKEN, flag_token, &token, file_token)?;
    r.set(&mut image.use_shortlink, &cat::USE_SHORTLINK, flags.use_shortlink, parse::boolean, file.use_shortlink)?;
    let file_url = r.file_value(&cat::SHORTLINK_URL, file.shortlink_url, &url)?;
    let flag_url = flags.shortlink_url.clone().map(Some);
    r.set(&mut image.shortlink_url, &cat::SHORTLINK_URL, flag_url, url, file_url)?;
    let file_key = r.file_value(&cat::SHORTLINK_API_KEY, exposed(file.shortlink_api_key), &token)?;
    let flag_key = flags.shortlink_api_key.as_ref().map(|s| Some(s.expose().to_string()));
    r.set(&mut image.shortlink_api_key, &cat::SHORTLINK_API_KEY, flag_key, &token, file_key)?;
    Ok(())
}
