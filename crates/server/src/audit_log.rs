//! OP-6: every event logged on the `bulwark::security` target (refused client
//! authentications, certificate refusals, consent status changes, registrations, staff
//! actions, ...) also becomes an append-only row of the audit trail, without each service
//! knowing about it: [`AuditLayer`] (a `tracing` layer) copies the event's fields into an
//! [`AuditEvent`] and hands it to the application that handled the request, whose writer task
//! appends it. The hand-off is a bounded queue: the requests never wait for the database.
//! Refusals (WARN events) are recorded up to 50 per action and second and dropped beyond
//! (counted in `bulwark_audit_dropped_total`), so a flood cannot crowd out the trail or grow it
//! without bound; state changes (INFO events) are never dropped, and a failed write is
//! retried.
//!
//! Several applications in one process (the tests) each get their events: a request's events
//! carry the id of the application that served it through a span, and events outside any
//! request go to the only application when there is one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bulwark_core::Clock;
use bulwark_store::{AuditEvent, AuditStore};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The target whose events are audited.
pub const SECURITY_TARGET: &str = "bulwark::security";
/// The span an application's requests run in (field `app_id`).
pub const APP_SPAN: &str = "bulwark_app";
/// The field of a security event whose audit row its own transaction already appended
/// (`in_trail = true`): logged, not appended again.
pub const IN_TRAIL: &str = "in_trail";
/// Events waiting for the writer, per application.
const QUEUE: usize = 4096;
/// Events the writer appends in one transaction at most.
const BATCH: usize = 64;

/// Where one application's events go: its writer's queue, its clock for their time, and its
/// store (for a state change that finds the queue full).
type Route = (
    mpsc::Sender<AuditEvent>,
    Arc<dyn Clock>,
    Arc<dyn AuditStore>,
);

/// Refusals (WARN events) recorded per action and second; more are counted as dropped, so a
/// flood of refused requests cannot crowd out the trail or grow it without bound.
const REFUSALS_PER_SECOND: u32 = 50;

/// Whether a refusal of `action` may be recorded in the second `now` by the application
/// `app` (each application its own windows: several share a process in the tests, each with
/// its own clock).
fn refusal_allowed(app: Option<u64>, action: &str, now: i64) -> bool {
    type Windows = HashMap<(Option<u64>, String), (i64, u32)>;
    static WINDOWS: OnceLock<Mutex<Windows>> = OnceLock::new();
    let Ok(mut w) = WINDOWS.get_or_init(|| Mutex::new(HashMap::new())).lock() else {
        return false;
    };
    if w.len() > 10_000 {
        w.clear();
    }
    let slot = w.entry((app, action.to_string())).or_insert((now, 0));
    if slot.0 != now {
        *slot = (now, 0);
    }
    slot.1 += 1;
    slot.1 <= REFUSALS_PER_SECOND
}

struct Routes {
    by_app: Mutex<HashMap<u64, Route>>,
}

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| Routes {
        by_app: Mutex::new(HashMap::new()),
    })
}

static NEXT_APP: AtomicU64 = AtomicU64::new(1);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Audit events lost because a queue was full (exposed as a metric).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// One application's registration: its id (for the request span) and its writer task; the
/// route is removed on drop.
pub struct AuditRoute {
    /// The id requests carry in their [`APP_SPAN`].
    pub app_id: u64,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl AuditRoute {
    /// Stops routing events here and waits (at most `grace`) for the queued ones to be
    /// written.
    pub async fn finish(mut self, grace: std::time::Duration) {
        unroute(self.app_id);
        if let Some(writer) = self.writer.take() {
            let _ = tokio::time::timeout(grace, writer).await;
        }
    }
}

fn unroute(app_id: u64) {
    if let Ok(mut m) = routes().by_app.lock() {
        m.remove(&app_id);
    }
}

impl Drop for AuditRoute {
    fn drop(&mut self) {
        unroute(self.app_id);
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }
}

/// Registers an application: its security events are appended to `store` by a writer task
/// (times from `clock`).
pub fn register(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> AuditRoute {
    let app_id = NEXT_APP.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
    if let Ok(mut m) = routes().by_app.lock() {
        m.insert(app_id, (tx, clock, store.clone()));
    }
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            // Let the requests that are ready run first: what they log joins this write.
            tokio::task::yield_now().await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            write(store.as_ref(), &batch).await;
            batch.clear();
        }
    });
    AuditRoute {
        app_id,
        writer: Some(writer),
    }
}

