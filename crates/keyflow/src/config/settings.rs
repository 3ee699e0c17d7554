//! Runtime settings: seeded from flags, environment and file on first start,
//! then stored in the database as JSON and edited live (`PUT /api/settings`).
//!
//! Because the console can send any JSON, [`RuntimeSettings::validate`] is
//! the one place that decides what a usable combination is. The fields,
//! their defaults and their masked `Debug` are generated from the
//! declarations in `catalog.rs`.

use super::modes::AccessControl;
#[cfg(test)]
use super::modes::Strategy;
use super::{ImageSettings, RuntimeSettings};

/// Shown instead of a password or token in `GET /api/settings`.
pub const REDACTED: &str = "********";

/// One thing wrong with a settings value, tied to the setting's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file/JSON key, e.g. `page_size` or `image.lsky_url`.
    pub setting: &'static str,
    pub message: String,
}

/// Upper bound of `MAX_RETRIES`: a request never tries more than 16 keys.
pub const MAX_RETRIES_LIMIT: u32 = 16;
const TIMEOUT_LIMIT_SECS: u64 = 86_400;

impl RuntimeSettings {
    /// `Ok` when the settings can be used as they are; otherwise every
    /// problem as `key: message`, joined by `; `.
    pub fn validate(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.setting, p.message)).collect();
        Err(parts.join("; "))
    }

    /// Every problem, in field order.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |setting: &'static str, message: String| out.push(Problem { setting, message });

        if self.key_rpm_limit == Some(0) {
            bad(
                "key_rpm_limit",
                "must be at least 1 request per minute; null (or 0 in the environment) turns the cap off".into(),
            );
        }
        if self.max_retries > MAX_RETRIES_LIMIT {
            bad("max_retries", format!("must be at most {MAX_RETRIES_LIMIT}, got {}", self.max_retries));
        }
        for (setting, secs) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("first_byte_timeout_secs", self.first_byte_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
        ] {
            if !(1..=TIMEOUT_LIMIT_SECS).contains(&secs) {
                bad(setting, format!("must be between 1 and {TIMEOUT_LIMIT_SECS} seconds, got {secs}"));
            }
        }
        if (1..60).contains(&self.auto_refresh_interval_secs) {
            bad(
                "auto_refresh_interval_secs",
                format!("must be 0 (off) or at least 60 seconds, got {}", self.auto_refresh_interval_secs),
            );
        }
        for (setting, models) in [("ban_models", &self.ban_models), ("free_models", &self.free_models)] {
            if models.iter().any(|m| m.trim().is_empty()) {
                bad(setting, "must not contain an empty model name".into());
            }
        }
        let no_guest_password = self.guest_password.as_deref().is_none_or(|p| p.trim().is_empty());
        if self.access_control == AccessControl::Restricted && no_guest_password {
            bad(
                "access_control",
                "is restricted but no guest password is set: set GUEST_PASSWORD (guest_password), \
                 or choose open or private"
                    .into(),
            );
        }
        if !(1..=1000).contains(&self.page_size) {
            bad("page_size", format!("must be between 1 and 1000, got {}", self.page_size));
        }
        if let Some(zone) = &self.stats_time_zone {
            if let Err(message) = super::parse::time_zone(zone) {
                bad("stats_time_zone", message);
            }
        }
        self.image.collect_problems(&mut bad);
        out
    }

    /// A copy safe to send to the console: the guest password, the Lsky
    /// token and every other secret become [`REDACTED`].
    pub fn redacted(&self) -> RuntimeSettings {
        let mut copy = self.clone();
        copy.each_secret(self, &mut |value, _| {
            if value.is_some() {
                *value = Some(REDACTED.to_string());
            }
        });
        copy
    }

    /// Puts back the secrets from `previous` where the console sent
    /// [`REDACTED`] unchanged.
    pub fn restore_redacted(&mut self, previous: &RuntimeSettings) {
        self.each_secret(previous, &mut |value, old| {
            if value.as_deref() == Some(REDACTED) {
                value.clone_from(old);
            }
        });
    }
}

