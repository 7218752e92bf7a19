//! CO-5: who may be a staff member: the usernames the console can name in its page URLs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bulwark_core::random::SequenceRng;
use bulwark_staff::{StaffError, StaffRole, add_staff};
use bulwark_store::StaffStore;
use bulwark_store::testing::TestDb;

const PASSWORD: &str = "a-long-enough-password";

/// `.` and `..` are path steps to a browser: the console's forms for such a member
/// (`/staff/members/../role`) would reach another URL, so no one is given such a name. Dots
/// within a name are fine.
#[tokio::test]
async fn co_5_a_username_of_dots_alone_is_refused() {
    let db = TestDb::sqlite();
    let store = db.migrated_store().await.expect("store");
    let rng = SequenceRng::default();
    for name in [".", "..", "..."] {
        let refused = add_staff(&store, &rng, name, PASSWORD, StaffRole::Admin, 100).await;
        assert!(
            matches!(refused, Err(StaffError::BadRequest(_))),
            "{name}: {refused:?}"
        );
        assert!(store.get_staff(name).await.unwrap().is_none(), "{name}");
    }
    for name in ["a.b", ".x", "x..", "j.doe@bank-1.example"] {
        add_staff(&store, &rng, name, PASSWORD, StaffRole::Viewer, 100)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}
