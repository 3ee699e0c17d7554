//! PostgreSQL statements for the request log and the price table.
//!
//! A batch of log rows travels as one array per column (`UNNEST`): the
//! statement is the same for every batch size, so it is prepared once per
//! connection, and a batch of thousands is one round trip.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::logs::*;
use super::postgres::{big, BATCH};
use super::{PostgresStore, StoreResult};

/// Appends `WHERE …` for a filter.
fn push_filter(q: &mut QueryBuilder<'_, Postgres>, filter: &LogFilter) {
    q.push(" WHERE TRUE");
    if let Some(model) = &filter.model {
        q.push(" AND model = ").push_bind(model.clone());
    }
    if let Some(key) = filter.key_id {
        q.push(" AND key_id = ").push_bind(key);
    }
    if let Some(client) = &filter.client {
        q.push(" AND client = ").push_bind(client.clone());
    }
    match filter.status {
        Some(StatusFilter::Code(code)) => {
            q.push(" AND status = ").push_bind(i64::from(code));
        }
        Some(StatusFilter::Success) => {
            q.push(" AND status BETWEEN 200 AND 299 AND error IS NULL");
        }
        Some(StatusFilter::Error) => {
            q.push(" AND (status NOT BETWEEN 200 AND 299 OR error IS NOT NULL)");
        }
        None => {}
    }
    if let Some(from) = filter.from_ms {
        q.push(" AND ts_ms >= ").push_bind(from);
    }
    if let Some(to) = filter.to_ms {
        q.push(" AND ts_ms < ").push_bind(to);
    }
}

/// `SUM` of a `BIGINT` is a `NUMERIC` in PostgreSQL: cast back, so every
/// total decodes as `i64` as it does from SQLite.
const TOTALS: &str = "COUNT(*) AS requests, \
     COALESCE(SUM(CASE WHEN status BETWEEN 200 AND 299 AND error IS NULL THEN 1 ELSE 0 END), 0)::INT8 AS success, \
     COALESCE(SUM(prompt_tokens), 0)::INT8 AS prompt_tokens, \
     COALESCE(SUM(completion_tokens), 0)::INT8 AS completion_tokens, \
     COALESCE(SUM(images), 0)::INT8 AS images, COALESCE(SUM(cost), 0)::FLOAT8 AS cost, \
     COALESCE(SUM(latency_ms), 0)::INT8 AS latency_ms_sum, COALESCE(SUM(ttfb_ms), 0)::INT8 AS ttfb_ms_sum, \
     COUNT(ttfb_ms) AS ttfb_n";

fn totals_from(row: &PgRow) -> StoreResult<LogTotals> {
    let n = |name: &str| -> StoreResult<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(LogTotals {
        requests: n("requests")?,
        success: n("success")?,
        prompt_tokens: n("prompt_tokens")?,
        completion_tokens: n("completion_tokens")?,
        images: n("images")?,
        cost: row.try_get("cost")?,
        latency_ms_sum: n("latency_ms_sum")?,
        ttfb_ms_sum: n("ttfb_ms_sum")?,
        ttfb_n: n("ttfb_n")?,
    })
}

fn log_from(row: &PgRow) -> StoreResult<LogRow> {
    let u = |name: &str| -> StoreResult<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(LogRow {
        id: row.try_get("id")?,
        ts_ms: row.try_get("ts_ms")?,
        client: row.try_get("client")?,
        route: row.try_get("route")?,
        model: row.try_get("model")?,
        key_id: row.try_get("key_id")?,
        status: u("status")?.min(u64::from(u16::MAX)) as u16,
        error: row.try_get("error")?,
        latency_ms: u("latency_ms")?,
        ttfb_ms: row.try_get::<Option<i64>, _>("ttfb_ms")?.map(|v| v.max(0) as u64),
        prompt_tokens: u("prompt_tokens")?,
        completion_tokens: u("completion_tokens")?,
        total_tokens: u("total_tokens")?,
        retries: u("retries")?.min(u64::from(u32::MAX)) as u32,
        stream: row.try_get("stream")?,
        images: u("images")?.min(u64::from(u32::MAX)) as u32,
        cost: row.try_get("cost")?,
        aborted: row.try_get("aborted")?,
        instance: row.try_get("instance")?,
    })
}

