//! A real client works: the TypeScript client generated from the services' published OpenAPI
//! documents (openapi-typescript, `web/src/api`) matches what they publish, type-checks a smoke
//! script against them, and the script runs through the gateway: log in, create a patient,
//! open a practice, book an appointment, list alerts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::platform::Platform;

const SERVICES: [&str; 6] = ["auth", "records", "bookings", "alerts", "devices", "notify"];

pub fn web() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web")
}

pub fn run(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_generated_typescript_client_books_and_lists_through_the_gateway() {
    let web = web();
    assert!(
        web.join("node_modules/openapi-typescript").is_dir(),
        "web/ is not installed: run infra/dev/install-tools.sh (npm ci --prefix web)"
    );
    let config = tempfile::tempdir().unwrap();
    let platform = Platform::start(config.path());

    // The committed types are what the running services publish.
    let generated = tempfile::tempdir().unwrap();
    let mut gen = Command::new("node");
    gen.arg(web.join("scripts/gen-api.mjs"))
        .arg("--out")
        .arg(generated.path());
    for service in SERVICES {
        gen.arg(format!("{service}={}/openapi.json", platform.url(service)));
    }
    run(&mut gen, "generating the client");
    for service in SERVICES {
        let file = format!("{service}.ts");
        if std::env::var_os("EPISANTE_BLESS").is_some() {
            // `EPISANTE_BLESS=1 cargo nextest run -E 'test(generated_typescript)'` rewrites them.
            std::fs::copy(
                generated.path().join(&file),
                web.join("src/api").join(&file),
            )
            .unwrap();
        }
        assert!(
            read(&generated.path().join(&file)) == read(&web.join("src/api").join(&file)),
            "web/src/api/{file} is not what the {service} service publishes: regenerate it with \
             `npm run gen:api --prefix web -- {service}=URL/openapi.json` against `episante up`, \
             or run this test with EPISANTE_BLESS=1"
        );
    }

    // The smoke script type-checks against them and runs.
    let build = web.join(format!("build/e2e-{}", std::process::id()));
    run(
        Command::new("node")
            .arg(web.join("node_modules/typescript/bin/tsc"))
            .arg("-p")
            .arg(&web)
            .arg("--outDir")
            .arg(&build),
        "type-checking and compiling the smoke script",
    );
    let output = Command::new("node")
        .arg(build.join("smoke/smoke.js"))
        .env("GATEWAY", platform.url("gateway"))
        .env("ADMIN_EMAIL", &platform.admin_email)
        .env("ADMIN_PASSWORD", &platform.admin_password)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&build);
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the smoke script failed:\n{text}");
    let summary: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or_default()).expect("a JSON summary");
    assert_eq!(summary["status"], "booked", "{summary}");
    assert!(summary["alerts"].is_u64(), "{summary}");
}
