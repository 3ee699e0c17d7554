//! `GET /v1/models` (with `type` / `sub_type` filters) and `GET /v1/user/info`.

use axum::extract::{Query, State};
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::wrapped;
use crate::catalogue::MODELS;
use crate::error::ApiError;
use crate::fault::UserInfoMode;
use crate::gate::Caller;
use crate::state::MockState;

#[derive(Deserialize)]
pub(super) struct ModelFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
    sub_type: Option<String>,
}

/// The catalogue, filtered; works at any balance.
pub(super) async fn models(Query(filter): Query<ModelFilter>) -> Json<Value> {
    let data: Vec<Value> = MODELS
        .iter()
        .filter(|model| filter.kind.as_deref().is_none_or(|kind| kind.is_empty() || kind == model.kind.type_name()))
        .filter(|model| {
            filter.sub_type.as_deref().is_none_or(|sub| sub.is_empty() || sub == model.kind.sub_type_name())
        })
        .map(|model| json!({"id": model.id, "object": "model", "created": 0, "owned_by": ""}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// Money as upstream prints it: a string with two decimals.
pub fn money(amount: f64) -> String {
    if amount.abs() < 0.005 {
        "0.00".to_owned()
    } else {
        format!("{amount:.2}")
    }
}

pub(super) async fn user_info(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    match state.settings().user_info {
        UserInfoMode::Normal => {}
        UserInfoMode::NotFound => return Err(ApiError::RouteNotFound),
        UserInfoMode::Gone => return Err(ApiError::Gone),
    }
    let entry = state.key_entry(&caller.key).ok_or(ApiError::InvalidKey)?;
    let data = json!({
        "id": &*entry.account, "name": "", "image": "", "email": "", "isAdmin": false,
        "balance": money(entry.gifted), "chargeBalance": money(entry.charge),
        "totalBalance": money(entry.total()),
        "status": "normal", "introduction": "", "role": "",
    });
    Ok(Json(wrapped("OK", data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(money(14.0), "14.00");
        assert_eq!(money(-0.0), "0.00");
        assert_eq!(money(-0.01), "-0.01");
        assert_eq!(money(0.888), "0.89");
    }
}
