//! Reading `multipart/form-data` bodies (transcriptions, voices, files).

use std::collections::HashMap;

use axum::extract::Multipart;
use bytes::Bytes;

use crate::error::ApiError;

/// An uploaded file part.
#[derive(Debug)]
pub struct Upload {
    pub filename: Option<String>,
    pub bytes: Bytes,
}

/// The text fields and the `file` part of a form.
#[derive(Debug, Default)]
pub struct Form {
    pub fields: HashMap<String, String>,
    pub file: Option<Upload>,
}

impl Form {
    /// Reads every part; a broken body is the generic 20015.
    pub async fn read(mut multipart: Multipart) -> Result<Form, ApiError> {
        let mut form = Form::default();
        while let Some(field) = multipart.next_field().await.map_err(|_| ApiError::InvalidParameter)? {
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|_| ApiError::InvalidParameter)?;
            if name == "file" {
                form.file = Some(Upload { filename, bytes });
            } else {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                form.fields.insert(name, text);
            }
        }
        Ok(form)
    }

    /// A required, non-empty text field, else 20015.
    pub fn text(&self, name: &str) -> Result<&str, ApiError> {
        self.fields.get(name).map(String::as_str).filter(|text| !text.is_empty()).ok_or(ApiError::InvalidParameter)
    }
}
