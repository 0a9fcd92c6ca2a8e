//! What `wharf build` shows while the daemon builds: the messages of `POST /build` sorted into
//! [`Message`]s, and two displays of them — [`Plain`] (BuildKit's `--progress=plain`: `#N`
//! lines, every line the daemon sent kept) and [`Live`] (BuildKit's terminal view: running
//! steps with timers and their last output lines, finished steps collapsed to one line).
//!
//! The wharf extension (`wharf-progress=1`) sends `{"wharf":{"id","name","status","t",
//! "elapsed","text"}}` step events; a daemon without it (dockerd) sends `stream` lines, which
//! both displays print as they are.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

/// What a step event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// The step began.
    Started,
    /// The step was a cache hit (nothing ran).
    Cached,
    /// A chunk of the step's output (`text`).
    Output,
    /// The step finished (`elapsed`).
    Done,
    /// The step failed (`elapsed`, maybe `text`).
    Error,
}

/// One `{"wharf": …}` step event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StepEvent {
    /// The step's number in this build (`#N`).
    pub id: u64,
    /// `[stage 2/4] RUN make`.
    #[serde(default)]
    pub name: String,
    /// What happened.
    pub status: StepStatus,
    /// Seconds since the build started.
    #[serde(default)]
    pub t: f64,
    /// Seconds the step took (done, cached, error).
    #[serde(default)]
    pub elapsed: Option<f64>,
    /// An output chunk (output) or the failure (error).
    #[serde(default)]
    pub text: Option<String>,
}

/// A message of the build stream, sorted by what the displays do with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A wharf step event.
    Step(StepEvent),
    /// Text to show as it is (`stream` lines, `status` lines, messages this client does not
    /// know), newline-terminated.
    Text(String),
    /// An `aux` payload (`{"ID": "sha256:…"}`).
    Aux(Value),
    /// `errorDetail`: the build failed.
    Error {
        /// The daemon's message.
        message: String,
        /// The exit status docker would use (`errorDetail.code`, 1 when absent or 0).
        code: i32,
    },
}

impl Message {
    /// Sorts one JSON message of the stream.
    pub fn classify(value: &Value) -> Message {
        if let Some(message) = super::super::progress::message_error(value) {
            let code = value
                .get("errorDetail")
                .and_then(|d| d.get("code"))
                .and_then(Value::as_i64)
                .filter(|c| *c != 0)
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(1);
            return Message::Error { message, code };
        }
        if let Some(event) = value.get("wharf") {
            return match StepEvent::deserialize(event) {
                Ok(step) => Message::Step(step),
                Err(_) => Message::Text(format!("{value}\n")),
            };
        }
        if let Some(aux) = value.get("aux") {
            return Message::Aux(aux.clone());
        }
        match super::super::progress::plain_line(value) {
            Some(line) => Message::Text(line),
            None => Message::Text(String::new()),
        }
    }
}

/// How the build ended, for the displays' last lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The image was written: its ID, the names it was given (`docker.io/library/x:latest`)
    /// and the seconds between the last step and the end of the stream.
    Built {
        /// `sha256:…`.
        id: String,
        /// Full references of the tags.
        names: Vec<String>,
        /// Seconds spent after the last step (writing the image, tagging).
        export_seconds: f64,
    },
    /// The build failed with this message.
    Failed(String),
}

/// A display of the build stream.
pub trait Display {
    /// Shows one message received at `now`.
    fn message(&mut self, message: &Message, now: Instant) -> io::Result<()>;
    /// Redraws timers (live view only).
    fn tick(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }
    /// Shows the end of the build.
    fn finish(&mut self, outcome: &Outcome, now: Instant) -> io::Result<()>;
}

/// Splits a step's output chunks into whole lines, keeping a partial last line until more
/// comes (or the step ends).
#[derive(Debug, Default)]
struct LineBuffer {
    partial: String,
    /// When the partial line's first chunk came (seconds since the build started).
    partial_t: f64,
    /// The last chunk ended with "\r" (a "\n" right after it ends no further line).
    after_cr: bool,
}

impl LineBuffer {
    /// Adds a chunk received at `t`; returns the lines it completed with the time of their
    /// first chunk. A carriage return (progress bars) ends a line too; "\r\n" ends one line.
    fn push(&mut self, text: &str, t: f64) -> Vec<(f64, String)> {
        let mut lines = Vec::new();
        for piece in text.split_inclusive(['\n', '\r']) {
            if piece == "\n" && self.after_cr && self.partial.is_empty() {
                self.after_cr = false;
                continue;
            }
            if self.partial.is_empty() {
                self.partial_t = t;
            }
            self.after_cr = piece.ends_with('\r');
            match piece.strip_suffix(['\n', '\r']) {
                Some(body) => {
                    self.partial.push_str(body);
                    lines.push((self.partial_t, std::mem::take(&mut self.partial)));
                }
                None => self.partial.push_str(piece),
            }
        }
        lines
    }

