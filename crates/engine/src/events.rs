//! The event stream behind `GET /events` (`docker events`): container, image and volume
//! actions, kept for a while so `since` can look back.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// One event in the Engine API's shape.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    // Pre-1.22 fields the docker CLI still reads for containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

const KEEP: usize = 1000;

/// Publishes events to live subscribers and keeps the last ones for `since`.
#[derive(Debug)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl Events {
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let container = kind == "container";
        let event = Event {
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes: attributes.clone(),
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
            status: container.then(|| action.to_string()),
            id: container.then(|| id.to_string()),
            from: container
                .then(|| attributes.get("image").cloned())
                .flatten(),
        };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(event.clone());
        drop(recent);
        let _ = self.tx.send(event);
    }

    /// Past events (for `since`) and a subscription to the ones to come, without a gap.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        (recent.iter().cloned().collect(), rx)
    }
}
