//! `bulwark payments record` and `bulwark payments show` (GW-1): the operator's repair for a
//! payment the gateway could not record when the bank accepted it (its answer named no usable
//! id, or the database failed), and for a payment made before the gateway was put in front of
//! the bank. Until recorded, reads of such a payment through the gateway are refused (400 `UK.OBIE.Resource.NotFound`).

use anyhow::{anyhow, bail};
use bulwark_consent::submitted_payment::{is_recordable_payment_id, refuses_payment};
use bulwark_core::{Clock, SystemClock};
use bulwark_store::{
    AuditEvent, ConsentStore, ConsentTransition, FapiCustomer, OperatorRecord, SqlStore,
    SubmittedPayment,
};
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;

/// Who the audit trail names for what this command does.
const ACTOR: &str = "bulwark payments record";

/// The `payments` subcommands.
#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Record a payment the bank accepted as made under a domestic payment consent by the
    /// consent's client: reads of it through the gateway are then forwarded for that client
    /// only. A consent still Authorised is consumed (a consent pays once). Recording it again
    /// is harmless; a payment already recorded under another consent is refused (the first
    /// record stands), and so is a second payment for a consent unless `--second-payment`
    /// says the bank made one.
    Record {
        /// The payment id as the bank gave it (`Data.DomesticPaymentId`).
        #[arg(long)]
        payment_id: String,
        /// The consent it was made under (`Data.ConsentId`): a domestic payment consent its
        /// PSU authorised.
        #[arg(long)]
        consent_id: String,
        /// Record it although the consent already has a payment: the bank made a second one
        /// under it (its idempotency failed), and the TPP must be able to read it. The audit
        /// row says so.
        #[arg(long)]
        second_payment: bool,
    },
    /// Show the client and consent a payment is recorded for (exit 1 when it is not).
    Show {
        /// The payment id as the bank gave it.
        payment_id: String,
    },
}

/// Runs a `payments` subcommand, printing the record as JSON.
pub async fn run(config: Config, command: PaymentsCommand) -> anyhow::Result<()> {
    let store = crate::cli::open_store(&config).await?;
    let record = match command {
        PaymentsCommand::Record {
            payment_id,
            consent_id,
            second_payment,
        } => record(&store, &payment_id, &consent_id, second_payment).await?,
        PaymentsCommand::Show { payment_id } => store
            .payment_record(&payment_id)
            .await?
            .ok_or_else(|| anyhow!("payment {payment_id:?} is not recorded"))?,
    };
    let printed = json!({
        "payment_id": record.payment_id,
        "client_id": record.client_id,
        "consent_id": record.consent_id,
        "recorded_at": record.recorded_at,
    });
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(())
}

/// Records `payment_id` for the client of `consent_id`, after the checks the gateway makes
/// for a submission it forwarded: the id is usable and the consent is an authorised domestic
/// payment consent.
async fn record(
    store: &SqlStore,
    payment_id: &str,
    consent_id: &str,
    second_payment: bool,
) -> anyhow::Result<SubmittedPayment> {
    if !is_recordable_payment_id(payment_id) {
        bail!(
            "the payment id must be 1 to {} characters, none a control character",
            bulwark_consent::submitted_payment::MAX_PAYMENT_ID_LEN
        );
    }
    let consent = store
        .get_consent(consent_id)
        .await?
        .ok_or_else(|| anyhow!("no consent {consent_id:?}"))?;
    if let Some(why) = refuses_payment(&consent.kind, &consent.status) {
        bail!(
            "consent {consent_id:?} ({} {}) cannot have a payment recorded: {why}",
            consent.kind,
            consent.status
        );
    }
    let now = SystemClock.unix();
    // A payment was made under it: an Authorised consent (the payment went to the bank by
    // another way than the gateway) is consumed now, so the gateway forwards no second one.
    let consume = (consent.status == "Authorised").then(|| ConsentTransition {
        consent_id: consent_id.to_string(),
        from_status: "Authorised".into(),
        to_status: "Consumed".into(),
        at: now,
        psu_id: None,
        selected_accounts: None,
        actor_kind: "System".into(),
        actor_id: ACTOR.into(),
        reason: Some(format!("payment {payment_id} recorded by an operator")),
        customer: FapiCustomer::default(),
        grant_generation: None,
    });
    // OP-6: who may read a payment changed; the trail says so (no server runs this command,
    // so the row is written with the record).
    let audit = AuditEvent {
        seq: 0,
        at: now,
        actor_kind: "System".into(),
        actor_id: ACTOR.into(),
        action: "payment.record".into(),
        subject: Some(payment_id.to_string()),
        // The store adds "as a second payment (already: ...)" from what it reads under the
        // consent's lock.
        reason: Some(format!(
            "recorded for client {} under consent {consent_id}",
            consent.client_id
        )),
        request_id: None,
    };
    let payment = SubmittedPayment {
        payment_id: payment_id.to_string(),
        client_id: consent.client_id.clone(),
        consent_id: consent_id.to_string(),
        recorded_at: now,
    };
    // The consumption, the record and its audit row: all or nothing.
    match store
        .record_payment_by_operator(&payment, consume.as_ref(), second_payment, &audit)
        .await?
    {
        // Recorded as asked already: nothing changes, nothing is audited again.
        OperatorRecord::Recorded(stored) | OperatorRecord::AlreadyRecorded(stored) => Ok(stored),
        OperatorRecord::RecordedElsewhere(stored) => bail!(
            "payment {payment_id:?} is already recorded for client {:?} under consent {:?}; \
             the first record stands",
            stored.client_id,
            stored.consent_id
        ),
        OperatorRecord::ConsentChanged => {
            bail!("consent {consent_id:?} changed meanwhile; run the command again")
        }
        // One consent pays once: a second payment under it is recorded only when the operator
        // says the bank made one (`--second-payment`), never by mistake.
        OperatorRecord::ConsentHasPayment(first) => bail!(
            "consent {consent_id:?} already has payment {:?} recorded (one consent pays \
             once); if the bank made this one too, record it with --second-payment",
            first.join(", ")
        ),
    }
}