/// The columns of a batch of log rows, in `INSERT` order.
#[derive(Default)]
struct LogColumns<'a> {
    ts_ms: Vec<i64>,
    client: Vec<Option<&'a str>>,
    route: Vec<&'a str>,
    model: Vec<Option<&'a str>>,
    key_id: Vec<Option<i64>>,
    status: Vec<i64>,
    error: Vec<Option<&'a str>>,
    latency_ms: Vec<i64>,
    ttfb_ms: Vec<Option<i64>>,
    prompt_tokens: Vec<i64>,
    completion_tokens: Vec<i64>,
    total_tokens: Vec<i64>,
    retries: Vec<i64>,
    stream: Vec<bool>,
    images: Vec<i64>,
    cost: Vec<f64>,
    aborted: Vec<bool>,
    instance: Vec<Option<&'a str>>,
}

impl<'a> LogColumns<'a> {
    fn of(rows: &'a [LogRow]) -> Self {
        let mut c = LogColumns::default();
        for r in rows {
            c.ts_ms.push(r.ts_ms);
            c.client.push(r.client.as_deref());
            c.route.push(&r.route);
            c.model.push(r.model.as_deref());
            c.key_id.push(r.key_id);
            c.status.push(i64::from(r.status));
            c.error.push(r.error.as_deref());
            c.latency_ms.push(big(r.latency_ms));
            c.ttfb_ms.push(r.ttfb_ms.map(big));
            c.prompt_tokens.push(big(r.prompt_tokens));
            c.completion_tokens.push(big(r.completion_tokens));
            c.total_tokens.push(big(r.total_tokens));
            c.retries.push(i64::from(r.retries));
            c.stream.push(r.stream);
            c.images.push(i64::from(r.images));
            c.cost.push(r.cost);
            c.aborted.push(r.aborted);
            c.instance.push(r.instance.as_deref());
        }
        c
    }
}

