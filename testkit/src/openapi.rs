//! Checks a service's OpenAPI document with an independent validator: `openapi-spec-validator`
//! (PyPI), which validates against the OpenAPI 3.x JSON Schema and checks what the schema cannot
//! (path parameters that the path declares, unique operation ids, resolvable `$ref`s). Installed
//! by `infra/dev/install-tools.sh`.
//!
//! Our own structs cannot vouch for our own documents: a generated client or a fuzzer reads the
//! document as the standard says, so the test must too.

use std::process::Command;

/// Every local `$ref` in `value` (`#/a/b/c`) that does not resolve in `doc`.
fn dangling_refs(doc: &serde_json::Value, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                let resolves = r
                    .strip_prefix('#')
                    .is_some_and(|pointer| doc.pointer(pointer).is_some());
                if !resolves {
                    out.push(r.clone());
                }
            }
            map.values().for_each(|v| dangling_refs(doc, v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dangling_refs(doc, v, out)),
        _ => {}
    }
}

/// Panics with the validator's report unless `doc` is a valid OpenAPI document whose every
/// `$ref` resolves (the validator only follows the ones operations reach).
pub fn assert_valid_openapi(service: &str, doc: &serde_json::Value) {
    let mut dangling = vec![];
    dangling_refs(doc, doc, &mut dangling);
    assert!(
        dangling.is_empty(),
        "{service}'s OpenAPI document refers to schemas it does not hold: {dangling:?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{service}.openapi.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(doc).expect("JSON")).expect("write document");
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--validation-errors", "all"])
        .arg(&path)
        .output()
        .expect("python3 runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !report.contains("No module named"),
        "openapi-spec-validator is missing: run infra/dev/install-tools.sh\n{report}"
    );
    assert!(
        out.status.success(),
        "{service}'s OpenAPI document is invalid:\n{report}"
    );
}
