//! The competent-authority forms real software statements use, read into what an eIDAS QWAC's
//! organizationIdentifier (`PSD<CC>-<NCA>-<id>`, ETSI TS 119 495 5.2.1) must say.
//!
//! The UK Open Banking directory writes the NCA followed by the ISO 3166-1 alpha-3 country
//! (`"authority_id": "FCAGBR"`, `"registration_id": "730427"`); others write the PSD2
//! statement's nCAId (`GB-FCA`), a bare NCA with the country in
//! `authorisations[].member_state`, or the whole identifier (`PSDGB-FCA-730427`). A bare NCA
//! whose country cannot be established is refused: `FCA` alone could be any country's.

/// One acceptable (country, NCA, authorisation number) triple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorityRegistration {
    /// ISO 3166-1 alpha-2 country, upper case.
    pub country: String,
    /// NCA identifier, upper case.
    pub nca: String,
    /// The authorisation number.
    pub id: String,
}

/// EU/EEA member states and the UK: alpha-3 to alpha-2.
const ALPHA3: &[(&str, &str)] = &[
    ("AUT", "AT"),
    ("BEL", "BE"),
    ("BGR", "BG"),
    ("HRV", "HR"),
    ("CYP", "CY"),
    ("CZE", "CZ"),
    ("DNK", "DK"),
    ("EST", "EE"),
    ("FIN", "FI"),
    ("FRA", "FR"),
    ("DEU", "DE"),
    ("GRC", "GR"),
    ("HUN", "HU"),
    ("IRL", "IE"),
    ("ITA", "IT"),
    ("LVA", "LV"),
    ("LTU", "LT"),
    ("LUX", "LU"),
    ("MLT", "MT"),
    ("NLD", "NL"),
    ("POL", "PL"),
    ("PRT", "PT"),
    ("ROU", "RO"),
    ("SVK", "SK"),
    ("SVN", "SI"),
    ("ESP", "ES"),
    ("SWE", "SE"),
    ("ISL", "IS"),
    ("LIE", "LI"),
    ("NOR", "NO"),
    ("GBR", "GB"),
];

fn alpha2_of(code: &str) -> Option<String> {
    let up = code.trim().to_ascii_uppercase();
    if up.len() == 2 && ALPHA3.iter().any(|(_, a2)| *a2 == up) {
        return Some(up);
    }
    // Greece's PSD2 identifiers use EL as well as GR.
    if up == "EL" {
        return Some("GR".into());
    }
    ALPHA3
        .iter()
        .find(|(a3, _)| *a3 == up)
        .map(|(_, a2)| (*a2).to_string())
}