impl ImageSettings {
    fn collect_problems(&self, bad: &mut impl FnMut(&'static str, String)) {
        if !(1..=16).contains(&self.max_images_per_request) {
            bad(
                "image.max_images_per_request",
                format!("must be between 1 and 16, got {}", self.max_images_per_request),
            );
        }
        if self.image_prompt_model.trim().is_empty() {
            bad("image.image_prompt_model", "must name a model".into());
        }
        if !(1..=600).contains(&self.prompt_expansion_timeout_secs) {
            bad(
                "image.prompt_expansion_timeout_secs",
                format!("must be between 1 and 600 seconds, got {}", self.prompt_expansion_timeout_secs),
            );
        }
        if self.banned_keywords.iter().any(|k| k.trim().is_empty()) {
            bad("image.banned_keywords", "must not contain an empty word".into());
        }
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if self.use_lsky_pro && blank(&self.lsky_url) {
            bad("image.use_lsky_pro", "is on but no Lsky Pro URL is set: set LSKY_URL (image.lsky_url)".into());
        }
        if self.use_lsky_pro && blank(&self.lsky_token) {
            bad("image.use_lsky_pro", "is on but no Lsky Pro token is set: set LSKY_TOKEN (image.lsky_token)".into());
        }
        if self.use_shortlink && blank(&self.shortlink_url) {
            bad(
                "image.use_shortlink",
                "is on but no short-link service is set: set SHORTLINK_URL (image.shortlink_url)".into(),
            );
        }
        for (setting, url) in [("image.lsky_url", &self.lsky_url), ("image.shortlink_url", &self.shortlink_url)] {
            if let Some(url) = url.as_deref().filter(|u| !u.trim().is_empty()) {
                if let Err(message) = super::parse::http_url(url) {
                    bad(setting, message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let settings = RuntimeSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.max_retries, 3);
        assert_eq!(settings.access_control, AccessControl::Private);
        assert_eq!(settings.image.banned_keywords, ["porn", "nude", "naked", "sex", "xxx", "adult"]);
        assert_eq!(settings.image.image_prompt_model, "Qwen/Qwen2.5-7B-Instruct");
    }

    #[test]
    fn json_round_trip_and_partial_documents() -> Result<(), serde_json::Error> {
        let mut settings = RuntimeSettings {
            key_strategy: Strategy::LeastInflight,
            key_rpm_limit: Some(30),
            ban_models: vec!["a/b".into()],
            stats_time_zone: Some("Asia/Shanghai".into()),
            ..RuntimeSettings::default()
        };
        settings.image.use_shortlink = true;
        settings.image.shortlink_url = Some("https://s.example".into());
        let json = serde_json::to_string(&settings)?;
        assert!(json.contains(r#""key_strategy":"least_inflight""#), "{json}");
        assert_eq!(serde_json::from_str::<RuntimeSettings>(&json)?, settings);

        let partial: RuntimeSettings = serde_json::from_str(r#"{"max_retries": 5, "image": {"use_lsky_pro": false}}"#)?;
        assert_eq!(partial.max_retries, 5);
        assert_eq!(partial.page_size, 50);
        assert_eq!(partial.image.max_images_per_request, 4);
        Ok(())
    }

    #[test]
    fn unknown_json_fields_are_rejected() {
        let err = serde_json::from_str::<RuntimeSettings>(r#"{"max_retry": 5}"#).err().map(|e| e.to_string());
        assert!(err.as_deref().is_some_and(|e| e.contains("max_retry")), "{err:?}");
        let err = serde_json::from_str::<RuntimeSettings>(r#"{"image": {"lsky": 1}}"#).err().map(|e| e.to_string());
        assert!(err.as_deref().is_some_and(|e| e.contains("lsky")), "{err:?}");
        assert!(serde_json::from_str::<RuntimeSettings>(r#"{"key_strategy": "fastest"}"#).is_err());
    }

    #[test]
    fn validate_names_each_problem() {
        let check = |edit: &dyn Fn(&mut RuntimeSettings), setting: &str, words: &str| {
            let mut settings = RuntimeSettings::default();
            edit(&mut settings);
            let err = settings.validate().err().unwrap_or_default();
            assert!(err.starts_with(setting) && err.contains(words), "{setting}: {err}");
        };
        check(&|s| s.access_control = AccessControl::Restricted, "access_control", "GUEST_PASSWORD");
        check(&|s| s.page_size = 0, "page_size", "between 1 and 1000");
        check(&|s| s.page_size = 1001, "page_size", "got 1001");
        check(&|s| s.max_retries = 17, "max_retries", "at most 16");
        check(&|s| s.key_rpm_limit = Some(0), "key_rpm_limit", "at least 1");
        check(&|s| s.connect_timeout_secs = 0, "connect_timeout_secs", "seconds");
        check(&|s| s.auto_refresh_interval_secs = 5, "auto_refresh_interval_secs", "0 (off)");
        check(&|s| s.ban_models = vec![" ".into()], "ban_models", "empty");
        check(&|s| s.stats_time_zone = Some("not a zone".into()), "stats_time_zone", "Asia/Shanghai");
        check(&|s| s.image.max_images_per_request = 0, "image.max_images_per_request", "between 1 and 16");
        check(&|s| s.image.use_lsky_pro = true, "image.use_lsky_pro", "LSKY_URL");
        check(&|s| s.image.use_shortlink = true, "image.use_shortlink", "SHORTLINK_URL");
        check(&|s| s.image.lsky_url = Some("lsky.example".into()), "image.lsky_url", "http");

        let mut settings = RuntimeSettings {
            access_control: AccessControl::Restricted,
            guest_password: Some("guest".into()),
            auto_refresh_interval_secs: 0,
            ..RuntimeSettings::default()
        };
        settings.image.use_lsky_pro = true;
        settings.image.lsky_url = Some("https://lsky.example".into());
        settings.image.lsky_token = Some("tok".into());
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn redaction_hides_and_restores_secrets() {
        let mut settings = RuntimeSettings { guest_password: Some("guest-pass-123".into()), ..Default::default() };
        settings.image.lsky_token = Some("lsky-token-abcdefgh".into());
        let shown = settings.redacted();
        assert_eq!(shown.guest_password.as_deref(), Some(REDACTED));
        assert_eq!(shown.image.lsky_token.as_deref(), Some(REDACTED));
        let debug = format!("{settings:?}");
        assert!(!debug.contains("guest-pass-123") && !debug.contains("lsky-token-abcdefgh"), "{debug}");

        let mut edited = shown;
        edited.page_size = 20;
        edited.restore_redacted(&settings);
        assert_eq!(edited.guest_password, settings.guest_password);
        assert_eq!(edited.image.lsky_token, settings.image.lsky_token);
        assert_eq!(RuntimeSettings::default().redacted().guest_password, None);
    }
}