/// Queues `event` for application `app_id`'s writer, behind every event queued before it;
/// gives it back when there is no such application or its queue is full.
pub fn enqueue(app_id: u64, event: AuditEvent) -> Option<AuditEvent> {
    let Ok(by_app) = routes().by_app.lock() else {
        return Some(event);
    };
    match by_app.get(&app_id) {
        Some((tx, _, _)) => tx.try_send(event).err().map(|e| match e {
            mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
        }),
        None => Some(event),
    }
}

/// The pauses before each retry of a batch while the database is away (3 s in all).
const RETRY_PAUSES_MS: [u64; 4] = [200, 400, 800, 1600];

/// How long a node's shutdown waits for its queued events to be written: longer than a batch
/// riding out the whole retry schedule, so a database restarting as the node stops (a
/// rolling upgrade of both) costs no audit row that the retries would have saved.
pub const FINISH_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Queues a refusal recorded outside the tracing layer (the staff console's failed logins)
/// under the layer's rules for refusals: at most [`REFUSALS_PER_SECOND`] a second per action,
/// and dropped (counted) when the queue is full rather than written by the request, so a
/// flood of failed logins is not a database write per request.
pub fn enqueue_refusal(app_id: u64, event: AuditEvent) {
    if !refusal_allowed(Some(app_id), &event.action, event.at) || enqueue(app_id, event).is_some() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Appends events in one transaction, retrying while the database is away (a restart, a
/// failover). Any other refusal, or a database still away after the retries, and the events
/// are written one by one: one event the database refuses must not take the others with it.
async fn write(store: &dyn AuditStore, events: &[AuditEvent]) {
    let mut pauses = RETRY_PAUSES_MS.iter();
    loop {
        match store.append_audit_batch(events).await {
            Ok(()) => return,
            Err(e) if e.is_unavailable() => match pauses.next() {
                Some(ms) => tokio::time::sleep(std::time::Duration::from_millis(*ms)).await,
                None => break,
            },
            Err(_) => break,
        }
    }
    for event in events {
        if let Err(e) = store.append_audit(event).await {
            // Not on the security target: that would feed the audit trail itself.
            tracing::error!(error = %e, action = %event.action, subject = ?event.subject, "audit event not written");
        }
    }
}

/// The `tracing` layer that turns security events into audit rows.
#[derive(Debug, Default)]
pub struct AuditLayer;

/// The application id recorded on a request span.
struct AppId(u64);

#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: Vec<(&'static str, String)>,
    app_id: Option<u64>,
    /// [`IN_TRAIL`] recorded as the boolean `true`: only a bool skips the row, so a text field
    /// of that name (one that might quote a request) never keeps an event out of the trail.
    in_trail: bool,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.map
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == IN_TRAIL {
            self.in_trail = value;
        } else {
            self.map.push((field.name(), value.to_string()));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "app_id" {
            self.app_id = Some(value);
        } else {
            self.map.push((field.name(), value.to_string()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.map.push((field.name(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.map.push((field.name(), text));
        }
    }
}

/// Bounds a value taken from a log field (they may quote input), and replaces NUL, which
/// PostgreSQL refuses in text: a request must not be able to keep its event out of the trail.
fn bounded(s: &str) -> String {
    s.chars()
        .take(500)
        .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
        .collect()
}

impl Fields {
    /// The audit row of a security event: who (a staff member, a client, a PSU, or Bulwark),
    /// what (the log message), to what, why, and the request's reference.
    fn event(&self, at: i64) -> AuditEvent {
        let (actor_kind, actor_id) = if let Some(s) = self.get("staff") {
            ("Staff", s)
        } else if let Some(p) = self.get("psu") {
            ("PSU", p)
        } else if let Some(c) = self.get("client_id") {
            ("TPP", c)
        } else if let Some(u) = self.get("username") {
            // Staff log their refusals under `staff` (or off this target); a bare username
            // is a PSU's login attempt.
            ("PSU", u)
        } else {
            ("System", "bulwark")
        };
        let subject = self
            .get("consent_id")
            .or_else(|| self.get("subject"))
            .or_else(|| self.get("software_id"))
            .or_else(|| {
                (actor_kind != "TPP")
                    .then(|| self.get("client_id"))
                    .flatten()
            });
        let reason = match (self.get("reason"), self.get("error")) {
            (Some(r), Some(e)) => Some(format!("{r}: {e}")),
            (Some(r), None) => Some(r.to_owned()),
            (None, Some(e)) => Some(e.to_owned()),
            (None, None) => self.get("warning").map(str::to_owned),
        };
        let request = self
            .get("interaction_id")
            .or_else(|| self.get("reference"))
            .or_else(|| self.get("address"))
            .or_else(|| self.get("peer"));
        AuditEvent {
            seq: 0,
            at,
            actor_kind: actor_kind.into(),
            actor_id: bounded(actor_id),
            action: bounded(self.message.as_deref().unwrap_or("security event")),
            subject: subject.map(bounded),
            reason: reason.as_deref().map(bounded),
            request_id: request.map(bounded),
        }
    }
}

/// Whether the audit layer wants a call site: a security event (any level) or the request
/// span that names the application. Its filter, so that the layer does not switch on every
/// other call site of the process.
pub fn audited(meta: &tracing::Metadata<'_>) -> bool {
    meta.target() == SECURITY_TARGET || (meta.is_span() && meta.name() == APP_SPAN)
}

/// The audit filter: [`audited`] as a function pointer.
pub type AuditFilter = tracing_subscriber::filter::FilterFn<fn(&tracing::Metadata<'_>) -> bool>;

/// [`AuditLayer`] behind its filter, as [`layer`] returns it.
pub type Filtered<S> = tracing_subscriber::filter::Filtered<AuditLayer, AuditFilter, S>;

/// The audit layer as a process installs it: [`AuditLayer`] behind its filter
/// ([`audited`]). Without the filter the layer is interested in every call site, and each
/// disabled `debug!` of a dependency (sqlx's statement log, a connection pool's trace) is
/// built and dispatched on the hot paths for no one.
pub fn layer<S>() -> Filtered<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::Layer;
    AuditLayer.with_filter(tracing_subscriber::filter::FilterFn::new(
        audited as fn(&tracing::Metadata<'_>) -> bool,
    ))
}

impl<S> tracing_subscriber::Layer<S> for AuditLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != APP_SPAN {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(app), Some(span)) = (fields.app_id, ctx.span(id)) {
            span.extensions_mut().insert(AppId(app));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != SECURITY_TARGET {
            return;
        }
        let app = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<AppId>().map(|a| a.0))
        });
        let Ok(by_app) = routes().by_app.lock() else {
            return;
        };
        let route = match app {
            Some(id) => by_app.get(&id),
            // Outside a request (start-up checks, background tasks): the only application.
            None if by_app.len() == 1 => by_app.values().next(),
            None => None,
        };
        let Some((tx, clock, store)) = route else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.in_trail {
            // Its transaction appended its row (a deletion kept with its row or lost with it).
            return;
        }
        let audit = fields.event(clock.unix());
        let refusal = *event.metadata().level() <= tracing::Level::WARN;
        if refusal && !refusal_allowed(app, &audit.action, audit.at) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match tx.try_send(audit) {
            Ok(()) => {}
            // A state change (an INFO event: a consent, a registration) is never dropped: with
            // the queue full it is written by a task of its own.
            Err(mpsc::error::TrySendError::Full(audit)) if !refusal => {
                let store = store.clone();
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(async move { write(store.as_ref(), &[audit]).await });
                } else {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use bulwark_store::AuditQuery;
    use bulwark_store::testing::TestDb;

    fn event(action: &str) -> AuditEvent {
        AuditEvent {
            seq: 0,
            at: 1,
            actor_kind: "TPP".into(),
            actor_id: "client-1".into(),
            action: action.into(),
            subject: None,
            reason: None,
            request_id: None,
        }
    }

    #[test]
    fn op_6_audit_fields_are_bounded_and_carry_no_nul() {
        assert_eq!(bounded(&"x".repeat(600)).chars().count(), 500);
        assert_eq!(bounded("intent\0id"), "intent\u{FFFD}id");
    }

    /// OP-6 through the subscriber the process installs ([`layer`] behind its filter): a
    /// security event inside a request's application span reaches that application's trail,
    /// although the log's level (`warn`) leaves it out of the log; an event on another target
    /// does not.
    #[tokio::test]
    async fn op_6_security_events_reach_the_trail_through_the_filtered_layer_once() {
        let db = TestDb::sqlite();
        let store = Arc::new(db.migrated_store().await.unwrap());
        let route = register(store.clone(), Arc::new(bulwark_core::SystemClock));
        // The process's own subscriber (`bulwark serve`), its log at warn.
        let mut config = crate::config::Config::default();
        config.log.level = "warn".into();
        tracing::subscriber::with_default(crate::cli::subscriber(&config), || {
            let span =
                tracing::info_span!(target: "bulwark::app", "bulwark_app", app_id = route.app_id);
            let _entered = span.enter();
            tracing::info!(target: "bulwark::security", client_id = "tpp-1", "filtered layer event");
            tracing::info!(target: "bulwark_server::other", "not a security event");
            // Its transaction wrote its row: logged, not appended a second time.
            tracing::info!(target: "bulwark::security", client_id = "tpp-1", in_trail = true, "written by its transaction");
            tracing::info!(target: "bulwark::security", client_id = "tpp-1", in_trail = false, "not written by one");
            // Only the boolean skips: a text field of that name is appended.
            tracing::info!(target: "bulwark::security", client_id = "tpp-1", in_trail = "true", "text is no flag");
        });
        route.finish(std::time::Duration::from_secs(5)).await;
        let rows = store
            .list_audit(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let actions: Vec<_> = rows.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "text is no flag",
                "not written by one",
                "filtered layer event"
            ]
        );
        store.close().await;
    }

    /// PostgreSQL refuses NUL in text. A batch holding such an event fails as a whole; the
    /// writer then writes the events one by one, so the others still reach the trail.
    #[tokio::test]
    async fn op_6_one_refused_event_does_not_take_its_batch_with_it() {
        let Some(db) = TestDb::postgres().await.unwrap() else {
            return;
        };
        let store = db.migrated_store().await.unwrap();
        let mut refused = event("refused");
        refused.subject = Some("nul\0inside".into());
        let batch = [event("before"), refused, event("after")];
        assert!(store.append_audit_batch(&batch).await.is_err());
        write(&store, &batch).await;
        let rows = store
            .list_audit(&AuditQuery {
                limit: 10,
                oldest_first: true,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let actions: Vec<_> = rows.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["before", "after"]);
        store.close().await;
    }

    /// The trail in front of a database that refuses as a restarting one does, a number of
    /// times, then writes.
    struct Restarting {
        store: bulwark_store::SqlStore,
        refusals: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl AuditStore for Restarting {
        async fn append_audit(&self, e: &AuditEvent) -> Result<(), bulwark_store::StoreError> {
            self.store.append_audit(e).await
        }

        async fn append_audit_batch(
            &self,
            events: &[AuditEvent],
        ) -> Result<(), bulwark_store::StoreError> {
            let left = self.refusals.load(Ordering::SeqCst);
            if left > 0 {
                self.refusals.store(left - 1, Ordering::SeqCst);
                return Err(bulwark_store::StoreError::Unavailable("restarting".into()));
            }
            self.store.append_audit_batch(events).await
        }

        async fn list_audit(
            &self,
            q: &AuditQuery,
        ) -> Result<Vec<AuditEvent>, bulwark_store::StoreError> {
            self.store.list_audit(q).await
        }
    }

    /// OP-1 with OP-6: a node stopping while its database restarts waits for the queued event
    /// through the writer's whole retry schedule (written at the last attempt), so the row the
    /// retries save is not lost to the shutdown.
    #[tokio::test]
    async fn op_1_shutdown_waits_out_the_audit_writes_retries() {
        let db = TestDb::sqlite();
        let store = db.migrated_store().await.unwrap();
        let restarting = Arc::new(Restarting {
            store: store.clone(),
            refusals: std::sync::atomic::AtomicUsize::new(RETRY_PAUSES_MS.len()),
        });
        let route = register(restarting, Arc::new(bulwark_core::SystemClock));
        assert!(enqueue(route.app_id, event("while-restarting")).is_none());
        route.finish(FINISH_GRACE).await;
        let rows = store.list_audit(&AuditQuery::default()).await.unwrap();
        let actions: Vec<_> = rows.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["while-restarting"]);
        store.close().await;
    }
}
