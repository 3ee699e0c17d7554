//! SQLite statements for the request log and the price table.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::logs::*;
use super::{SqliteStore, StoreResult};

/// The columns a log row is inserted with, in the order they are bound.
const LOG_COLUMNS: &str = "ts_ms, client, route, model, key_id, status, error, latency_ms, ttfb_ms, \
     prompt_tokens, completion_tokens, total_tokens, retries, stream, images, cost, aborted, instance";

/// Rows per multi-row `INSERT`, largest first. A batch is cut into these
/// sizes, so each connection prepares (parses and plans) at most four log
/// statements once and reuses them: parsing a new statement for every
/// batch cost more than the inserts themselves. 256 rows × 18 columns stay
/// well under SQLite's 32,766 bound parameters.
const INSERT_SIZES: [usize; 4] = [256, 32, 4, 1];

/// The largest statement that fits `rows` rows, and its row count.
fn insert_statement(rows: usize) -> (usize, &'static str) {
    static TEXTS: [std::sync::OnceLock<String>; INSERT_SIZES.len()] =
        [const { std::sync::OnceLock::new() }; INSERT_SIZES.len()];
    let at = INSERT_SIZES.iter().position(|&size| size <= rows).unwrap_or(INSERT_SIZES.len() - 1);
    let size = INSERT_SIZES[at];
    let text = TEXTS[at].get_or_init(|| {
        let row = format!("({})", vec!["?"; LOG_COLUMNS.split(", ").count()].join(", "));
        format!("INSERT INTO request_logs ({LOG_COLUMNS}) VALUES {}", vec![row; size].join(", "))
    });
    (size, text)
}

/// Appends `WHERE …` for a filter.
fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, filter: &LogFilter) {
    q.push(" WHERE 1 = 1");
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

const TOTALS: &str = "COUNT(*) AS requests, \
     COALESCE(SUM(CASE WHEN status BETWEEN 200 AND 299 AND error IS NULL THEN 1 ELSE 0 END), 0) AS success, \
     COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, COALESCE(SUM(completion_tokens), 0) AS completion_tokens, \
     COALESCE(SUM(images), 0) AS images, COALESCE(SUM(cost), 0.0) AS cost, \
     COALESCE(SUM(latency_ms), 0) AS latency_ms_sum, COALESCE(SUM(ttfb_ms), 0) AS ttfb_ms_sum, \
     COUNT(ttfb_ms) AS ttfb_n";

fn totals_from(row: &sqlx::sqlite::SqliteRow) -> StoreResult<LogTotals> {
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

fn log_from(row: &sqlx::sqlite::SqliteRow) -> StoreResult<LogRow> {
    let u = |name: &str| -> StoreResult<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(LogRow {
        id: row.try_get("id")?,
        ts_ms: row.try_get("ts_ms")?,
        client: row.try_get("client")?,
        route: row.try_get("route")?,
        model: row.try_get("model")?,
        key_id: row.try_get("key_id")?,
        status: u("status")? as u16,
        error: row.try_get("error")?,
        latency_ms: u("latency_ms")?,
        ttfb_ms: row.try_get::<Option<i64>, _>("ttfb_ms")?.map(|v| v.max(0) as u64),
        prompt_tokens: u("prompt_tokens")?,
        completion_tokens: u("completion_tokens")?,
        total_tokens: u("total_tokens")?,
        retries: u("retries")? as u32,
        stream: row.try_get::<i64, _>("stream")? != 0,
        images: u("images")? as u32,
        cost: row.try_get("cost")?,
        aborted: row.try_get::<i64, _>("aborted")? != 0,
        instance: row.try_get("instance")?,
    })
}

impl SqliteStore {
    /// Appends `rows` and, with `mark`, sets that named value in the same
    /// transaction.
    pub(super) async fn insert_log_rows(&self, rows: &[LogRow], mark: Option<(&str, &str)>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let mut rest = rows;
        while !rest.is_empty() {
            let (size, sql) = insert_statement(rest.len());
            let (chunk, tail) = rest.split_at(size);
            let mut q = sqlx::query(sql);
            for r in chunk {
                q = q
                    .bind(r.ts_ms)
                    .bind(r.client.clone())
                    .bind(r.route.clone())
                    .bind(r.model.clone())
                    .bind(r.key_id)
                    .bind(i64::from(r.status))
                    .bind(r.error.clone())
                    .bind(r.latency_ms as i64)
                    .bind(r.ttfb_ms.map(|v| v as i64))
                    .bind(r.prompt_tokens as i64)
                    .bind(r.completion_tokens as i64)
                    .bind(r.total_tokens as i64)
                    .bind(i64::from(r.retries))
                    .bind(r.stream as i64)
                    .bind(i64::from(r.images))
                    .bind(r.cost)
                    .bind(r.aborted as i64)
                    .bind(r.instance.clone());
            }
            q.execute(&mut *tx).await?;
            rest = tail;
        }
        if let Some((name, value)) = mark {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
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
        let rows = sqlx::query("SELECT * FROM request_logs WHERE id > ? ORDER BY id LIMIT ?")
            .bind(after_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
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
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM request_logs");
        push_filter(&mut count, filter);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM request_logs");
        push_filter(&mut q, filter);
        q.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64).push(" OFFSET ").push_bind(offset as i64);
        let rows = q.build().fetch_all(&self.pool).await?;
        let rows = rows.iter().map(log_from).collect::<StoreResult<Vec<_>>>()?;
        Ok((rows, total.max(0) as u64))
    }

    pub(super) async fn delete_log_rows(&self, before_ms: Option<i64>) -> StoreResult<u64> {
        let result = match before_ms {
            Some(before) => {
                sqlx::query("DELETE FROM request_logs WHERE ts_ms < ?").bind(before).execute(&self.pool).await?
            }
            None => sqlx::query("DELETE FROM request_logs").execute(&self.pool).await?,
        };
        Ok(result.rows_affected())
    }

    pub(super) async fn log_row_totals(&self, filter: &LogFilter) -> StoreResult<LogTotals> {
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {TOTALS} FROM request_logs"));
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
            Dimension::None => "NULL",
            Dimension::Model => "model",
            Dimension::Key => "CAST(key_id AS TEXT)",
            Dimension::Client => "client",
        };
        let bucket_ms = bucket_ms.max(1);
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT (ts_ms / {bucket_ms}) * {bucket_ms} AS start_ms, {dim_expr} AS dim, {TOTALS} FROM request_logs"
        ));
        push_filter(&mut q, filter);
        q.push(" GROUP BY start_ms, dim ORDER BY start_ms");
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
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(model) DO UPDATE SET input_per_m = excluded.input_per_m, \
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
        let n = sqlx::query("DELETE FROM model_prices WHERE model = ?")
            .bind(model)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}
