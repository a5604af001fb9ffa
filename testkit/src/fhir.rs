//! Validates FHIR resources with an independent validator that knows the R4 StructureDefinitions
//! and the vital-signs profiles (`infra/fhir-validate`, a small Node script over well-kept npm
//! packages; `npm ci --prefix infra/fhir-validate` is run by `infra/dev/install-tools.sh`).
//!
//! Our own structs cannot vouch for our own output: a FHIR client checks resources against the
//! specification, so the tests do too.

use std::path::PathBuf;
use std::process::Command;

fn validator_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/fhir-validate")
}

/// Panics with the validator's report unless `resource` (one resource, or a Bundle and every
/// resource in it) is valid FHIR R4, vital-sign Observations against their profiles.
pub fn assert_valid_fhir(what: &str, resource: &serde_json::Value) {
    let dir = validator_dir();
    assert!(
        dir.join("node_modules").is_dir(),
        "the FHIR validator is not installed: run infra/dev/install-tools.sh (npm ci --prefix {})",
        dir.display()
    );
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), serde_json::to_vec(resource).expect("JSON")).expect("write");
    let out = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .arg(file.path())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{what} is not valid FHIR R4:\n{}{}\n{resource:#}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