    fn flush(&mut self) -> Option<(f64, String)> {
        (!self.partial.is_empty()).then(|| (self.partial_t, std::mem::take(&mut self.partial)))
    }
}

#[derive(Debug, Default)]
struct PlainStep {
    name: String,
    start: f64,
    lines: LineBuffer,
    /// An error event without text: its line is printed with the build's error message.
    error_pending: bool,
    /// An error event came.
    failed: bool,
    /// Done, cached or failed.
    finished: bool,
    /// The number of the last event about it (the latest unfinished step is the one a
    /// failure without an error event is put on).
    seen: u64,
}

/// BuildKit's plain output on any writer.
#[derive(Debug)]
pub struct Plain<W: Write> {
    out: W,
    steps: HashMap<u64, PlainStep>,
    /// The step whose lines were printed last (a blank line and its header separate it from
    /// the next one's).
    current: Option<u64>,
    printed: bool,
    saw_steps: bool,
    last_id: u64,
    events: u64,
}

impl<W: Write> Plain<W> {
    /// A display writing to `out`.
    pub fn new(out: W) -> Self {
        Plain {
            out,
            steps: HashMap::new(),
            current: None,
            printed: false,
            saw_steps: false,
            last_id: 0,
            events: 0,
        }
    }

    /// The writer back (tests read what was written).
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Makes `id` the current step: a blank line and the header when it was not.
    fn switch_to(&mut self, id: u64) -> io::Result<()> {
        if self.current == Some(id) {
            return Ok(());
        }
        if self.printed {
            writeln!(self.out)?;
        }
        let name = self.steps.get(&id).map(|s| s.name.as_str()).unwrap_or("");
        writeln!(self.out, "#{id} {name}")?;
        self.current = Some(id);
        self.printed = true;
        Ok(())
    }

    fn output_line(&mut self, id: u64, t: f64, line: &str) -> io::Result<()> {
        let start = self.steps.get(&id).map_or(0.0, |s| s.start);
        writeln!(self.out, "#{id} {:.3} {line}", (t - start).max(0.0))
    }

    fn flush_step(&mut self, id: u64) -> io::Result<()> {
        if let Some((t, line)) = self.steps.get_mut(&id).and_then(|s| s.lines.flush()) {
            self.output_line(id, t, &line)?;
        }
        Ok(())
    }

    fn step(&mut self, event: &StepEvent) -> io::Result<()> {
        self.saw_steps = true;
        self.last_id = self.last_id.max(event.id);
        let id = event.id;
        let known = self.steps.contains_key(&id);
        let step = self.steps.entry(id).or_insert_with(|| PlainStep {
            name: event.name.clone(),
            start: event.t,
            ..PlainStep::default()
        });
        if step.name.is_empty() {
            step.name = event.name.clone();
        }
        self.events += 1;
        step.seen = self.events;
        if matches!(
            event.status,
            StepStatus::Cached | StepStatus::Done | StepStatus::Error
        ) {
            step.finished = true;
        }
        step.failed |= event.status == StepStatus::Error;
        match event.status {
            StepStatus::Started => {
                if known {
                    step.start = event.t;
                }
                self.switch_to(id)?;
            }
            StepStatus::Cached => {
                self.switch_to(id)?;
                writeln!(self.out, "#{id} CACHED")?;
            }
            StepStatus::Output => {
                let text = event.text.as_deref().unwrap_or_default();
                let lines = step.lines.push(text, event.t);
                if !lines.is_empty() {
                    self.switch_to(id)?;
                }
                for (t, line) in lines {
                    self.output_line(id, t, &line)?;
                }
            }
            StepStatus::Done => {
                self.switch_to(id)?;
                self.flush_step(id)?;
                writeln!(
                    self.out,
                    "#{id} DONE {:.1}s",
                    event
                        .elapsed
                        .unwrap_or(event.t - step_start(&self.steps, id))
                )?;
            }
            StepStatus::Error => {
                self.switch_to(id)?;
                self.flush_step(id)?;
                match event
                    .text
                    .as_deref()
                    .map(str::trim_end)
                    .filter(|t| !t.is_empty())
                {
                    Some(text) => writeln!(self.out, "#{id} ERROR: {text}")?,
                    None => {
                        if let Some(step) = self.steps.get_mut(&id) {
                            step.error_pending = true;
                        }
                    }
                }
            }
        }
        self.out.flush()
    }
}

