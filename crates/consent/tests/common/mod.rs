//! Shared by the consent integration tests: a fresh database per case on SQLite and on
//! PostgreSQL (the store's `TestDb`), a real `SqlStore` behind the `ConsentService`, fixed
//! instants, PSD2 callers and OB request bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    missing_docs,
    unreachable_pub
)]

use std::sync::Arc;

use bulwark_certs::{Psd2Statement, PspRole, QcType, TppIdentity};
use bulwark_consent::{
    ActorKind, Caller, ConsentError, ConsentKind, ConsentService, ConsentStatus,
};
use bulwark_store::testing::TestDb;
use bulwark_store::{ConsentQuery, ConsentStore, SqlStore};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Declares one test per backend for an `async fn(Env)` case.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = bulwark_store::testing::TestDb::sqlite();
                    let store = super::open(&db).await;
                    super::$case(super::Env::new(store.clone())).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = bulwark_store::testing::TestDb::postgres().await.expect("PostgreSQL") else {
                        return;
                    };
                    let store = super::open(&db).await;
                    super::$case(super::Env::new(store.clone())).await;
                    store.close().await;
                }
            )*
        }
    };
}

pub async fn open(db: &TestDb) -> SqlStore {
    db.migrated_store().await.expect("store")
}

pub const T0: i64 = 1_790_000_000;

pub fn at(offset: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + offset).unwrap()
}

pub fn iso(offset: i64) -> String {
    bulwark_consent::format_datetime(at(offset))
}

pub struct Env {
    pub svc: ConsentService,
    pub store: SqlStore,
}

impl Env {
    pub fn new(store: SqlStore) -> Self {
        Self {
            svc: ConsentService::new(Arc::new(store.clone())),
            store,
        }
    }

    pub async fn stored(&self) -> usize {
        self.store
            .search_consents(&ConsentQuery {
                limit: 500,
                ..ConsentQuery::default()
            })
            .await
            .unwrap()
            .len()
    }

    pub async fn history(
        &self,
        id: &str,
    ) -> Vec<(Option<ConsentStatus>, ConsentStatus, ActorKind)> {
        self.svc
            .history(id)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.from, a.to, a.actor.kind))
            .collect()
    }

    pub async fn create(&self, caller: &Caller, kind: ConsentKind, body: &Value) -> String {
        let key = (kind == ConsentKind::DomesticPayment)
            .then(|| format!("key-{}", self.stored_len_hint()));
        self.svc
            .create(
                caller,
                kind,
                body.to_string().as_bytes(),
                key.as_deref(),
                at(0),
            )
            .await
            .unwrap()
            .consent
            .id
    }

    pub fn stored_len_hint(&self) -> String {
        bulwark_core::random::token(6)
    }

    /// An Authorised account-access consent for client-a.
    pub async fn authorised_aac(&self, expires: Option<i64>) -> String {
        let mut body = aac_body();
        match expires {
            Some(e) => body["Data"]["ExpirationDateTime"] = json!(iso(e)),
            None => {
                body["Data"]
                    .as_object_mut()
                    .unwrap()
                    .remove("ExpirationDateTime");
            }
        }
        let id = self
            .create(&caller("client-a", AISP), ConsentKind::AccountAccess, &body)
            .await;
        self.svc
            .authorise(&id, "psu-1", &["acc-1".into(), "acc-2".into()], at(10))
            .await
            .unwrap();
        id
    }
}

pub const AISP: &[PspRole] = &[PspRole::AccountInformation];
pub const PISP: &[PspRole] = &[PspRole::PaymentInitiation];
pub const CBPII: &[PspRole] = &[PspRole::CardIssuing];
pub const ALL_ROLES: &[PspRole] = &[
    PspRole::AccountInformation,
    PspRole::PaymentInitiation,
    PspRole::CardIssuing,
];

pub fn identity(roles: &[PspRole]) -> TppIdentity {
    TppIdentity {
        qc_compliance: true,
        qc_types: vec![QcType::Web],
        psd2: Some(Psd2Statement {
            roles: roles.to_vec(),
            nca_name: "Financial Conduct Authority".into(),
            nca_id: "GB-FCA".into(),
        }),
        organization_identifier: None,
        organization_name: Some("Example TPP Ltd".into()),
    }
}

pub fn caller(client: &str, roles: &[PspRole]) -> Caller {
    Caller::new(
        client,
        Some(identity(roles)),
        "openid accounts payments fundsconfirmations",
    )
}

pub fn aac_body() -> Value {
    json!({
        "Data": {
            "Permissions": ["ReadAccountsDetail", "ReadBalances", "ReadTransactionsBasic", "ReadTransactionsCredits"],
            "ExpirationDateTime": iso(86_400),
            "TransactionFromDateTime": iso(-86_400 * 90),
            "TransactionToDateTime": iso(0)
        },
        "Risk": {}
    })
}

pub fn pay_body(amount: &str, currency: &str) -> Value {
    json!({
        "Data": {"Initiation": {
            "InstructionIdentification": "ACME412",
            "EndToEndIdentification": "FRESCO.21302.GFX.20",
            "InstructedAmount": {"Amount": amount, "Currency": currency},
            "CreditorAccount": {
                "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                "Identification": "08080021325698",
                "Name": "ACME Inc"
            },
            "RemittanceInformation": {"Reference": "FRESCO-101"}
        }},
        "Risk": {"PaymentContextCode": "EcommerceGoods"}
    })
}

pub fn cof_body() -> Value {
    json!({"Data": {
        "ExpirationDateTime": iso(86_400),
        "DebtorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": "GB76LOYD30949301273801", "Name": "Andrea Smith"}
    }})
}

pub fn assert_ob(err: &ConsentError, status: u16, code: &str) {
    let ob = err.to_ob();
    assert_eq!(ob.status, status, "{err}");
    assert_eq!(ob.errors[0].error_code.as_str(), code, "{err}");
    let json = ob.to_json();
    assert!(json["Id"].is_string() && json["Code"].is_string() && json["Message"].is_string());
    assert_eq!(json["Errors"][0]["ErrorCode"], code);
}
