//! Writes a [`Source`] into keyflow through the key service and the store,
//! so that running it again adds nothing.
//!
//! Keys collapse on their fingerprint (and an existing key keeps keyflow's
//! state: its flag, balance and usage are only set when it is added now);
//! tokens are matched by hash; settings compare equal; log rows resume after
//! the high-water mark kept per source around each stored batch.

use std::collections::HashMap;

use super::pysqlite::{route_of, OldLog};
use super::report::{KeyTally, Report};
use super::{LogSource, MigrateError, OldKey, OldToken, Setting, Source};
use crate::access::password;
use crate::clock::now_secs;
use crate::config::Origin;
use crate::pool::import::is_valid_key;
use crate::secret::{mask, mask_keys, Secret};
use crate::state::AppState;
use crate::store::{ClientTokenRecord, KeyId, LogFilter, LogRow, NewKey};
use crate::usage::prices::Units;

/// Log rows read and written per transaction.
const LOG_BATCH: u32 = 4096;

/// Writes everything `source` holds; with `validate`, keys whose balance
/// the tool never stored are checked upstream.
pub async fn apply(state: &AppState, source: Source, validate: bool) -> Result<Report, MigrateError> {
    let tool = source.tool.map_or("another tool", |t| t.name());
    let mut report = Report {
        tool: tool.to_string(),
        files: source.files.iter().map(|p| p.display().to_string()).collect(),
        not_carried: source.not_carried,
        notes: source.notes,
        ..Report::default()
    };
    import_keys(state, &source.keys, source.balances_known, validate, &mut report).await?;
    import_tokens(state, tool, &source.tokens, &mut report).await?;
    apply_settings(state, &source.settings, &mut report).await?;
    import_login(state, source.admin_username.as_deref(), source.admin_password.as_ref(), &mut report).await?;
    if let Some(logs) = source.logs {
        import_logs(state, &logs, &mut report).await?;
    }
    Ok(report)
}

async fn import_keys(
    state: &AppState,
    keys: &[OldKey],
    balances_known: bool,
    validate: bool,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let (valid, malformed): (Vec<&OldKey>, Vec<&OldKey>) = keys.iter().partition(|k| is_valid_key(k.key.expose()));
    report.keys = KeyTally { read: keys.len(), malformed: malformed.len(), ..KeyTally::default() };
    for key in &malformed {
        report.key_lines.push(format!("{}  malformed, skipped", mask(key.key.expose())));
    }
    let now = now_secs();
    let new: Vec<NewKey> = valid
        .iter()
        .map(|k| NewKey {
            secret: k.key.expose().to_string(),
            state: crate::keys::initial_state(k.balance),
            balance_hint: k.balance,
            created_at: k.created_at.unwrap_or(now),
        })
        .collect();
    let ids = state.store.insert_keys(&new).await?;
    let mut added = Vec::new();
    for (key, (id, inserted)) in valid.iter().zip(&ids) {
        let tally = &mut report.keys;
        let balance = key.balance.map_or_else(|| "unknown".to_string(), |b| format!("{b:.2}"));
        let flag = if key.enabled { "enabled" } else { "disabled" };
        if !*inserted {
            tally.already_present += 1;
            report.key_lines.push(format!("{}  already present (id {id}), left as it is", mask(key.key.expose())));
            continue;
        }
        tally.added += 1;
        if key.enabled {
            tally.enabled += 1
        } else {
            tally.disabled += 1
        }
        match key.balance {
            Some(b) if b <= 0.0 => tally.zero_balance += 1,
            Some(b) => tally.balance_total += b,
            None => tally.balance_unknown += 1,
        }
        report.key_lines.push(format!("{}  added (id {id})  balance {balance}  {flag}", mask(key.key.expose())));
        added.push((*id, *key));
    }
    let usage: Vec<(KeyId, u64, f64)> =
        added.iter().filter(|(_, k)| k.usage_count > 0).map(|(id, k)| (*id, k.usage_count, 0.0)).collect();
    if !usage.is_empty() {
        state.store.add_key_usage(&usage).await?;
    }
    let added_ids: Vec<KeyId> = added.iter().map(|(id, _)| *id).collect();
    state.keys.reload_keys(&added_ids).await?;
    for (id, key) in &added {
        if !key.enabled {
            state.keys.set_enabled(*id, false).await?;
        }
    }
    if balances_known || added_ids.is_empty() {
        return Ok(());
    }
    if !validate {
        report.validation = Some(
            "not validated (--no-validate): run `keyflow keys refresh` before serving, their balances are unknown"
                .into(),
        );
        return Ok(());
    }
    let summary = state.keys.refresh(Some(added_ids)).await?;
    report.validation = Some(format!(
        "validated upstream (the tool never stored balances): {} checked, {} valid, {} invalid (marked, never \
         used), {} unverified (retry with `keyflow keys refresh`)",
        summary.checked,
        summary.valid,
        summary.invalid_ids.len(),
        summary.unverified
    ));
    Ok(())
}