fn step_start(steps: &HashMap<u64, PlainStep>, id: u64) -> f64 {
    steps.get(&id).map_or(0.0, |s| s.start)
}

impl<W: Write> Display for Plain<W> {
    fn message(&mut self, message: &Message, _now: Instant) -> io::Result<()> {
        match message {
            Message::Step(event) => self.step(event),
            Message::Text(text) if !text.is_empty() => {
                if self.current.take().is_some() {
                    writeln!(self.out)?;
                }
                self.out.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    writeln!(self.out)?;
                }
                self.printed = true;
                self.out.flush()
            }
            Message::Text(_) | Message::Aux(_) | Message::Error { .. } => Ok(()),
        }
    }

    fn finish(&mut self, outcome: &Outcome, _now: Instant) -> io::Result<()> {
        let mut ids: Vec<u64> = self.steps.keys().copied().collect();
        ids.sort_unstable();
        for id in &ids {
            if self.steps[id].lines.partial.is_empty() {
                continue;
            }
            self.switch_to(*id)?;
            self.flush_step(*id)?;
        }
        match outcome {
            Outcome::Failed(message) => {
                // Without an error event, the failure belongs to the step heard of last;
                // the other unfinished ones were cancelled.
                let any_failed = self.steps.values().any(|s| s.failed);
                let culprit = ids
                    .iter()
                    .copied()
                    .filter(|id| !any_failed && !self.steps[id].finished)
                    .max_by_key(|id| self.steps[id].seen);
                for id in ids {
                    let step = &self.steps[&id];
                    if step.error_pending || Some(id) == culprit {
                        self.switch_to(id)?;
                        writeln!(self.out, "#{id} ERROR: {message}")?;
                    } else if !step.finished {
                        self.switch_to(id)?;
                        writeln!(self.out, "#{id} CANCELED")?;
                    }
                }
            }
            Outcome::Built {
                id,
                names,
                export_seconds,
            } if self.saw_steps => {
                let step = self.last_id + 1;
                if self.printed {
                    writeln!(self.out)?;
                }
                writeln!(self.out, "#{step} exporting to image")?;
                writeln!(self.out, "#{step} writing image {id} done")?;
                for name in names {
                    writeln!(self.out, "#{step} naming to {name} done")?;
                }
                writeln!(self.out, "#{step} DONE {export_seconds:.1}s")?;
                self.current = None;
            }
            Outcome::Built { .. } => {}
        }
        self.out.flush()
    }
}

/// How many output lines of a running step the live view shows.
const LIVE_LOG_LINES: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq)]
enum LiveState {
    Running(Instant),
    Cached,
    Done(f64),
    Failed(f64),
    Canceled(f64),
}

#[derive(Debug)]
struct LiveStep {
    id: u64,
    name: String,
    state: LiveState,
    logs: VecDeque<String>,
    lines: LineBuffer,
    seen: u64,
}

/// BuildKit's terminal view, redrawn in place with ANSI sequences on `out` (stderr).
#[derive(Debug)]
pub struct Live<W: Write> {
    out: W,
    start: Instant,
    steps: Vec<LiveStep>,
    drawn: usize,
    /// The terminal's (rows, columns).
    size: (usize, usize),
    finished: Option<bool>,
    exporting: Option<(String, Vec<String>, f64)>,
    events: u64,
}

impl<W: Write> Live<W> {
    /// A view started at `start`, for a terminal of `rows` × `columns`.
    pub fn new(out: W, start: Instant, rows: usize, columns: usize) -> Self {
        Live {
            out,
            start,
            steps: Vec::new(),
            drawn: 0,
            size: (rows.max(4), columns.max(40)),
            finished: None,
            exporting: None,
            events: 0,
        }
    }

