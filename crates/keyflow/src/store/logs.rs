//! The request log's types, shared by the store and the statistics.

use serde::{Deserialize, Serialize};

/// One row per client request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// Set by the store on read; `0` before insert.
    pub id: i64,
    /// Unix milliseconds when the request arrived.
    pub ts_ms: i64,
    /// The client token's name (`env:1`, a console token's name), if any.
    pub client: Option<String>,
    pub route: String,
    pub model: Option<String>,
    pub key_id: Option<i64>,
    pub status: u16,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// Time until upstream's first byte.
    pub ttfb_ms: Option<u64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub retries: u32,
    pub stream: bool,
    pub images: u32,
    /// Estimated cost in CNY from the price table.
    pub cost: f64,
    /// The client hung up before the answer ended.
    pub aborted: bool,
    /// The keyflow instance that served the request (`INSTANCE_NAME`).
    #[serde(default)]
    pub instance: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Code(u16),
    /// 2xx and no error.
    Success,
    /// Anything else.
    Error,
}

/// Which rows a query covers; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub model: Option<String>,
    pub key_id: Option<i64>,
    pub client: Option<String>,
    pub status: Option<StatusFilter>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// Sums over the rows of a filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LogTotals {
    pub requests: u64,
    pub success: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub images: u64,
    pub cost: f64,
    pub latency_ms_sum: u64,
    pub ttfb_ms_sum: u64,
    pub ttfb_n: u64,
}

/// What statistics are split by, besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    None,
    Model,
    Key,
    Client,
}

/// Sums of one time bucket (and one dimension value).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// UTC start of the bucket, Unix milliseconds.
    pub start_ms: i64,
    /// The model, key id or client name; `None` for `Dimension::None` or rows without one.
    pub dim: Option<String>,
    pub totals: LogTotals,
}

/// Prices of one model, in CNY.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub model: String,
    /// Per million input (prompt) tokens.
    #[serde(default)]
    pub input_per_m: f64,
    /// Per million output (completion) tokens.
    #[serde(default)]
    pub output_per_m: f64,
    #[serde(default)]
    pub per_image: f64,
    /// Per million characters of input (text to speech).
    #[serde(default)]
    pub per_m_chars: f64,
}
