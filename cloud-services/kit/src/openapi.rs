//! The error answers every operation can give, declared once for every service's document.
//!
//! `server::service_router` turns every error into problem JSON (FHIR routes: an
//! `OperationOutcome`), whatever produced it: a handler, an extractor refusing a query or body,
//! the token check, the body limit. The document says so here, once, rather than in each of a
//! hundred `#[utoipa::path]` annotations that would drift: each operation gets the statuses its
//! shape makes possible (401/403 when it needs a token, 404 when its path names something,
//! 413/415 when it takes a body, 400/422 for bad input, 503 when a dependency is down), and every
//! error response, declared here or by the handler, carries the error media type and schema.

use serde_json::{json, Map, Value};
use utoipa::openapi::OpenApi;
use utoipa::{PartialSchema, ToSchema};

use crate::fhir::OperationOutcome;
use crate::problem::Problem;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn describe(status: &str) -> &'static str {
    match status {
        "400" => "Malformed request (query, body or JSON)",
        "401" => "No valid bearer token",
        "403" => "The caller's role or scopes do not allow this",
        "404" => "Nothing at this path, or nothing the caller may see",
        "413" => "Body too large",
        "415" => "Body is not JSON",
        "422" => "Well-formed but invalid input",
        "503" => "A dependency (database, bus, Vault) is unavailable; retry",
        _ => "Error",
    }
}

/// The service's OpenAPI document as served at `/openapi.json`, errors declared.
pub fn with_error_responses(openapi: OpenApi) -> Value {
    let mut doc = serde_json::to_value(&openapi).expect("OpenAPI serialises");
    if !doc["components"].is_object() {
        doc["components"] = json!({});
    }
    let schemas = doc["components"]
        .as_object_mut()
        .map(|c| c.entry("schemas").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(schemas) = schemas {
        // The error schemas and every schema they refer to.
        let mut errors = vec![
            ("Problem".to_string(), Problem::schema()),
            ("OperationOutcome".to_string(), OperationOutcome::schema()),
        ];
        <Problem as ToSchema>::schemas(&mut errors);
        <OperationOutcome as ToSchema>::schemas(&mut errors);
        for (name, schema) in errors {
            schemas.insert(name, json!(schema));
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let fhir = crate::fhir::is_fhir_path(path);
        let content = if fhir {
            json!({ "application/fhir+json": {
                "schema": { "$ref": "#/components/schemas/OperationOutcome" } } })
        } else {
            json!({ "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/Problem" } } })
        };
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let protected = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            let has_body = op.contains_key("requestBody");
            let mut statuses = vec!["400", "422", "503"];
            if protected {
                statuses.extend(["401", "403"]);
            }
            if path.contains('{') {
                statuses.push("404");
            }
            if has_body {
                statuses.extend(["413", "415"]);
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            for status in statuses {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "description": describe(status) }));
            }
            set_error_content(responses, &content);
        }
    }
    declare_value_shapes(&mut doc);
    doc
}