impl PostgresStore {
    /// Appends `rows` and, with `mark`, sets that named value in the same
    /// transaction.
    pub(super) async fn insert_log_rows(&self, rows: &[LogRow], mark: Option<(&str, &str)>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(BATCH * 4) {
            let c = LogColumns::of(chunk);
            sqlx::query(
                "INSERT INTO request_logs (ts_ms, client, route, model, key_id, status, error, latency_ms, ttfb_ms, \
                 prompt_tokens, completion_tokens, total_tokens, retries, stream, images, cost, aborted, instance) \
                 SELECT * FROM UNNEST($1::INT8[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT8[], $6::INT8[], \
                 $7::TEXT[], $8::INT8[], $9::INT8[], $10::INT8[], $11::INT8[], $12::INT8[], $13::INT8[], \
                 $14::BOOL[], $15::INT8[], $16::FLOAT8[], $17::BOOL[], $18::TEXT[])",
            )
            .bind(&c.ts_ms)
            .bind(&c.client)
            .bind(&c.route)
            .bind(&c.model)
            .bind(&c.key_id)
            .bind(&c.status)
            .bind(&c.error)
            .bind(&c.latency_ms)
            .bind(&c.ttfb_ms)
            .bind(&c.prompt_tokens)
            .bind(&c.completion_tokens)
            .bind(&c.total_tokens)
            .bind(&c.retries)
            .bind(&c.stream)
            .bind(&c.images)
            .bind(&c.cost)
            .bind(&c.aborted)
            .bind(&c.instance)
            .execute(&mut *tx)
            .await?;
        }
        if let Some((name, value)) = mark {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn log_rows_after(&self, after_id: i64, limit: u64) -> StoreResult<Vec<LogRow>> {
        let rows = sqlx::query("SELECT * FROM request_logs WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(big(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(log_from).collect()
    }

    pub(super) async fn query_log_rows(
        &self,
        filter: &LogFilter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<LogRow>, u64)> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM request_logs");
        push_filter(&mut count, filter);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM request_logs");
        push_filter(&mut q, filter);
        q.push(" ORDER BY id DESC LIMIT ").push_bind(big(limit)).push(" OFFSET ").push_bind(big(offset));
        let rows = q.build().fetch_all(&self.pool).await?;
        let rows = rows.iter().map(log_from).collect::<StoreResult<Vec<_>>>()?;
        Ok((rows, total.max(0) as u64))
    }

    pub(super) async fn delete_log_rows(&self, before_ms: Option<i64>) -> StoreResult<u64> {
        let result = match before_ms {
            Some(before) => {
                sqlx::query("DELETE FROM request_logs WHERE ts_ms < $1").bind(before).execute(&self.pool).await?
            }
            None => sqlx::query("DELETE FROM request_logs").execute(&self.pool).await?,
        };
        Ok(result.rows_affected())
    }

    pub(super) async fn log_row_totals(&self, filter: &LogFilter) -> StoreResult<LogTotals> {
        let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {TOTALS} FROM request_logs"));
        push_filter(&mut q, filter);
        let row = q.build().fetch_one(&self.pool).await?;
        totals_from(&row)
    }

    pub(super) async fn log_row_buckets(
        &self,
        filter: &LogFilter,
        bucket_ms: i64,
        dim: Dimension,
    ) -> StoreResult<Vec<Bucket>> {
        let dim_expr = match dim {
            Dimension::None => "NULL::TEXT",
            Dimension::Model => "model",
            Dimension::Key => "key_id::TEXT",
            Dimension::Client => "client",
        };
        let bucket_ms = bucket_ms.max(1);
        // Integer division truncates as SQLite's does; `bucket_ms` is a
        // number, so formatting it into the statement is safe.
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT (ts_ms / {bucket_ms}) * {bucket_ms} AS start_ms, {dim_expr} AS dim, {TOTALS} FROM request_logs"
        ));
        push_filter(&mut q, filter);
        q.push(" GROUP BY start_ms, dim ORDER BY start_ms, dim");
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(Bucket { start_ms: row.try_get("start_ms")?, dim: row.try_get("dim")?, totals: totals_from(row)? })
            })
            .collect()
    }

    pub(super) async fn load_price_rows(&self) -> StoreResult<Vec<ModelPrice>> {
        let rows = sqlx::query("SELECT model, input_per_m, output_per_m, per_image, per_m_chars FROM model_prices")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ModelPrice {
                    model: r.try_get("model")?,
                    input_per_m: r.try_get("input_per_m")?,
                    output_per_m: r.try_get("output_per_m")?,
                    per_image: r.try_get("per_image")?,
                    per_m_chars: r.try_get("per_m_chars")?,
                })
            })
            .collect()
    }

    pub(super) async fn save_price_row(&self, p: &ModelPrice, updated_at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO model_prices (model, input_per_m, output_per_m, per_image, per_m_chars, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (model) DO UPDATE SET input_per_m = excluded.input_per_m, \
             output_per_m = excluded.output_per_m, per_image = excluded.per_image, \
             per_m_chars = excluded.per_m_chars, updated_at = excluded.updated_at",
        )
        .bind(&p.model)
        .bind(p.input_per_m)
        .bind(p.output_per_m)
        .bind(p.per_image)
        .bind(p.per_m_chars)
        .bind(updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn delete_price_row(&self, model: &str) -> StoreResult<bool> {
        let n = sqlx::query("DELETE FROM model_prices WHERE model = $1")
            .bind(model)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}
