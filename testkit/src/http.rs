//! Reading an HTTP answer in tests: status and JSON body (`Null` when empty, a JSON string when
//! the body is not JSON), so assertions can print whatever came back.

use reqwest::StatusCode;
use serde_json::Value;

/// Sends `request`; panics only if the server cannot be reached.
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("server reachable");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}
