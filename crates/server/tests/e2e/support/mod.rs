//! The one e2e support module every e2e file imports its helpers from: servers started on port 0
//! with a fresh data directory and database (`TestApp`, `Harness`, `Dcr`), the test PKI
//! (`TestPki`, `Identity`), clients and their calls (`PkjClient`, `introspect`, the consent APIs
//! in `consents`), HTTP servers a test stands up (`jwks_server`, `serve_json`, `StaticHttp`),
//! shared assertions, and `both_backends!` to run one case on SQLite and on PostgreSQL.

mod app;
mod assert;
mod clients;
pub mod conformance;
pub mod consents;
mod dcr;
pub mod gateway;
mod harness;
pub mod http;
pub mod journey;
mod pki;
pub mod process;
pub mod seal;
pub mod staff;

pub use app::{TestApp, bin, install_crypto, test_config};
pub use assert::{
    assert_code_unspent, assert_oauth_error, jwt_parts, open_id_token, valid_id_token,
};
pub use clients::{PkjClient, introspect};
pub use dcr::{Dcr, ORG_IDENTIFIER, SOFTWARE_ID};
pub use harness::{Harness, now};
pub use http::{StaticHttp, http_client, jwks_server, serve_json};
pub use pki::{Identity, TestPki, ob_directory_pki};

/// The issuer every test server is configured with.
pub const ISSUER: &str = "https://localhost:8443";
/// RFC 7523 `client_assertion_type`.
pub const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Status, headers and JSON body (Null when empty) of an answer.
pub type Resp = (u16, reqwest::header::HeaderMap, serde_json::Value);

/// Two `#[tokio::test]`s running one case `async fn(Harness)`: the first on a fresh SQLite
/// database (`Harness::start`), the second on a fresh PostgreSQL test database
/// (`Harness::start_postgres`). Without a reachable PostgreSQL the second prints that it skipped
/// and passes, except with `CI=true`, where it fails (`TestDb::postgres`). `tweak = |c| ...`
/// adjusts the `Config` of both; attributes (doc comments) go on both.
///
/// ```ignore
/// both_backends!(name, name_on_postgres => name_case);
/// both_backends!(name, name_on_postgres => name_case, tweak = |c| c.tokens.profile = p);
/// ```
macro_rules! both_backends {
    (
        $(#[$attr:meta])*
        $sqlite:ident, $postgres:ident => $case:ident, tweak = $tweak:expr $(,)?
    ) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $sqlite() {
            $case($crate::support::Harness::start($tweak).await).await;
        }

        $(#[$attr])*
        #[tokio::test]
        async fn $postgres() {
            let Some(db) = bulwark_store::testing::TestDb::postgres()
                .await
                .expect("PostgreSQL")
            else {
                return;
            };
            $case($crate::support::Harness::start_postgres(db.url.clone(), $tweak).await).await;
            drop(db);
        }
    };
    ($(#[$attr:meta])* $sqlite:ident, $postgres:ident => $case:ident $(,)?) => {
        $crate::support::both_backends!(
            $(#[$attr])* $sqlite, $postgres => $case, tweak = |_| {}
        );
    };
}
pub(crate) use both_backends;
