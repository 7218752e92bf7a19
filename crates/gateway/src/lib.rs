//! The resource-request gateway (GW-1): a reverse proxy in front of the bank's APIs that
//! enforces every check a resource request needs before the API sees it, so a bank does not
//! write them in every API:
//!
//! - an access token this server issued (signature with the server's JWKS, fetched and cached,
//!   refetched for an unknown `kid`; `iss`, `aud`, `exp`), not revoked, of an active client,
//!   bound to the certificate of this connection (RFC 8705 3), of the kind the route needs;
//! - the certificate a valid QWAC (or `ob-directory` OBWAC) of the client's organisation, with
//!   the PSD2 role of the API; the route's scope;
//! - for PSU routes, the token's consent Authorised, granting the API's permissions, naming the
//!   account of an account-scoped path; a payment submission matching its consent.
//!
//! The decision (`policy`) reuses `resource::ResourceGuard` and `consent::ConsentService`
//! against the server's database. Consent status is read on every request (no staleness);
//! a "not revoked" answer about a token is trusted for `revocation_staleness_ms` (default
//! 1 s, `tokens`), a client's record for `client_cache_secs` (default 5 s). A payment
//! submission writes: it consumes its consent, so the gateway needs a writable database when
//! such a route is configured. The HTTP side (`app`, `proxy`) is a second shell on `web`.
//! What reaches the upstream is the request minus anything the caller sent under the
//! gateway's header names, plus the facts it established (`x-bulwark-*`).

pub mod app;
pub mod config;
pub mod policy;
pub mod proxy;
pub mod route;
pub mod tokens;

pub use app::Gateway;
pub use config::{GatewayConfig, RouteConfig};
