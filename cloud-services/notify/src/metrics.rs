//! Notify's own metrics (`/metrics`, beside the HTTP ones every service has).

use std::sync::Arc;

use episante_kit::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::domain::message::MessageKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

impl From<MessageKind> for KindLabel {
    fn from(kind: MessageKind) -> Self {
        KindLabel {
            kind: kind.as_str(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `sent`, `retried`, `failed` or `withdrawn`.
    pub outcome: &'static str,
}

#[derive(Default)]
pub struct NotifyMetrics {
    pub queued: Family<KindLabel, Counter>,
    pub outcomes: Family<OutcomeLabel, Counter>,
    pub unreachable: Counter,
    pub malformed_events: Counter,
    /// Pages folded into a digest.
    pub digested: Counter,
    /// Pages nobody could be found for (an empty care team, nobody on call).
    pub unpaged: Counter,
}

impl NotifyMetrics {
    pub fn register(metrics: &Metrics) -> Arc<Self> {
        let m = NotifyMetrics::default();
        metrics.register(
            "episante_notify_queued",
            "Messages written, by kind",
            m.queued.clone(),
        );
        metrics.register(
            "episante_notify_attempts",
            "Send attempts by outcome (sent, retried, failed, withdrawn)",
            m.outcomes.clone(),
        );
        metrics.register(
            "episante_notify_unreachable",
            "Messages recorded as failed at once: no account, deactivated, or no valid address",
            m.unreachable.clone(),
        );
        metrics.register(
            "episante_notify_malformed_events",
            "Events skipped because they could not be read",
            m.malformed_events.clone(),
        );
        metrics.register(
            "episante_notify_digested_pages",
            "Alert pages folded into their recipient's digest (a burst of pages)",
            m.digested.clone(),
        );
        metrics.register(
            "episante_notify_unpaged_alerts",
            "Alert pages with nobody to page: the patient's care team is empty or nobody is on call",
            m.unpaged.clone(),
        );
        Arc::new(m)
    }
}
