//! The JWS algorithms FAPI 1.0 Advanced 8.6 and FAPI 2.0 5.4 allow: PS256 and ES256, nothing else.

use std::fmt;

/// A FAPI-permitted JWS algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PSS with SHA-256 (RSA 2048 or larger).
    Ps256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
        }
    }

    /// Parses a JOSE name; anything but PS256 or ES256 (`none`, HS*, RS256, ...) is refused.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PS256" => Some(Self::Ps256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    /// Both algorithms, for discovery metadata.
    pub const ALL: [Alg; 2] = [Self::Ps256, Self::Es256];
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ps256_and_es256_parse() {
        assert_eq!(Alg::parse("PS256"), Some(Alg::Ps256));
        assert_eq!(Alg::parse("ES256"), Some(Alg::Es256));
        for bad in ["none", "HS256", "RS256", "es256", "EdDSA", ""] {
            assert_eq!(Alg::parse(bad), None, "{bad}");
        }
    }
}
