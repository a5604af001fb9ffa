//! `episante-probe [URL]`: the container health check. Sends `GET URL` (default
//! `$EPISANTE_HEALTH_URL`, plain `http://` only) and exits 0 when the answer is 2xx within the
//! timeout (`EPISANTE_HEALTH_TIMEOUT_MS`, default 3000), 1 otherwise. Standard library only, so the
//! runtime image needs neither curl nor its libraries.

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EPISANTE_HEALTH_URL").ok());
    let Some(url) = url else {
        eprintln!("usage: episante-probe URL (or set EPISANTE_HEALTH_URL)");
        return ExitCode::FAILURE;
    };
    let timeout = std::env::var("EPISANTE_HEALTH_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(3));
    match episante_infra::probe::check(&url, timeout) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{url}: HTTP {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}