    /// The lines of the view at `now`, without escape sequences.
    pub fn frame(&self, now: Instant) -> Vec<String> {
        let (rows, width) = self.size;
        let total = now.duration_since(self.start).as_secs_f64();
        let complete = self
            .steps
            .iter()
            .filter(|s| !matches!(s.state, LiveState::Running(_)))
            .count()
            + usize::from(self.exporting.is_some());
        let known = self.steps.len() + usize::from(self.exporting.is_some());
        let mut header = format!("[+] Building {total:.1}s ({complete}/{known})");
        match self.finished {
            Some(true) => header.push_str(" FINISHED"),
            Some(false) => header.push_str(" ERROR"),
            None => {}
        }
        let mut body: Vec<(bool, Vec<String>)> = Vec::new();
        for step in &self.steps {
            let (prefix, seconds) = match step.state {
                LiveState::Running(since) => ("", now.duration_since(since).as_secs_f64()),
                LiveState::Cached => ("CACHED ", 0.0),
                LiveState::Done(elapsed) => ("", elapsed),
                LiveState::Failed(elapsed) => ("ERROR ", elapsed),
                LiveState::Canceled(elapsed) => ("CANCELED ", elapsed),
            };
            let mut lines = vec![step_line(&format!("{prefix}{}", step.name), seconds, width)];
            let running = matches!(step.state, LiveState::Running(_));
            if running {
                lines.extend(
                    step.logs
                        .iter()
                        .map(|l| clip(&format!(" => => # {l}"), width)),
                );
            }
            body.push((running, lines));
        }
        if let Some((id, names, seconds)) = &self.exporting {
            let mut lines = vec![step_line("exporting to image", *seconds, width)];
            lines.push(clip(&format!(" => => writing image {id}"), width));
            for name in names {
                lines.push(clip(&format!(" => => naming to {name}"), width));
            }
            body.push((false, lines));
        }
        // On a small terminal, finished steps scroll away first.
        let budget = rows.saturating_sub(1);
        let mut count: usize = body.iter().map(|(_, l)| l.len()).sum();
        let mut index = 0;
        while count > budget && index < body.len() {
            if !body[index].0 && self.finished.is_none() {
                count -= body[index].1.len();
                body[index].1.clear();
            }
            index += 1;
        }
        let mut frame = vec![header];
        frame.extend(body.into_iter().flat_map(|(_, lines)| lines));
        frame
    }

    fn draw(&mut self, now: Instant) -> io::Result<()> {
        let frame = self.frame(now);
        let mut text = String::new();
        if self.drawn > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in &frame {
            text.push_str("\r\x1b[2K");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("\x1b[J");
        self.drawn = frame.len();
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    fn clear(&mut self) -> io::Result<()> {
        if self.drawn > 0 {
            write!(self.out, "\x1b[{}A\r\x1b[J", self.drawn)?;
            self.drawn = 0;
        }
        Ok(())
    }

    fn step_mut(&mut self, event: &StepEvent, now: Instant) -> &mut LiveStep {
        self.events += 1;
        let seen = self.events;
        let index = match self.steps.iter().position(|s| s.id == event.id) {
            Some(index) => index,
            None => {
                self.steps.push(LiveStep {
                    id: event.id,
                    name: event.name.clone(),
                    state: LiveState::Running(now),
                    logs: VecDeque::new(),
                    lines: LineBuffer::default(),
                    seen,
                });
                self.steps.len() - 1
            }
        };
        self.steps[index].seen = seen;
        &mut self.steps[index]
    }

    /// The failed step's name and its last output lines, for the summary after the view.
    fn failure_logs(&self) -> Option<(String, Vec<String>)> {
        self.steps
            .iter()
            .find(|s| matches!(s.state, LiveState::Failed(_)))
            .map(|s| (s.name.clone(), s.logs.iter().cloned().collect()))
    }
}

/// ` => name ……… 1.2s`, the time right-aligned at the terminal's edge.
fn step_line(name: &str, seconds: f64, width: usize) -> String {
    let time = format!("{seconds:.1}s");
    let room = width.saturating_sub(time.len() + 5);
    let name = clip(name, room);
    format!(" => {name:<room$} {time}")
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        text.chars().take(width).collect()
    }
}

impl<W: Write> Display for Live<W> {
    fn message(&mut self, message: &Message, now: Instant) -> io::Result<()> {
        match message {
            Message::Step(event) => {
                let step = self.step_mut(event, now);
                if step.name.is_empty() {
                    step.name = event.name.clone();
                }
                match event.status {
                    StepStatus::Started => step.state = LiveState::Running(now),
                    StepStatus::Cached => step.state = LiveState::Cached,
                    StepStatus::Output => {
                        let text = event.text.as_deref().unwrap_or_default();
                        for (_, line) in step.lines.push(text, event.t) {
                            step.logs.push_back(line);
                            if step.logs.len() > LIVE_LOG_LINES {
                                step.logs.pop_front();
                            }
                        }
                    }
                    StepStatus::Done | StepStatus::Error => {
                        if let Some((_, line)) = step.lines.flush() {
                            step.logs.push_back(line);
                        }
                        if let Some(text) = event.text.as_deref().filter(|t| !t.is_empty()) {
                            step.logs.push_back(text.trim_end().to_string());
                        }
                        while step.logs.len() > LIVE_LOG_LINES {
                            step.logs.pop_front();
                        }
                        let elapsed = event.elapsed.unwrap_or_else(|| match step.state {
                            LiveState::Running(since) => now.duration_since(since).as_secs_f64(),
                            _ => 0.0,
                        });
                        step.state = if event.status == StepStatus::Done {
                            LiveState::Done(elapsed)
                        } else {
                            LiveState::Failed(elapsed)
                        };
                    }
                }
                self.draw(now)
            }
            Message::Text(text) if !text.is_empty() => {
                // Above the view, which is drawn again below it.
                self.clear()?;
                self.out.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    writeln!(self.out)?;
                }
                self.draw(now)
            }
            Message::Text(_) | Message::Aux(_) | Message::Error { .. } => Ok(()),
        }
    }

