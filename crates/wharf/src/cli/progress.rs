//! Shows a JSON progress stream (pull, load, import, push): one indicatif bar per layer id on a
//! terminal, plain `id: status` lines otherwise, as docker's `jsonmessage` does. An
//! `errorDetail` ends the stream with that error.

use std::collections::HashMap;
use std::io::Write;

use hyper::Response;
use hyper::body::Incoming;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::client::JsonStream;

/// Where the progress goes: `docker run` shows its auto-pull on stderr, the others on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// An `errorDetail` in the stream: the operation failed although the HTTP status was 200.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamError(pub String);

/// The error a message carries, if any.
pub fn message_error(message: &Value) -> Option<String> {
    message
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .or_else(|| message.get("error").and_then(Value::as_str))
        .map(str::to_string)
}

/// One plain line for a message, as docker prints it when the output is not a terminal.
pub fn plain_line(message: &Value) -> Option<String> {
    let text = |key: &str| {
        message
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(stream) = text("stream") {
        return Some(stream.to_string());
    }
    let status = text("status")?;
    let mut line = String::new();
    if let Some(id) = text("id") {
        line.push_str(id);
        line.push_str(": ");
    }
    line.push_str(status);
    line.push('\n');
    Some(line)
}

/// Displays the stream until its end; returns the `aux` payloads it carried.
pub async fn display(
    response: Response<Incoming>,
    output: Output,
    terminal: bool,
) -> anyhow::Result<Vec<Value>> {
    let mut stream = JsonStream::new(response);
    let mut view = terminal.then(|| BarView::new(output));
    let mut aux = Vec::new();
    while let Some(message) = stream.next().await.map_err(anyhow::Error::from)? {
        if let Some(error) = message_error(&message) {
            if let Some(view) = view.take() {
                view.finish();
            }
            return Err(StreamError(error).into());
        }
        if let Some(value) = message.get("aux") {
            aux.push(value.clone());
        }
        match &mut view {
            Some(view) => view.show(&message),
            None => {
                if let Some(line) = plain_line(&message) {
                    write_out(output, &line);
                }
            }
        }
    }
    if let Some(view) = view {
        view.finish();
    }
    Ok(aux)
}

fn write_out(output: Output, text: &str) {
    // A closed pipe on our output is not worth failing the operation for.
    let _ = match output {
        Output::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Output::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}

/// Bars per layer id on a terminal.
struct BarView {
    output: Output,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    with_bar: ProgressStyle,
    without_bar: ProgressStyle,
}

impl BarView {
    fn new(output: Output) -> Self {
        let target = match output {
            Output::Stdout => ProgressDrawTarget::stdout(),
            Output::Stderr => ProgressDrawTarget::stderr(),
        };
        let with_bar =
            ProgressStyle::with_template("{prefix}: {msg:<12} [{bar:40}] {bytes:>9}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let without_bar = ProgressStyle::with_template("{prefix}: {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        BarView {
            output,
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            with_bar,
            without_bar,
        }
    }

    fn show(&mut self, message: &Value) {
        let text = |key: &str| {
            message
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let Some(id) = text("id") else {
            if let Some(line) = plain_line(message) {
                // Clear the bars, print the line as it is, draw the bars again below it.
                self.multi.suspend(|| write_out(self.output, &line));
            }
            return;
        };
        let status = text("status").unwrap_or_default().to_string();
        let bar = self.bars.entry(id.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(self.without_bar.clone());
            bar.set_prefix(id.to_string());
            bar
        });
        bar.set_message(status);
        let detail = message.get("progressDetail");
        let current = detail
            .and_then(|d| d.get("current"))
            .and_then(Value::as_u64);
        let total = detail.and_then(|d| d.get("total")).and_then(Value::as_u64);
        match (current, total) {
            (Some(current), Some(total)) if total > 0 => {
                bar.set_style(self.with_bar.clone());
                bar.set_length(total);
                bar.set_position(current.min(total));
            }
            _ => bar.set_style(self.without_bar.clone()),
        }
    }

    fn finish(self) {
        for bar in self.bars.values() {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_lines_follow_jsonmessage() {
        assert_eq!(
            plain_line(&json!({"status": "Pull complete", "id": "abc"})),
            Some("abc: Pull complete\n".into())
        );
        assert_eq!(
            plain_line(&json!({"status": "sha256:123"})),
            Some("sha256:123\n".into())
        );
        assert_eq!(
            plain_line(&json!({"stream": "Loaded image: busybox:latest\n"})),
            Some("Loaded image: busybox:latest\n".into())
        );
        assert_eq!(plain_line(&json!({"aux": {"ID": "x"}})), None);
    }

    #[test]
    fn errors_come_from_error_detail() {
        assert_eq!(
            message_error(&json!({"errorDetail": {"message": "bad"}, "error": "bad"})),
            Some("bad".into())
        );
        assert_eq!(
            message_error(&json!({"error": "only"})),
            Some("only".into())
        );
        assert_eq!(message_error(&json!({"status": "fine"})), None);
    }
}
