//! `POST /v1/embeddings` and `POST /v1/rerank`, with both upstream rerank usage shapes.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::{bill, ensure_funds, flag, model_of, optional_u64, parse_object};
use crate::catalogue::{Kind, ModelSpec};
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::MockState;
use crate::text::{fnv1a, hex_id, tokens};

/// Vector length when `dimensions` is not given. Real models return 1024 or
/// 4096 floats; the mock keeps answers small and fast.
pub const DEFAULT_DIMENSIONS: usize = 16;

/// The `dimensions` values Qwen3-Embedding-8B accepts.
const QWEN3_DIMENSIONS: &[u64] = &[64, 128, 256, 512, 768, 1024, 2048, 4096];

/// The inputs: one non-empty string or 1–32 of them.
fn inputs(object: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let inputs = match object.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) if (1..=32).contains(&items.len()) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(ApiError::InvalidParameter))
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::InvalidParameter),
    };
    if inputs.iter().any(String::is_empty) {
        return Err(ApiError::InvalidParameter);
    }
    Ok(inputs)
}

fn dimensions(object: &Map<String, Value>, spec: &ModelSpec) -> Result<usize, ApiError> {
    match optional_u64(object, "dimensions")? {
        None => Ok(DEFAULT_DIMENSIONS),
        Some(n) if spec.id.starts_with("Qwen/Qwen3-Embedding") && QWEN3_DIMENSIONS.contains(&n) => {
            usize::try_from(n).map_err(|_| ApiError::InvalidParameter)
        }
        Some(_) => Err(ApiError::InvalidParameter),
    }
}

/// A unit-length vector derived from the text alone.
fn vector(text: &str, dims: usize) -> Vec<f32> {
    let seed = fnv1a(text.as_bytes());
    let raw: Vec<f32> = (0..dims as u64)
        .map(|i| {
            let bits = fnv1a(&(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
            (bits % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    raw.into_iter().map(|x| x / norm).collect()
}

pub(super) async fn embeddings(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::Embedding])?;
    let inputs = inputs(&object)?;
    let dims = dimensions(&object, spec)?;
    let base64 = match object.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return Err(ApiError::InvalidParameter),
    };
    let counts: Vec<u64> = inputs.iter().map(|input| tokens(input)).collect();
    if counts.iter().any(|n| *n > spec.context) {
        return Err(ApiError::InvalidParameter);
    }
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;
    let prompt: u64 = counts.iter().sum();
    bill(&state, &caller, spec, prompt, (prompt, 0, 0));

    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let floats = vector(input, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = floats.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(floats)
            };
            json!({"object": "embedding", "embedding": embedding, "index": index})
        })
        .collect();
    Ok(Json(json!({
        "object": "list", "model": spec.id, "data": data,
        "usage": {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt},
    })))
}

/// Relevance in (0, 1): the share of the query's characters found in the
/// document, nudged by a hash so ties are broken deterministically.
fn relevance(query: &str, document: &str) -> f64 {
    let query_chars: HashSet<char> = query.chars().filter(|c| !c.is_whitespace()).collect();
    let doc_chars: HashSet<char> = document.chars().collect();
    let shared = query_chars.intersection(&doc_chars).count() as f64;
    let overlap = shared / (query_chars.len().max(1) as f64);
    let jitter = (fnv1a(document.as_bytes()) % 1000) as f64 / 100_000.0;
    (overlap * 0.98 + jitter).clamp(0.0001, 0.9999)
}

pub(super) async fn rerank(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::Reranker])?;
    let query = super::required_str(&object, "query")?;
    let documents: Vec<&str> = match object.get("documents") {
        Some(Value::Array(items)) if items.is_empty() => return Err(ApiError::EmptyList),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().ok_or(ApiError::InvalidParameter)).collect::<Result<_, _>>()?
        }
        _ => return Err(ApiError::InvalidParameter),
    };
    let top_n = optional_u64(&object, "top_n")?
        .map_or(documents.len(), |n| usize::try_from(n).unwrap_or(usize::MAX).min(documents.len()));
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;
    let input_tokens = tokens(query) + documents.iter().map(|doc| tokens(doc)).sum::<u64>();
    bill(&state, &caller, spec, input_tokens, (input_tokens, 0, 0));

    let mut scored: Vec<(usize, f64)> =
        documents.iter().enumerate().map(|(index, doc)| (index, relevance(query, doc))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let with_documents = flag(&object, "return_documents");
    let results: Vec<Value> = scored
        .into_iter()
        .take(top_n)
        .map(|(index, score)| {
            let mut result = json!({"index": index, "relevance_score": score});
            if with_documents {
                result["document"] = json!({"text": documents[index]});
            }
            result
        })
        .collect();
    let tokens = json!({"input_tokens": input_tokens, "output_tokens": 0});
    // Qwen3-Reranker answers Cohere-style `meta`; bge keeps top-level `tokens`.
    let answer = if spec.id.starts_with("Qwen/Qwen3-Reranker") {
        json!({"id": hex_id(), "results": results, "meta": {
            "billed_units": {"input_tokens": input_tokens, "output_tokens": 0, "search_units": 0, "classifications": 0},
            "tokens": tokens,
        }})
    } else {
        json!({"id": hex_id(), "results": results, "tokens": tokens})
    };
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_stable_and_unit_length() {
        let a = vector("hello", 16);
        assert_eq!(a, vector("hello", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_ne!(a, vector("world", 16));
    }

    #[test]
    fn relevant_documents_rank_higher() {
        assert!(relevance("apple", "apple pie") > relevance("apple", "xyz"));
    }
}