async fn import_tokens(
    state: &AppState,
    tool: &str,
    tokens: &[OldToken],
    report: &mut Report,
) -> Result<(), MigrateError> {
    let mut existing = state.store.load_client_tokens().await?;
    for token in tokens {
        let scope = if token.free_only { "free models only" } else { "all models" };
        let hash = crate::tokens::hash(token.value.expose());
        let masked = mask(token.value.expose());
        if let Some(record) = existing.iter().find(|r| r.token_hash == hash) {
            report.tokens.push(format!("{}  {masked}  already present (from {})", record.name, token.from));
            continue;
        }
        // Another token may hold the name already (a second pool of the same tool).
        let base = if token.free_only { format!("{tool}-free") } else { tool.to_string() };
        let name = (1..100)
            .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
            .find(|name| existing.iter().all(|r| &r.name != name))
            .unwrap_or_else(|| format!("{base}-{}", now_secs()));
        let mut record = ClientTokenRecord {
            id: 0,
            name,
            token_hash: hash,
            masked: masked.clone(),
            scope: if token.free_only { "free" } else { "all" }.to_string(),
            rpm_limit: None,
            spend_quota: None,
            created_at: now_secs(),
        };
        record.id = state.store.insert_client_token(&record).await?;
        report.tokens.push(format!("{}  {masked}  {scope}, added (from {})", record.name, token.from));
        existing.push(record);
    }
    Ok(())
}

async fn apply_settings(
    state: &AppState,
    settings: &[(Setting, String)],
    report: &mut Report,
) -> Result<(), MigrateError> {
    let before = state.settings();
    let mut current = (*before).clone();
    for (setting, from) in settings {
        let mut candidate = current.clone();
        setting.apply_to(&mut candidate);
        let key = setting.key();
        if let Some(problem) = candidate.problems().into_iter().find(|p| p.setting == key) {
            report.not_carried.push(format!("{from}: keyflow's {key} {}", problem.message));
            continue;
        }
        let verb = if candidate == current { "already set" } else { "set" };
        report.settings.push(format!("{key} = {}  {verb} (from {from})", setting.shown()));
        if let Origin::Env(_) | Origin::Flag(_) | Origin::File { .. } = state.config.origin(key) {
            let origin = state.config.origin(key);
            report
                .notes
                .push(format!("{key} is also set by {origin}: remove it there if the migrated value should apply"));
        }
        current = candidate;
    }
    if current != *before {
        let json = serde_json::to_string(&current)
            .map_err(|e| crate::store::StoreError::Corrupt(format!("settings do not serialize: {e}")))?;
        state.store.save_settings(&json).await?;
        state.settings.store(std::sync::Arc::new(current));
    }
    Ok(())
}

async fn import_login(
    state: &AppState,
    username: Option<&str>,
    password: Option<&Secret>,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let store = state.store.as_ref();
    if let Some(name) = username {
        let stored = password::stored_username(store).await?;
        let verb = if stored.as_deref() == Some(name) { "unchanged" } else { "stored" };
        if verb == "stored" {
            password::save_username(store, name).await?;
        }
        let line = format!("user name `{name}` {verb}; keyflow uses it while ADMIN_USERNAME is not set");
        report.login.push(line);
        if state.config.origin("admin_username") != Origin::Default && state.config.admin_username != name {
            report.notes.push(format!(
                "the console user name is configured as `{}` ({}), which wins over the migrated one",
                state.config.admin_username,
                state.config.origin("admin_username")
            ));
        }
    }
    if let Some(secret) = password {
        let auth = &state.admin_auth;
        let same = auth.password_is_stored() && auth.verify(auth.username(), secret.expose()).await;
        if !same {
            auth.change(store, secret.expose()).await?;
        }
        let verb = if same { "unchanged" } else { "stored as a PBKDF2 hash" };
        report
            .login
            .push(format!("password {verb}; it wins over ADMIN_PASSWORD from now on (change it in the console)"));
    }
    Ok(())
}

