//! API errors as the real API server reports them: a `Status` object with the HTTP code, a
//! machine-readable reason and a message naming the object.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// The Status `details` (object and causes), when the error names fields.
    pub details: Option<serde_json::Value>,
}

/// One refused field: a `StatusCause` of an Invalid error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    field: String,
    /// The cause type, e.g. `FieldValueInvalid`.
    reason: &'static str,
    /// What clients print after the field, e.g. `Invalid value: "x": ...`.
    body: String,
}

impl FieldError {
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        FieldError {
            field: field.to_string(),
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {value:?}: {detail}"),
        }
    }

    /// An invalid value printed as is (numbers: `Invalid value: 599: ...`).
    pub fn invalid_raw(field: &str, value: &str, detail: &str) -> Self {
        FieldError {
            field: field.to_string(),
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {value}: {detail}"),
        }
    }

    pub fn required(field: &str, detail: &str) -> Self {
        FieldError {
            field: field.to_string(),
            reason: "FieldValueRequired",
            body: format!("Required value: {detail}"),
        }
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
    }

    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
    }

    pub fn conflict(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    pub fn invalid(kind: &str, name: &str, causes: &[String]) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {}", causes.join(", ")),
        )
    }

    /// 422 Invalid as the real API server builds it (`NewInvalid`): the kind qualified by its
    /// group, every field error in the message, and one cause per field error in the details,
    /// which is where kubectl and client libraries read them from.
    pub fn invalid_fields(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let each: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body))
            .collect();
        let message = match each.as_slice() {
            [] => format!("{qualified} {name:?} is invalid"),
            [one] => format!("{qualified} {name:?} is invalid: {one}"),
            many => format!("{qualified} {name:?} is invalid: [{}]", many.join(", ")),
        };
        let causes: Vec<serde_json::Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.body, "field": e.field}))
            .collect();
        let mut details = json!({"name": name, "kind": kind, "causes": causes});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        ApiError {
            details: Some(details),
            ..Self::new(422, "Invalid", message)
        }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The `Status` object of this error.
    pub fn status(&self) -> serde_json::Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::api::json_response(code, &self.status())
    }
}
