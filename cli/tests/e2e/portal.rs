//! The web portal in a real browser (Debian's Chromium driven by playwright-core, `web/e2e/`)
//! against `episante up --demo`, whose gateway serves the portal it builds here: an admin
//! registers a device and downloads its credentials, a patient books and cancels with the
//! keyboard, the demo clinician sees alerts arrive live and acknowledges one, logout ends the
//! session, and axe-core finds no serious or critical violation on any page.

use std::path::Path;
use std::process::Command;

use crate::client::{run, web};
use crate::platform::Platform;

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn patients_clinicians_and_admins_use_the_portal_in_a_real_browser() {
    let web = web();
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/ is not installed: run infra/dev/install-tools.sh (npm ci --prefix web)"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run infra/dev/install-tools.sh (apt package chromium)"
    );
    // The portal `episante up` serves (found as web/dist from the working directory up).
    let built = run(
        Command::new("npm")
            .args(["run", "build:portal"])
            .current_dir(&web),
        "building the portal",
    );
    println!("{built}");

    let config = tempfile::tempdir().unwrap();
    let mut platform = Platform::start_with(config.path(), &["--demo"]);
    assert!(
        platform.lines.iter().any(|l| l.contains("portal")),
        "no portal line in {:?}",
        platform.lines
    );
    let (email, password) = platform.demo_clinician();

    let output = Command::new("node")
        .arg(web.join("e2e/portal.mjs"))
        .env("GATEWAY", platform.url("gateway"))
        .env("ADMIN_EMAIL", &platform.admin_email)
        .env("ADMIN_PASSWORD", &platform.admin_password)
        .env("CLINICIAN_EMAIL", &email)
        .env("CLINICIAN_PASSWORD", &password)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the portal e2e failed:\n{text}");
    println!("{text}");
}
