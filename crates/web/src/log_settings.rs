//! `[log]`, the same section in every shell's configuration (the server's and the gateway's):
//! what the process logs and in which format.

use serde::Deserialize;

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `bulwark=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

impl LogConfig {
    /// `level` is a tracing filter whose bare words are levels: a word that is not a level
    /// (`warning`, `verbose`) would be read as a target name and switch the rest of the log
    /// off, a level nobody chose. Every shell checks its `[log]` with this at start.
    pub fn check(&self) -> Result<(), String> {
        let level = &self.level;
        let wrong = |why: String| {
            format!(
                "log.level {level:?} is not a tracing filter (e.g. \"info\", \"warn\", \"bulwark=debug,info\"): {why}"
            )
        };
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| wrong(e.to_string()))?;
        for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            if !directive.contains(['=', '['])
                && directive
                    .parse::<tracing::level_filters::LevelFilter>()
                    .is_err()
            {
                return Err(wrong(format!("{directive:?} is not a level")));
            }
        }
        Ok(())
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line for log shippers.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log level that is not a tracing filter, or whose bare word is not a level (read as
    /// a target, it would switch the rest of the log off), is refused.
    #[test]
    fn op_4_a_log_level_that_is_not_a_filter_is_refused() {
        let check = |level: &str| {
            LogConfig {
                level: level.into(),
                ..LogConfig::default()
            }
            .check()
        };
        for good in [
            "info",
            "warn",
            "bulwark=debug,info",
            "info,sqlx=warn",
            "bulwark[x]=info",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in ["bulwark=loud", "warning", "verbose", "info,infoo"] {
            assert!(
                check(bad).is_err_and(|e| e.contains("is not a tracing filter")),
                "{bad}"
            );
        }
    }
}
