//! Explicit configuration wins at start. A live setting given by flag,
//! environment or `keyflow.toml` overrides the value stored in the database
//! at every start (the operator changed the environment: that is the value
//! meant); settings left at their default keep the console's value.

use super::{Config, Origin, RuntimeSettings};

/// The stored settings with every explicitly configured live setting taken
/// from `config`, and the names of the settings that changed that way.
pub fn apply_explicit(stored: RuntimeSettings, config: &Config) -> (RuntimeSettings, Vec<String>) {
    let (Ok(mut merged), Ok(configured)) = (serde_json::to_value(&stored), serde_json::to_value(&config.runtime))
    else {
        return (stored, Vec::new());
    };
    let mut changed = Vec::new();
    for info in super::catalog::SETTINGS.iter().filter(|info| info.runtime) {
        let origin = config.origin(info.key);
        if origin == Origin::Default {
            continue;
        }
        let pointer = format!("/{}", info.key.replace('.', "/"));
        let (Some(wanted), Some(slot)) = (configured.pointer(&pointer), merged.pointer_mut(&pointer)) else {
            continue;
        };
        if slot != wanted {
            *slot = wanted.clone();
            changed.push(format!("{} (from {origin})", info.key));
        }
    }
    match serde_json::from_value::<RuntimeSettings>(merged) {
        Ok(settings) => (settings, changed),
        Err(_) => (stored, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;

    #[test]
    fn explicit_settings_win_and_the_rest_keep_the_stored_value() {
        let mut config = Config::default();
        config.runtime.key_strategy = Strategy::Random;
        config.runtime.image.use_lsky_pro = true;
        config.origins.insert("key_strategy", Origin::Env("KEY_STRATEGY"));
        config.origins.insert("image.use_lsky_pro", Origin::Env("USE_LSKY_PRO"));
        let stored = RuntimeSettings { key_strategy: Strategy::Oldest, page_size: 77, ..Default::default() };
        let (merged, changed) = apply_explicit(stored, &config);
        assert_eq!(merged.key_strategy, Strategy::Random);
        assert!(merged.image.use_lsky_pro);
        assert_eq!(merged.page_size, 77, "not given explicitly: the console's value stays");
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(changed[0].contains("KEY_STRATEGY"));
    }
}
