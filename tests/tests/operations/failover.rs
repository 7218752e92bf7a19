//! OP-2 item 3: the primary stops and its synchronous streaming replica is promoted while two
//! nodes serve token requests; the nodes, configured with both servers
//! (`database.failover_urls`), move to the new primary within 10 s and nothing committed
//! before the failover is lost.

use std::time::Duration;

use crate::support::{CertHeader, Cluster, Load, Postgres, claimed_jtis, require, summary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_2_failover_to_a_promoted_replica_within_10_s_losing_nothing_committed() {
    if !require(&["postgres", "nginx"]) {
        return;
    }
    let _one = crate::support::exclusive().await;
    let primary = Postgres::start_primary();
    let replica = Postgres::start_replica(&primary);
    let failover = format!("[\"{}\"]", replica.url("bulwark"));
    let c = Cluster::start_on(primary, 2, CertHeader::Pem, |n| {
        n.set("BULWARK_DATABASE__FAILOVER_URLS", &failover);
    })
    .await;
    let load = Load::start(c.client.clone(), 16);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let failed_at = load.started.elapsed();
    c.pg.stop();
    let stopped = load.started.elapsed();
    replica.promote();
    let promoted_at = load.started.elapsed();
    eprintln!(
        "failover: primary stopped {failed_at:?}..{stopped:?}, replica promoted at {promoted_at:?}"
    );
    tokio::time::sleep(Duration::from_secs(14)).await;
    let outcomes = load.stop().await;

    for o in &outcomes {
        let ok = o.status == 200
            || (o.status == 503 && o.error.as_deref() == Some("temporarily_unavailable"));
        assert!(ok, "{o:?}; {}", summary(&outcomes));
    }
    let before: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == 200 && o.sent + o.latency < failed_at)
        .collect();
    assert!(
        before.len() > 100,
        "load before the failover: {}; primary log: {}",
        before.len(),
        c.pg.log()
    );
    let back = outcomes
        .iter()
        .filter(|o| o.status == 200 && o.sent > promoted_at)
        .map(|o| o.sent + o.latency)
        .min()
        .expect("tokens after the failover");
    assert!(
        back <= promoted_at + Duration::from_secs(10),
        "the nodes reached the new primary {:?} after the promotion",
        back.saturating_sub(promoted_at)
    );
    let late = outcomes
        .iter()
        .filter(|o| o.status != 200 && o.sent > back + Duration::from_secs(1))
        .count();
    assert_eq!(late, 0, "failures after the move: {}", summary(&outcomes));

    // Every token issued, before or after, has its assertion claimed on the new primary.
    let claimed = claimed_jtis(&replica);
    let issued: Vec<_> = outcomes.iter().filter(|o| o.status == 200).collect();
    let lost = issued.iter().filter(|o| !claimed.contains(&o.jti)).count();
    assert_eq!(lost, 0, "{lost} of {} committed claims lost", issued.len());
    eprintln!(
        "failover: {} tokens ({} before), back {:?} after the promotion; {}",
        issued.len(),
        before.len(),
        back.saturating_sub(promoted_at),
        summary(&outcomes)
    );
}
