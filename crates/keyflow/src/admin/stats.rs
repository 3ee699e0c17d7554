//! `/api/stats`: the overview and sums per hour, day and month.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::logs::LogQuery;
use crate::state::AppState;
use crate::stats::{self, Period};
use crate::store::{LogFilter, StatusFilter};

fn zone(state: &AppState, query: Option<&str>) -> ApiResult<jiff::tz::TimeZone> {
    let settings = state.settings();
    Ok(stats::time_zone(query.or(settings.stats_time_zone.as_deref()))?)
}

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    tz: Option<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    Query(q): Query<OverviewQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let tz = zone(&state, q.tz.as_deref())?;
    let all = state.store.log_totals(&LogFilter::default()).await?;
    let today_filter = LogFilter { from_ms: Some(stats::today_start_ms(&tz)), ..Default::default() };
    let today = state.store.log_totals(&today_filter).await?;
    let errors_filter = LogFilter { status: Some(StatusFilter::Error), ..Default::default() };
    let (recent_errors, _) = state.store.query_logs(&errors_filter, 0, 10).await?;
    let rates = state.meters.live.rates(crate::clock::now_secs().max(0) as u64);
    let counts = state.pool.counts();
    Ok(Json(json!({
        "time_zone": stats::zone_name(&tz),
        "totals": stats::totals_row(&all),
        "today": stats::totals_row(&today),
        "keys": counts,
        "pool_balance": (state.pool.total_balance() * 100.0).round() / 100.0,
        "live": rates,
        "log_queue_depth": queue_depth(&state),
        "recent_errors": recent_errors,
    })))
}

pub fn queue_depth(state: &AppState) -> usize {
    state.recorder.queue_depth() + state.meters.rows_pending.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    days: Option<i64>,
    months: Option<i64>,
    hours: Option<i64>,
    tz: Option<String>,
    #[serde(flatten)]
    filter: LogQueryFields,
}

/// Filters accepted by the period reports (strings only: flatten-safe).
#[derive(Debug, Default, Deserialize)]
pub struct LogQueryFields {
    model: Option<String>,
    key: Option<String>,
    token: Option<String>,
}

impl PeriodQuery {
    fn filter(&self) -> ApiResult<LogFilter> {
        LogQuery {
            model: self.filter.model.clone(),
            key: self.filter.key.clone(),
            token: self.filter.token.clone(),
            ..Default::default()
        }
        .filter()
    }
}

async fn period(state: &AppState, q: &PeriodQuery, period: Period, n: i64, max: i64) -> ApiResult<Json<stats::Report>> {
    if !(1..=max).contains(&n) {
        return Err(ApiError::BadRequest(format!("the number of periods must be 1..={max}, got {n}")));
    }
    let tz = zone(state, q.tz.as_deref())?;
    Ok(Json(stats::report(state.store.as_ref(), &tz, period, n, q.filter()?).await?))
}

pub async fn hourly(State(state): State<AppState>, Query(q): Query<PeriodQuery>) -> ApiResult<Json<stats::Report>> {
    let n = q.hours.unwrap_or(24);
    period(&state, &q, Period::Hour, n, 24 * 31).await
}

pub async fn daily(State(state): State<AppState>, Query(q): Query<PeriodQuery>) -> ApiResult<Json<stats::Report>> {
    let n = q.days.unwrap_or(30);
    period(&state, &q, Period::Day, n, 366).await
}

pub async fn monthly(State(state): State<AppState>, Query(q): Query<PeriodQuery>) -> ApiResult<Json<stats::Report>> {
    let n = q.months.unwrap_or(12);
    period(&state, &q, Period::Month, n, 120).await
}