fn is_nca(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads an SSA's competent-authority claims. `Err` says why they name no usable registration.
pub fn parse_authority(
    authority_id: &str,
    registration_id: &str,
    member_states: &[String],
) -> Result<AuthorityRegistration, String> {
    let authority = authority_id.trim();
    let reg = registration_id.trim();
    // The whole identifier as registration_id: PSDGB-FCA-730427.
    if let Some(full) = parse_psd(reg) {
        return match parse_authority_only(authority, member_states) {
            Ok((country, nca)) if country != full.country || nca != full.nca => Err(format!(
                "registration_id {reg} names another authority than authority_id {authority}"
            )),
            _ => Ok(full),
        };
    }
    if reg.is_empty() {
        return Err("registration_id is empty".into());
    }
    let (country, nca) = parse_authority_only(authority, member_states)?;
    Ok(AuthorityRegistration {
        country,
        nca,
        id: reg.to_string(),
    })
}

/// `PSD<CC>-<NCA>-<id>`.
fn parse_psd(s: &str) -> Option<AuthorityRegistration> {
    let rest = s.strip_prefix("PSD").or_else(|| s.strip_prefix("psd"))?;
    let (cc, rest) = rest.split_once('-')?;
    let (nca, id) = rest.split_once('-')?;
    let country = alpha2_of(cc)?;
    (is_nca(nca) && !id.is_empty()).then(|| AuthorityRegistration {
        country,
        nca: nca.to_ascii_uppercase(),
        id: id.to_string(),
    })
}

/// The (country, NCA) an `authority_id` names, with `member_states` for a bare NCA.
fn parse_authority_only(
    authority: &str,
    member_states: &[String],
) -> Result<(String, String), String> {
    // PSDGB-FCA
    if let Some(rest) = authority.strip_prefix("PSD")
        && let Some((cc, nca)) = rest.split_once('-')
        && let Some(country) = alpha2_of(cc)
        && is_nca(nca)
    {
        return Ok((country, nca.to_ascii_uppercase()));
    }
    // GB-FCA (the PSD2 statement's nCAId form)
    if let Some((cc, nca)) = authority.split_once('-') {
        let country = alpha2_of(cc)
            .ok_or_else(|| format!("authority_id {authority}: unknown country {cc}"))?;
        if !is_nca(nca) {
            return Err(format!("authority_id {authority}: malformed NCA"));
        }
        return Ok((country, nca.to_ascii_uppercase()));
    }
    if !is_nca(authority) {
        return Err(format!("authority_id {authority:?} is malformed"));
    }
    let up = authority.to_ascii_uppercase();
    // FCAGBR: NCA followed by the alpha-3 country (the UK Open Banking directory's form).
    if up.len() > 3 {
        let (nca, a3) = up.split_at(up.len() - 3);
        if ALPHA3.iter().any(|(c, _)| *c == a3)
            && let Some(country) = alpha2_of(a3)
        {
            return Ok((country, nca.to_string()));
        }
    }
    // FCA with the country from the authorisations' member_state (one country only).
    let mut countries: Vec<String> = member_states.iter().filter_map(|m| alpha2_of(m)).collect();
    countries.sort();
    countries.dedup();
    match countries.as_slice() {
        [one] => Ok((one.clone(), up)),
        [] => Err(format!(
            "authority_id {authority} names no country and no authorisations[].member_state gives one"
        )),
        _ => Err(format!(
            "authority_id {authority} names no country and the member_states disagree"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reg(country: &str, nca: &str, id: &str) -> AuthorityRegistration {
        AuthorityRegistration {
            country: country.into(),
            nca: nca.into(),
            id: id.into(),
        }
    }

    #[test]
    fn hardening_ssa_authority_forms_of_real_directories() {
        let none: &[String] = &[];
        let gb = ["GB".to_string()];
        assert_eq!(
            parse_authority("FCAGBR", "730427", none).unwrap(),
            reg("GB", "FCA", "730427")
        );
        assert_eq!(
            parse_authority("GB-FCA", "730427", none).unwrap(),
            reg("GB", "FCA", "730427")
        );
        assert_eq!(
            parse_authority("FCA", "730427", &gb).unwrap(),
            reg("GB", "FCA", "730427")
        );
        assert_eq!(
            parse_authority("PSDGB-FCA", "730427", none).unwrap(),
            reg("GB", "FCA", "730427")
        );
        assert_eq!(
            parse_authority("FCAGBR", "PSDGB-FCA-730427", none).unwrap(),
            reg("GB", "FCA", "730427")
        );
        assert_eq!(
            parse_authority("BAFINDEU", "123", none).unwrap(),
            reg("DE", "BAFIN", "123")
        );
        assert_eq!(
            parse_authority("CBIIRL", "C1", none).unwrap(),
            reg("IE", "CBI", "C1")
        );
        assert_eq!(
            parse_authority("fcagbr", "730427", none).unwrap(),
            reg("GB", "FCA", "730427")
        );
        // A bare NCA with no country, with two, or an authority the full id contradicts.
        assert!(parse_authority("FCA", "730427", none).is_err());
        assert!(parse_authority("FCA", "730427", &["GB".into(), "IE".into()]).is_err());
        assert!(parse_authority("BAFINDEU", "PSDGB-FCA-730427", none).is_err());
        assert!(parse_authority("XX-FCA", "730427", none).is_err());
        assert!(parse_authority("GB-FCA", "", none).is_err());
        assert!(parse_authority("FCA GBR", "1", none).is_err());
        // A full id naming another NCA of the same country than authority_id.
        assert!(parse_authority("GB-PRA", "PSDGB-FCA-730427", none).is_err());
        // Country codes in any case, as directories write them.
        assert_eq!(
            parse_authority("FCA", "730427", &["gb".into()]).unwrap(),
            reg("GB", "FCA", "730427")
        );
        assert_eq!(
            parse_authority("gb-fca", "psdgb-fca-730427", none).unwrap(),
            reg("GB", "FCA", "730427")
        );
    }

    /// ETSI TS 119 495 5.2.1 writes Greece as EL (the EU's code) where ISO 3166 has GR: a
    /// Greek TPP's SSA names the same authority either way.
    #[test]
    fn hardening_greece_is_el_or_gr() {
        let none: &[String] = &[];
        for (authority, registration) in [
            ("EL-BOG", "12"),
            ("GR-BOG", "12"),
            ("BOGGRC", "12"),
            ("PSDEL-BOG", "12"),
            ("BOGGRC", "PSDEL-BOG-12"),
        ] {
            assert_eq!(
                parse_authority(authority, registration, none).unwrap(),
                reg("GR", "BOG", "12"),
                "{authority} {registration}"
            );
        }
        assert_eq!(
            parse_authority("BOG", "12", &["EL".into()]).unwrap(),
            reg("GR", "BOG", "12")
        );
    }
}
