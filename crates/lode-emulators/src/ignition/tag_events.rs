//! The gateway's tag change feed: every change of a tag's value, quality or timestamp, as the
//! gateway's tag subscriptions see it. Whatever moves a tag at run time (a timer script, an
//! operator's write through `lode emulator tag write`) publishes here; whatever watches tags
//! (the Zerobus connector's direct subscriptions, tag change scripts) subscribes. The feed is a
//! bounded broadcast channel: a subscriber that falls behind by more than [`CAPACITY`] changes
//! is told how many it lost (`RecvError::Lagged`) instead of slowing the writers down, as a
//! gateway's bounded subscription queues do.

use serde_json::Value;
use tokio::sync::broadcast;

/// How many changes a subscriber may fall behind before it loses some: several seconds of the
/// demo's 105 tags changing every second, with room for bursts.
pub const CAPACITY: usize = 65_536;

/// Ignition's quality code for a good value (`QualityCode.Good`).
pub const QUALITY_GOOD: i32 = 192;

/// One change of one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagChange {
    /// The full path with its provider: `[default]Mining/Equipment/CR_002/Vibration_MM_S`.
    pub path: String,
    /// The tag's data type as configured (`Float4`, `Float8`, `Int4`, `Boolean`, `String`, ...).
    pub data_type: String,
    /// The new value as the gateway holds it (a `Float4` already rounded to `f32`); JSON null
    /// when the tag has no value.
    pub value: Value,
    /// The Ignition quality code (`QUALITY_GOOD` is 192).
    pub quality: i32,
    /// When the value changed, in milliseconds since the epoch (the gateway's timestamp).
    pub timestamp_ms: i64,
}

/// The broadcast side of the feed, one per gateway.
#[derive(Debug)]
pub struct TagEvents {
    sender: broadcast::Sender<TagChange>,
}

impl Default for TagEvents {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        TagEvents { sender }
    }
}

impl TagEvents {
    /// Announces a change to every current subscriber; nobody listening is not an error.
    pub fn publish(&self, change: TagChange) {
        let _ = self.sender.send(change);
    }

    /// A receiver of every change published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TagChange> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, value: f64) -> TagChange {
        TagChange {
            path: path.into(),
            data_type: "Float8".into(),
            value: Value::from(value),
            quality: QUALITY_GOOD,
            timestamp_ms: 1,
        }
    }

    #[test]
    fn every_subscriber_sees_each_change_published_after_it_subscribed() {
        let events = TagEvents::default();
        events.publish(change("[default]A", 1.0));
        let mut first = events.subscribe();
        let mut second = events.subscribe();
        events.publish(change("[default]B", 2.0));
        assert_eq!(first.try_recv().unwrap().path, "[default]B");
        assert_eq!(second.try_recv().unwrap().path, "[default]B");
        assert!(first.try_recv().is_err());
    }
}
