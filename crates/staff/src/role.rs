//! What a staff member may do.

use std::fmt;

/// A staff role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StaffRole {
    /// Reads consents, clients and the audit trail.
    Viewer,
    /// Also revokes consents and suspends or activates clients.
    Admin,
}

impl StaffRole {
    /// The stored and command-line form (`viewer`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Admin => "admin",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// True when the role may change consents and clients.
    pub fn can_act(self) -> bool {
        self == Self::Admin
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
