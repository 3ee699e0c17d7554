//! Where environment variables come from: the process, or a map in tests.
//!
//! Reading through [`EnvSource`] keeps the precedence rules testable
//! without `std::env::set_var`, which races between parallel tests.

use std::collections::HashMap;

/// A read-only view of environment variables.
pub trait EnvSource {
    /// The variable's value; `None` when unset or not valid UTF-8.
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// The value of the first of `names` that is set to something non-blank,
/// with the name that supplied it. A blank variable (`API_KEY=` in a
/// compose file) counts as unset.
pub(crate) fn first_set(env: &dyn EnvSource, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|name| env.get(name).filter(|v| !v.trim().is_empty()).map(|v| (*name, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_blank_name_wins() {
        let env: HashMap<String, String> =
            [("A", " "), ("B", "b"), ("C", "c")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(first_set(&env, &["A", "B", "C"]), Some(("B", "b".to_string())));
        assert_eq!(first_set(&env, &["C", "B"]), Some(("C", "c".to_string())));
        assert_eq!(first_set(&env, &["A", "Z"]), None);
        assert_eq!(ProcessEnv.get("KEYFLOW_SURELY_UNSET_VARIABLE_1234"), None);
    }
}