/// What the services' parsers accept, said in the schema language a client or fuzzer checks:
/// JSON Schema treats `format` as an annotation, so a `uuid`, `date` or `date-time` string also
/// gets the `pattern` serde holds it to, and so do the two text formats fields declare with
/// `#[schema(format = "single-line")]` (a name, a label: no control character, not blank) and
/// `#[schema(format = "text")]` (a note: no NUL, not blank); a request body takes no properties
/// it does not declare (`additionalProperties: false`: a client's misspelt field is its error,
/// and an undeclared field is not what a fuzzer's valid request should carry).
fn declare_value_shapes(doc: &mut Value) {
    let mut bodies = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for item in paths.values() {
            for method in METHODS {
                let contents = item[method]["requestBody"]["content"].as_object();
                for content in contents.into_iter().flat_map(|c| c.values()) {
                    if let Some(name) = content["schema"]["$ref"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        bodies.push(name.to_string());
                    }
                }
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for name in bodies {
            if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
                if schema.contains_key("properties") && !schema.contains_key("additionalProperties")
                {
                    schema.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
        }
    }
    add_format_patterns(doc);
}

fn add_format_patterns(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let pattern = match object.get("format").and_then(Value::as_str) {
                Some("uuid") => Some(
                    "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
                ),
                Some("date") => Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                Some("single-line") => {
                    Some(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
                }
                Some("text") => Some(r"^[^\x00]*[^\s\x00][^\x00]*$"),
                Some("date-time") => Some(
                    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
                ),
                _ => None,
            };
            if let Some(pattern) = pattern {
                object
                    .entry("pattern")
                    .or_insert_with(|| Value::String(pattern.into()));
            }
            object.values_mut().for_each(add_format_patterns);
        }
        Value::Array(items) => items.iter_mut().for_each(add_format_patterns),
        _ => {}
    }
}

/// Every 4xx/5xx response answers with the error media type and schema.
fn set_error_content(responses: &mut Map<String, Value>, content: &Value) {
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            response["content"] = content.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{OperationBuilder, PathItemBuilder, PathsBuilder};
    use utoipa::openapi::{HttpMethod, OpenApiBuilder};

    #[test]
    fn operations_get_the_errors_their_shape_allows_in_the_error_media_types() {
        let op = OperationBuilder::new()
            .response("200", utoipa::openapi::Response::new("ok"))
            .build();
        let paths = PathsBuilder::new()
            .path(
                "/v1/things/{id}",
                PathItemBuilder::new()
                    .operation(HttpMethod::Get, op.clone())
                    .build(),
            )
            .path(
                "/v1/fhir/Thing",
                PathItemBuilder::new()
                    .operation(HttpMethod::Get, op)
                    .build(),
            )
            .build();
        let doc = with_error_responses(OpenApiBuilder::new().paths(paths).build());
        let thing = &doc["paths"]["/v1/things/{id}"]["get"]["responses"];
        assert!(thing["404"]["content"]["application/problem+json"].is_object());
        assert!(
            thing["422"].is_object() && thing["401"].is_null(),
            "{thing}"
        );
        let fhir = &doc["paths"]["/v1/fhir/Thing"]["get"]["responses"];
        assert_eq!(
            fhir["400"]["content"]["application/fhir+json"]["schema"]["$ref"],
            "#/components/schemas/OperationOutcome"
        );
        assert!(fhir["404"].is_null());
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(doc["components"]["schemas"]["OutcomeIssue"].is_object());
    }

    #[test]
    fn request_bodies_are_closed_and_formats_carry_their_patterns() {
        let mut doc = json!({
            "paths": { "/v1/things": { "post": {
                "requestBody": { "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/NewThing" } } } },
                "parameters": [{ "name": "since", "in": "query",
                    "schema": { "type": "string", "format": "date-time" } }]
            } } },
            "components": { "schemas": {
                "NewThing": { "type": "object", "properties": {
                    "owner": { "type": "string", "format": "uuid" },
                    "born": { "type": ["string", "null"], "format": "date" },
                    "name": { "type": "string", "format": "single-line" },
                    "note": { "type": "string", "format": "text" } } },
                "Thing": { "type": "object", "properties": { "id": { "type": "string" } } }
            } }
        });
        declare_value_shapes(&mut doc);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["NewThing"]["additionalProperties"], false);
        assert!(
            schemas["Thing"].get("additionalProperties").is_none(),
            "only request bodies"
        );
        let pattern = |v: &Value| regex::Regex::new(v["pattern"].as_str().unwrap()).unwrap();
        let uuid = pattern(&schemas["NewThing"]["properties"]["owner"]);
        assert!(uuid.is_match("6f1c1b9e-8d0e-4a8a-9a55-2a0b1f0b7f00"));
        assert!(!uuid.is_match(""));
        let date = pattern(&schemas["NewThing"]["properties"]["born"]);
        assert!(date.is_match("2026-12-02") && !date.is_match("2026-12-02T10:00:00Z"));
        let name = pattern(&schemas["NewThing"]["properties"]["name"]);
        assert!(name.is_match("Ward 3") && !name.is_match("  ") && !name.is_match("Ward\n3"));
        assert!(
            !name.is_match("W\u{1}"),
            "a control character is not the non-blank one"
        );
        let note = pattern(&schemas["NewThing"]["properties"]["note"]);
        assert!(
            note.is_match("line one\nline two")
                && !note.is_match(" \n ")
                && !note.is_match("a\u{0}")
        );
        let since = pattern(&doc["paths"]["/v1/things"]["post"]["parameters"][0]["schema"]);
        assert!(
            since.is_match("2026-12-02T10:00:00Z") && since.is_match("2026-12-02T10:00:00.5+01:00")
        );
        assert!(!since.is_match("yesterday"));
    }
}
