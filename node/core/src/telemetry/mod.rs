//! Structured logs and OpenTelemetry traces (docs/tracing.md).
//!
//! [`init`] installs the process's one tracing subscriber: the log layer (JSON lines on
//! stdout, or text for a person at a terminal), filtered by `[logging] level`, and, when
//! `[telemetry] otlp_endpoint` is set, an OpenTelemetry layer that exports spans over
//! OTLP/gRPC. The two have separate filters, so `level = "warn"` quiets the log without
//! losing the spans an operator's trace backend needs.
//!
//! Traces cross centres by W3C trace context (`traceparent`, `tracestate`) in gRPC metadata:
//! [`client::TracedChannel`] injects it on every call to a peer and
//! `crate::server::trace_layer` extracts it on both servers, so one trace shows a case at every
//! centre it touched. Spans carry method names, case ids, centre codes and outcomes, never a
//! member's name or id number (those fields are simply never put on a span).

pub mod adapter;
pub mod client;

use crate::config::NodeConfig;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The instrumentation scope spans are reported under.
const SCOPE: &str = "hfx-node";
/// Resource attribute holding this process's centre code (OTel has no standard key for it).
pub const CENTRE_KEY: &str = "hfx.centre";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("logging.level: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// This process's centre, for span fields. A node process serves one centre; the OTel
/// resource (`hfx.centre`) is process-wide for the same reason.
static CENTRE: OnceLock<String> = OnceLock::new();

/// The centre this process serves ("" before [`init`] or in a process that is no node).
pub fn centre() -> &'static str {
    CENTRE.get().map(String::as_str).unwrap_or("")
}

/// Keeps the exporter alive; [`Telemetry::shutdown`] sends the spans still in its batch.
#[must_use = "dropping it without shutdown() loses the last batch of spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Export what is still batched and stop the exporter (bounded: a collector that is
    /// down costs at most a few seconds at shutdown, never a hang).
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown_with_timeout(Duration::from_secs(5))
        {
            tracing::warn!(error = %e, "trace exporter: last batch not sent");
        }
    }
}

/// Whether text written to a stream may carry colour codes: only on a terminal, and never
/// when `NO_COLOR` is set to anything non-empty (<https://no-color.org>). The node's logs and
/// every CLI command's ask this one question.
pub fn colour(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether log lines are JSON: `format = "json"`, or `"auto"` with stdout not a terminal.
fn json_logs(format: &str) -> bool {
    match format {
        "json" => true,
        "text" => false,
        _ => !std::io::stdout().is_terminal(),
    }
}

/// Install the logging and tracing subscriber for a node process (see the module). Must run
/// inside the Tokio runtime (the gRPC exporter's client lives on it). A second call in one
/// process leaves the first subscriber in place.
pub fn init(cfg: &NodeConfig) -> Result<Telemetry, TelemetryError> {
    let _ = CENTRE.set(cfg.centre.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.logging.level)?;
    let log: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> =
        if json_logs(&cfg.logging.format) {
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_filter(filter)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .with_ansi(colour(std::io::stdout().is_terminal()))
                .with_filter(filter)
                .boxed()
        };
    let provider = match &cfg.telemetry.otlp_endpoint {
        Some(endpoint) => Some(provider(cfg, endpoint)?),
        None => None,
    };
    let otel = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(SCOPE))
            // Spans only, at info and above (our own; library internals such as h2, hyper,
            // tonic and sqlx trace at debug and below). Log events are not copied into spans:
            // a log line may carry a masked subject or a core system's error text, and a
            // trace holds no personal data, not even masked.
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.is_span() && *m.level() <= tracing::Level::INFO
            }))
    });
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(otel)
        .try_init();
    if let Some(endpoint) = &cfg.telemetry.otlp_endpoint {
        tracing::info!(endpoint = %endpoint, service = %cfg.telemetry.service_name, "exporting traces over OTLP/gRPC");
    }
    Ok(Telemetry { provider })
}

fn provider(cfg: &NodeConfig, endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let t = &cfg.telemetry;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()?;
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(t.batch_delay_ms.max(1)))
                .build(),
        )
        .build();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(t.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(CENTRE_KEY, cfg.centre.clone()))
        .build();
    // Parent-based: a call that arrives sampled stays sampled, so a trace is never cut in
    // half at a centre boundary; the ratio decides only for traces that start here.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(t.sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_span_processor(batch)
        .with_resource(resource)
        .with_sampler(sampler)
        .build())
}

/// W3C trace context of `span` into outgoing headers (nothing when traces are off).
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// Make `span` a child of the W3C trace context in incoming headers, if there is one.
pub fn adopt(span: &tracing::Span, headers: &http::HeaderMap) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The W3C `traceparent` of `span`, to store with work that outlives it (a transfer case the
/// relay and driver move on long after the call that made it). None when traces are off.
/// Only random trace and span ids and the sampled flag: nothing about the case or person.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut h = http::HeaderMap::new();
    inject(span, &mut h);
    h.get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Make `span` a child of a stored `traceparent` (see [`traceparent`]); nothing when there
/// is none or it does not parse. Call before the span is first entered.
pub fn adopt_traceparent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(v) = traceparent.and_then(|t| http::HeaderValue::from_str(t).ok()) else {
        return;
    };
    let mut h = http::HeaderMap::new();
    h.insert("traceparent", v);
    adopt(span, &h);
}

/// Writes propagation fields as HTTP/2 headers (gRPC metadata); a value that is not a
/// valid header is dropped rather than failing the call.
struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_round_trips_through_headers() {
        let mut h = http::HeaderMap::new();
        HeaderInjector(&mut h).set(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        );
        HeaderInjector(&mut h).set("bad key", "x".into());
        let e = HeaderExtractor(&h);
        assert_eq!(
            e.get("traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(e.keys(), vec!["traceparent"]);
    }

    #[test]
    fn a_stored_traceparent_makes_a_later_span_a_child_of_its_trace() {
        use opentelemetry::trace::TracerProvider as _;
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        // Traces off (no OpenTelemetry layer): nothing to store, and nothing adopted.
        let off = tracing_subscriber::registry();
        tracing::subscriber::with_default(off, || {
            let s = tracing::info_span!("call");
            assert_eq!(traceparent(&s), None);
            adopt_traceparent(
                &s,
                Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            );
        });
        let provider = SdkTracerProvider::builder().build();
        let on = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(on, || {
            let call = tracing::info_span!("call");
            let stored = traceparent(&call).expect("a recorded span has a traceparent");
            let parts: Vec<&str> = stored.split('-').collect();
            assert_eq!(parts.len(), 4, "{stored}");
            // Later, from the store: a new root span joins the call's trace.
            let step = tracing::info_span!(parent: None, "step");
            adopt_traceparent(&step, Some(&stored));
            let child = traceparent(&step).expect("child has a traceparent");
            let cparts: Vec<&str> = child.split('-').collect();
            assert_eq!(cparts[1], parts[1], "same trace id");
            assert_ne!(cparts[2], parts[2], "its own span id");
            // Garbage or nothing stored: the span keeps a trace of its own.
            for bad in [None, Some("not a traceparent"), Some("00-zz-\n")] {
                let own = tracing::info_span!(parent: None, "own");
                adopt_traceparent(&own, bad);
                let t = traceparent(&own).expect("own trace");
                assert_ne!(t.split('-').nth(1), Some(parts[1]));
            }
        });
    }

    #[test]
    fn explicit_log_formats_win() {
        assert!(json_logs("json"));
        assert!(!json_logs("text"));
    }
}
