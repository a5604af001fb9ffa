//! Property-based API fuzzing with schemathesis (PyPI, installed by `infra/dev/install-tools.sh`):
//! it reads a service's published OpenAPI document, generates valid and invalid requests for every
//! operation, sends them with a real token and checks each answer against the document.
//!
//! What a fuzzer proves that hand-written tests do not: no input the document admits (or breaks)
//! reaches a 5xx, and every status, content type and body the service answers is one the document
//! declares, so a generated client can trust it. Bounded (`FUZZ_EXAMPLES` per operation, default
//! 12, fixed seed) to keep CI's time; raise it locally for a deeper run:
//!
//!     FUZZ_EXAMPLES=200 cargo nextest run -p episante-bookings fuzz --no-capture

use std::time::Duration;

/// The checks a run must pass.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Fuzzes every operation of the service at `base` (its document at `{base}/openapi.json`) as
/// `token`; panics with schemathesis's report on any server error or non-conformance.
/// `exclude_paths`: regex of paths not to fuzz (say, one that would log the token out).
pub async fn assert_fuzz_clean(
    service: &str,
    base: &str,
    token: &str,
    exclude_paths: Option<&str>,
) {
    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| "12".into());
    // schemathesis keeps a cache in its working directory: not in the source tree.
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new("schemathesis");
    command
        .current_dir(scratch.path())
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--url", base])
        .args([
            "--checks",
            &std::env::var("FUZZ_CHECKS").unwrap_or_else(|_| CHECKS.into()),
        ])
        .args(["--max-examples", &examples])
        .args(["--seed", "20261202"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--generation-allow-x00", "true"])
        .args(["--request-timeout", "20"])
        .args(["--workers", "1"])
        .args(["--no-color", "--output-truncate", "true"])
        .args(["--generation-database", "none"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Services that audit PHI reads take the purpose of use from this header.
        .args(["--header", "X-Purpose-Of-Use: TREAT"])
        .kill_on_drop(true);
    if let Some(pattern) = exclude_paths {
        command.args(["--exclude-path-regex", pattern]);
    }
    let out = match tokio::time::timeout(Duration::from_secs(600), command.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("schemathesis does not run ({e}): run infra/dev/install-tools.sh"),
        Err(_) => panic!("schemathesis ran for more than 10 minutes against {service}"),
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "fuzzing {service}'s API found failures:\n{report}"
    );
}