    fn tick(&mut self, now: Instant) -> io::Result<()> {
        if self.finished.is_none() {
            self.draw(now)?;
        }
        Ok(())
    }

    fn finish(&mut self, outcome: &Outcome, now: Instant) -> io::Result<()> {
        match outcome {
            Outcome::Built {
                id,
                names,
                export_seconds,
            } => {
                if !self.steps.is_empty() {
                    self.exporting = Some((id.clone(), names.clone(), *export_seconds));
                }
                self.finished = Some(true);
                self.draw(now)
            }
            Outcome::Failed(_) => {
                // Without an error event, the failure belongs to the running step heard of
                // last; the other running ones were cancelled.
                let any_failed = self
                    .steps
                    .iter()
                    .any(|s| matches!(s.state, LiveState::Failed(_)));
                let culprit = self
                    .steps
                    .iter()
                    .filter(|s| !any_failed && matches!(s.state, LiveState::Running(_)))
                    .max_by_key(|s| s.seen)
                    .map(|s| s.id);
                for step in &mut self.steps {
                    if let LiveState::Running(since) = step.state {
                        let elapsed = now.duration_since(since).as_secs_f64();
                        step.state = if Some(step.id) == culprit {
                            LiveState::Failed(elapsed)
                        } else {
                            LiveState::Canceled(elapsed)
                        };
                    }
                }
                self.finished = Some(false);
                self.draw(now)?;
                if let Some((name, logs)) = self.failure_logs() {
                    writeln!(self.out, "------\n > {name}:")?;
                    for line in logs {
                        writeln!(self.out, "{line}")?;
                    }
                    writeln!(self.out, "------")?;
                }
                self.out.flush()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn messages(values: &[Value]) -> Vec<Message> {
        values.iter().map(Message::classify).collect()
    }

    fn plain(values: &[Value], outcome: &Outcome) -> String {
        let mut display = Plain::new(Vec::new());
        let now = Instant::now();
        for message in messages(values) {
            display.message(&message, now).expect("writes to memory");
        }
        display.finish(outcome, now).expect("writes to memory");
        String::from_utf8(display.into_inner()).expect("utf-8")
    }

    #[test]
    fn messages_are_classified() {
        assert_eq!(
            Message::classify(&json!({"stream": "Step 1/2 : FROM busybox\n"})),
            Message::Text("Step 1/2 : FROM busybox\n".into())
        );
        assert_eq!(
            Message::classify(&json!({"aux": {"ID": "sha256:ab"}})),
            Message::Aux(json!({"ID": "sha256:ab"}))
        );
        assert_eq!(
            Message::classify(&json!({
                "errorDetail": {"message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3", "code": 3},
                "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
            })),
            Message::Error {
                message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3".into(),
                code: 3
            }
        );
        assert_eq!(
            Message::classify(&json!({"error": "boom"})),
            Message::Error {
                message: "boom".into(),
                code: 1
            }
        );
        let Message::Step(step) = Message::classify(
            &json!({"wharf": {"id": 2, "name": "[1/2] FROM busybox", "status": "done", "t": 0.5, "elapsed": 0.25}}),
        ) else {
            panic!("a step event");
        };
        assert_eq!(step.id, 2);
        assert_eq!(step.status, StepStatus::Done);
        assert_eq!(step.elapsed, Some(0.25));
        // An event this client does not know is kept as text, not dropped.
        assert_eq!(
            Message::classify(&json!({"wharf": {"id": 1, "status": "paused"}})),
            Message::Text("{\"wharf\":{\"id\":1,\"status\":\"paused\"}}\n".into())
        );
    }

    #[test]
    fn plain_renders_steps_like_buildkit() {
        let stream = [
            json!({"wharf": {"id": 1, "name": "[1/3] FROM docker.io/library/busybox:latest", "status": "started", "t": 0.01}}),
            json!({"wharf": {"id": 1, "name": "[1/3] FROM docker.io/library/busybox:latest", "status": "done", "t": 0.02, "elapsed": 0.01}}),
            json!({"wharf": {"id": 2, "name": "[2/3] COPY big.bin /data/big.bin", "status": "cached", "t": 0.03, "elapsed": 0.0}}),
            json!({"wharf": {"id": 3, "name": "[3/3] RUN make", "status": "started", "t": 1.0}}),
            json!({"wharf": {"id": 3, "status": "output", "t": 1.123, "text": "compiling\nlink"}}),
            json!({"wharf": {"id": 3, "status": "output", "t": 1.2, "text": "ing\n"}}),
            json!({"wharf": {"id": 3, "name": "[3/3] RUN make", "status": "done", "t": 1.5, "elapsed": 0.5}}),
            json!({"aux": {"ID": "sha256:1a2b"}}),
        ];
        let text = plain(
            &stream,
            &Outcome::Built {
                id: "sha256:1a2b".into(),
                names: vec!["docker.io/library/x:latest".into()],
                export_seconds: 0.04,
            },
        );
        assert_eq!(
            text,
            "#1 [1/3] FROM docker.io/library/busybox:latest\n\
             #1 DONE 0.0s\n\
             \n\
             #2 [2/3] COPY big.bin /data/big.bin\n\
             #2 CACHED\n\
             \n\
             #3 [3/3] RUN make\n\
             #3 0.123 compiling\n\
             #3 0.123 linking\n\
             #3 DONE 0.5s\n\
             \n\
             #4 exporting to image\n\
             #4 writing image sha256:1a2b done\n\
             #4 naming to docker.io/library/x:latest done\n\
             #4 DONE 0.0s\n"
        );
    }

    #[test]
    fn plain_separates_interleaved_stages() {
        let stream = [
            json!({"wharf": {"id": 1, "name": "[a 2/2] RUN sleep 1", "status": "started", "t": 0.0}}),
            json!({"wharf": {"id": 2, "name": "[b 2/2] RUN sleep 1", "status": "started", "t": 0.01}}),
            json!({"wharf": {"id": 1, "status": "output", "t": 0.5, "text": "a\n"}}),
            json!({"wharf": {"id": 2, "status": "output", "t": 0.51, "text": "b"}}),
            json!({"wharf": {"id": 1, "name": "[a 2/2] RUN sleep 1", "status": "done", "t": 1.0, "elapsed": 1.0}}),
        ];
        let text = plain(&stream, &Outcome::Failed("cancelled".into()));
        assert_eq!(
            text,
            "#1 [a 2/2] RUN sleep 1\n\
             \n\
             #2 [b 2/2] RUN sleep 1\n\
             \n\
             #1 [a 2/2] RUN sleep 1\n\
             #1 0.500 a\n\
             #1 DONE 1.0s\n\
             \n\
             #2 [b 2/2] RUN sleep 1\n\
             #2 0.500 b\n\
             #2 ERROR: cancelled\n"
        );
    }

    #[test]
    fn plain_shows_a_failed_step_and_keeps_legacy_lines() {
        let stream = [
            json!({"stream": "a line from an older daemon\n"}),
            json!({"wharf": {"id": 1, "name": "[1/2] FROM busybox", "status": "cached", "t": 0.0, "elapsed": 0.0}}),
            json!({"wharf": {"id": 2, "name": "[2/2] RUN echo no; false", "status": "started", "t": 0.1}}),
            json!({"wharf": {"id": 2, "status": "output", "t": 0.2, "text": "no\n"}}),
            json!({"wharf": {"id": 2, "name": "[2/2] RUN echo no; false", "status": "error", "t": 0.3, "elapsed": 0.2}}),
            json!({"errorDetail": {"message": "The command '/bin/sh -c echo no; false' returned a non-zero code: 1", "code": 1},
                   "error": "The command '/bin/sh -c echo no; false' returned a non-zero code: 1"}),
        ];
        let text = plain(
            &stream,
            &Outcome::Failed(
                "The command '/bin/sh -c echo no; false' returned a non-zero code: 1".into(),
            ),
        );
        assert_eq!(
            text,
            "a line from an older daemon\n\
             \n\
             #1 [1/2] FROM busybox\n\
             #1 CACHED\n\
             \n\
             #2 [2/2] RUN echo no; false\n\
             #2 0.100 no\n\
             #2 ERROR: The command '/bin/sh -c echo no; false' returned a non-zero code: 1\n"
        );
        // An error event with its own text prints that text at once.
        let stream = [
            json!({"wharf": {"id": 1, "name": "[1/1] RUN false", "status": "started", "t": 0.0}}),
            json!({"wharf": {"id": 1, "name": "[1/1] RUN false", "status": "error", "t": 0.1, "elapsed": 0.1, "text": "exit code: 1"}}),
        ];
        let text = plain(&stream, &Outcome::Failed("x".into()));
        assert_eq!(text, "#1 [1/1] RUN false\n#1 ERROR: exit code: 1\n");
    }

    #[test]
    fn a_failure_without_an_error_event_lands_on_the_last_running_step() {
        let stream = [
            json!({"wharf": {"id": 1, "name": "[a 1/1] RUN sleep 5", "status": "started", "t": 0.0}}),
            json!({"wharf": {"id": 2, "name": "[b 1/1] RUN exit 3", "status": "started", "t": 0.1}}),
            json!({"wharf": {"id": 2, "status": "output", "t": 0.2, "text": "bye\n"}}),
            json!({"errorDetail": {"message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3", "code": 3},
                   "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}),
        ];
        let message = "The command '/bin/sh -c exit 3' returned a non-zero code: 3";
        let text = plain(&stream, &Outcome::Failed(message.into()));
        assert_eq!(
            text,
            format!(
                "#1 [a 1/1] RUN sleep 5\n\
                 \n\
                 #2 [b 1/1] RUN exit 3\n\
                 #2 0.100 bye\n\
                 \n\
                 #1 [a 1/1] RUN sleep 5\n\
                 #1 CANCELED\n\
                 \n\
                 #2 [b 1/1] RUN exit 3\n\
                 #2 ERROR: {message}\n"
            )
        );

        let start = Instant::now();
        let mut view = Live::new(Vec::new(), start, 30, 60);
        for message in messages(&stream) {
            view.message(&message, start).expect("writes to memory");
        }
        view.finish(&Outcome::Failed(message.into()), start)
            .expect("writes to memory");
        let frame = view.frame(start);
        assert!(frame[1].starts_with(" => CANCELED [a 1/1] RUN sleep 5"));
        assert!(frame[2].starts_with(" => ERROR [b 1/1] RUN exit 3"));
        let written = String::from_utf8(view.out.clone()).expect("utf-8");
        assert!(written.ends_with("------\n > [b 1/1] RUN exit 3:\nbye\n------\n"));
    }

    #[test]
    fn a_legacy_stream_is_printed_as_is() {
        let stream = [
            json!({"stream": "Step 1/2 : FROM busybox\n"}),
            json!({"stream": " ---> 1a2b3c\n"}),
            json!({"aux": {"ID": "sha256:1a2b"}}),
            json!({"stream": "Successfully built 1a2b\n"}),
        ];
        let text = plain(
            &stream,
            &Outcome::Built {
                id: "sha256:1a2b".into(),
                names: vec![],
                export_seconds: 0.0,
            },
        );
        assert_eq!(
            text,
            "Step 1/2 : FROM busybox\n ---> 1a2b3c\nSuccessfully built 1a2b\n"
        );
    }

    #[test]
    fn line_buffer_handles_partial_lines_and_carriage_returns() {
        let mut buffer = LineBuffer::default();
        assert!(buffer.push("abc", 1.0).is_empty());
        assert_eq!(
            buffer.push("def\nx\r\n", 2.0),
            vec![(1.0, "abcdef".into()), (2.0, "x".into())]
        );
        assert_eq!(
            buffer.push("10%\r20%\r", 3.0),
            vec![(3.0, "10%".into()), (3.0, "20%".into())]
        );
        assert!(buffer.flush().is_none());
        buffer.push("tail", 4.0);
        assert_eq!(buffer.flush(), Some((4.0, "tail".into())));
    }

    #[test]
    fn live_view_collapses_finished_steps() {
        let start = Instant::now();
        let mut view = Live::new(Vec::new(), start, 30, 60);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let stream = messages(&[
            json!({"wharf": {"id": 1, "name": "[1/3] FROM busybox", "status": "cached", "t": 0.0, "elapsed": 0.0}}),
            json!({"wharf": {"id": 2, "name": "[2/3] COPY big.bin /data/big.bin", "status": "started", "t": 0.0}}),
            json!({"wharf": {"id": 2, "name": "[2/3] COPY big.bin /data/big.bin", "status": "done", "t": 0.3, "elapsed": 0.3}}),
            json!({"wharf": {"id": 3, "name": "[3/3] RUN make", "status": "started", "t": 0.3}}),
            json!({"wharf": {"id": 3, "status": "output", "t": 0.4, "text": "1\n2\n3\n4\n5\n6\n7\n"}}),
        ]);
        for (index, message) in stream.iter().enumerate() {
            view.message(message, at(100 * index as u64))
                .expect("writes to memory");
        }
        let frame = view.frame(at(1500));
        assert_eq!(frame[0], "[+] Building 1.5s (2/3)");
        assert_eq!(
            frame[1],
            format!(" => {:<51} 0.0s", "CACHED [1/3] FROM busybox")
        );
        assert_eq!(
            frame[2],
            format!(" => {:<51} 0.3s", "[2/3] COPY big.bin /data/big.bin")
        );
        // Started at 300 ms: 1.2 s at 1.5 s.
        assert_eq!(frame[3], format!(" => {:<51} 1.2s", "[3/3] RUN make"));
        assert_eq!(frame[4], " => => # 2");
        assert_eq!(frame[9], " => => # 7");
        assert_eq!(frame.len(), 10);
        assert!(frame.iter().all(|l| l.chars().count() <= 60));

        view.message(
            &Message::classify(&json!({"wharf": {"id": 3, "name": "[3/3] RUN make", "status": "done", "t": 1.6, "elapsed": 1.3}})),
            at(1600),
        )
        .expect("writes to memory");
        view.finish(
            &Outcome::Built {
                id: "sha256:1a2b".into(),
                names: vec!["docker.io/library/x:latest".into()],
                export_seconds: 0.1,
            },
            at(1700),
        )
        .expect("writes to memory");
        let frame = view.frame(at(1700));
        assert_eq!(frame[0], "[+] Building 1.7s (4/4) FINISHED");
        assert_eq!(frame[3], format!(" => {:<51} 1.3s", "[3/3] RUN make"));
        assert_eq!(frame[4], format!(" => {:<51} 0.1s", "exporting to image"));
        assert_eq!(frame[5], " => => writing image sha256:1a2b");
        assert_eq!(frame[6], " => => naming to docker.io/library/x:latest");
        let written = String::from_utf8(view.out.clone()).expect("utf-8");
        assert!(written.contains("\x1b[2K[+] Building"));
    }

    #[test]
    fn live_view_reports_the_failed_step_with_its_output() {
        let start = Instant::now();
        let mut view = Live::new(Vec::new(), start, 30, 60);
        for message in messages(&[
            json!({"wharf": {"id": 1, "name": "[1/1] RUN echo no; false", "status": "started", "t": 0.0}}),
            json!({"wharf": {"id": 1, "status": "output", "t": 0.1, "text": "no\n"}}),
            json!({"wharf": {"id": 1, "name": "[1/1] RUN echo no; false", "status": "error", "t": 0.2, "elapsed": 0.2}}),
        ]) {
            view.message(&message, start).expect("writes to memory");
        }
        view.finish(&Outcome::Failed("exit 1".into()), start)
            .expect("writes to memory");
        let frame = view.frame(start);
        assert_eq!(frame[0], "[+] Building 0.0s (1/1) ERROR");
        assert_eq!(
            frame[1],
            format!(" => {:<51} 0.2s", "ERROR [1/1] RUN echo no; false")
        );
        let written = String::from_utf8(view.out.clone()).expect("utf-8");
        assert!(written.ends_with("------\n > [1/1] RUN echo no; false:\nno\n------\n"));
    }

    #[test]
    fn live_view_scrolls_finished_steps_off_a_small_terminal() {
        let start = Instant::now();
        let mut view = Live::new(Vec::new(), start, 5, 60);
        for id in 1..=6 {
            let name = format!("[{id}/7] RUN step {id}");
            view.message(
                &Message::classify(
                    &json!({"wharf": {"id": id, "name": name, "status": "cached", "t": 0.0}}),
                ),
                start,
            )
            .expect("writes to memory");
        }
        view.message(
            &Message::classify(&json!({"wharf": {"id": 7, "name": "[7/7] RUN last", "status": "started", "t": 0.0}})),
            start,
        )
        .expect("writes to memory");
        let frame = view.frame(start);
        assert_eq!(frame.len(), 5);
        assert!(frame[4].contains("[7/7] RUN last"));
        assert!(frame[1].contains("[4/7]"));
    }
}
