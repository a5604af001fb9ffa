//! The command-line flags every EpiSante binary shares.

use std::path::PathBuf;

use crate::config::{ConfigError, ConfigSource};
use crate::telemetry::LogFormat;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServiceArgs {
    /// TOML config file (sections per service plus [database], [kafka], [tokens], [vault], [log]).
    #[arg(long, global = true, env = "EPISANTE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: json (one object per line, for Loki) or pretty.
    #[arg(long, global = true)]
    pub log_format: Option<LogFormat>,
}

impl ServiceArgs {
    /// The layered configuration, with `--log-format` applied over `[log] format`.
    pub fn config_source(&self) -> Result<ConfigSource, ConfigError> {
        let source = ConfigSource::load(self.config.as_deref())?;
        Ok(match self.log_format {
            Some(format) => source.with("log.format", format),
            None => source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::LogConfig;

    #[test]
    fn log_format_flag_overrides_the_log_section() {
        let args = ServiceArgs {
            config: None,
            log_format: Some(LogFormat::Json),
        };
        let log: LogConfig = args.config_source().unwrap().section("log").unwrap();
        assert_eq!(log.format, LogFormat::Json);
    }
}
