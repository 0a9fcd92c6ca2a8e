//! Logging for the command line: runc's `--log`/`--log-format` (containerd's shim reads the
//! JSON form, `{"level","msg","time"}`, to report why a runtime call failed).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt};

/// `text` (human lines) or `json` (one logrus-style object per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

struct RuncJson;

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        struct Msg(String);
        impl tracing::field::Visit for Msg {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let mut msg = Msg(String::new());
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        let line = serde_json::json!({
            "level": level,
            "msg": msg.0,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        });
        writeln!(writer, "{line}")
    }
}

/// Sets the global subscriber: to `log` when given (appending), else to stderr.
/// `WHARF_LOG` overrides the level filter (`debug`, `runtime=trace`, …).
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> anyhow::Result<()> {
    let default = if debug {
        "debug"
    } else {
        // libcgroups warns about every v1 controller this host lacks (net_cls, perf_event, …);
        // libcontainer logs each failure on its way up, and the command prints the whole chain
        // once at the end (runc prints one line). --debug or WHARF_LOG show them all.
        "warn,libcgroups=error,libcontainer=off"
    };
    let filter = EnvFilter::try_from_env("WHARF_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = fmt().with_env_filter(filter);
    match log {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open log file {}", path.display()))?;
            let writer = Mutex::new(file);
            match format {
                LogFormat::Json => builder
                    .event_format(RuncJson)
                    .with_writer(writer)
                    .try_init(),
                LogFormat::Text => builder.with_ansi(false).with_writer(writer).try_init(),
            }
        }
        None => match format {
            LogFormat::Json => builder
                .event_format(RuncJson)
                .with_writer(std::io::stderr)
                .try_init(),
            LogFormat::Text => builder.with_writer(std::io::stderr).try_init(),
        },
    }
    .map_err(|e| anyhow::anyhow!("set up logging: {e}"))
}