async fn import_logs(state: &AppState, logs: &LogSource, report: &mut Report) -> Result<(), MigrateError> {
    let store = state.store.as_ref();
    let key_ids: HashMap<String, KeyId> =
        state.pool.snapshot().entries.iter().map(|e| (e.secret.expose().to_string(), e.id)).collect();
    let mut after = resume_point(state, logs, &key_ids).await?;
    let taken_before = logs.table.count_upto(after).await?;
    let retention_days = state.settings().log_retention_days;
    let cutoff_ms = (now_secs() - i64::from(retention_days) * 86_400) * 1000;
    let (mut added, mut unknown_key, mut old) = (0u64, 0u64, 0u64);
    loop {
        let batch = logs.table.batch_after(after, LOG_BATCH).await?;
        let Some(last) = batch.last().map(|l| l.id) else { break };
        let rows: Vec<LogRow> = batch.iter().map(|l| log_row(state, l, &key_ids)).collect();
        unknown_key += rows.iter().filter(|r| r.key_id.is_none()).count() as u64;
        old += rows.iter().filter(|r| retention_days > 0 && r.ts_ms < cutoff_ms).count() as u64;
        // `A..B` while the batch is on its way, `B` once stored: a run cut
        // short anywhere resumes without losing or repeating a row.
        store.save_value(&logs.mark_name, &format!("{after}..{last}")).await?;
        store.insert_logs(&rows).await?;
        store.save_value(&logs.mark_name, &last.to_string()).await?;
        added += rows.len() as u64;
        after = last;
    }
    report.logs.push(format!("{added} rows added, {taken_before} taken by an earlier run"));
    if unknown_key > 0 {
        report.logs.push(format!("{unknown_key} of them name a key keyflow does not hold (deleted in the tool)"));
    }
    if old > 0 {
        report.notes.push(format!(
            "{old} migrated log rows are older than log_retention_days ({retention_days}) and keyflow's retention \
             will delete them: set LOG_RETENTION_DAYS=0 (or change it in the console) before starting to keep them"
        ));
    }
    Ok(())
}

/// The id of the last old row keyflow holds. After a run stopped between
/// `A..B` and `B`, the batch is in keyflow exactly when its last row is
/// (batches are one transaction each), found by time, model, route, key
/// and tokens, with the zero latency only migrated rows have.
async fn resume_point(
    state: &AppState,
    logs: &LogSource,
    key_ids: &HashMap<String, KeyId>,
) -> Result<i64, MigrateError> {
    let Some(mark) = state.store.load_value(&logs.mark_name).await? else { return Ok(0) };
    let Some((after, last)) = mark.split_once("..") else { return Ok(mark.trim().parse().unwrap_or(0)) };
    let (after, last): (i64, i64) = (after.parse().unwrap_or(0), last.parse().unwrap_or(0));
    let Some(old) = logs.table.batch_after(last - 1, 1).await?.into_iter().find(|l| l.id == last) else {
        return Ok(after);
    };
    let want = log_row(state, &old, key_ids);
    let filter = LogFilter {
        model: want.model.clone(),
        from_ms: Some(want.ts_ms),
        to_ms: Some(want.ts_ms + 1),
        ..LogFilter::default()
    };
    let (rows, _) = state.store.query_logs(&filter, 0, 100).await?;
    let landed = rows.iter().any(|r| {
        (&r.route, &r.model, r.key_id, r.latency_ms) == (&want.route, &want.model, want.key_id, 0)
            && (r.prompt_tokens, r.completion_tokens) == (want.prompt_tokens, want.completion_tokens)
    });
    Ok(if landed { last } else { after })
}

/// One old log row as keyflow's: a success on the key it names, costed
/// with keyflow's price table.
fn log_row(state: &AppState, old: &OldLog, key_ids: &HashMap<String, KeyId>) -> LogRow {
    let model = old.model.as_deref().map(|m| mask_keys(m).into_owned()).filter(|m| !m.is_empty());
    let units =
        Units { prompt_tokens: old.input_tokens, completion_tokens: old.output_tokens, images: 0, input_chars: 0 };
    let total = if old.total_tokens > 0 { old.total_tokens } else { old.input_tokens + old.output_tokens };
    LogRow {
        ts_ms: old.call_time.filter(|t| t.is_finite()).map_or(0, |t| (t * 1000.0).round() as i64),
        route: route_of(old.endpoint.as_deref()),
        key_id: old.used_key.as_deref().and_then(|k| key_ids.get(k.trim()).copied()),
        cost: model.as_deref().map_or(0.0, |m| state.meters.prices.cost(m, units)),
        model,
        // The tools logged answered calls only.
        status: 200,
        prompt_tokens: old.input_tokens,
        completion_tokens: old.output_tokens,
        total_tokens: total,
        ..LogRow::default()
    }
}
