//! Meanings of `Result.SubCode` per product (the seeds' "ResultObject.SubCode" tables).

use super::Product;

/// `SubCode` meanings for eKYC (`*` rows only for PRC ID with the authoritative check).
const EKYC: &[(&str, &str)] = &[
    ("200", "verification passed"),
    (
        "201",
        "name and id number do not match the authoritative database",
    ),
    ("202", "identity not found in the authoritative database"),
    ("204", "live face does not match the document photo"),
    ("205", "liveness attack risk detected"),
    (
        "206",
        "business policy restriction: device or environment risk (safe mode)",
    ),
    (
        "207",
        "live face does not match the authoritative source photo",
    ),
    ("209", "authoritative comparison source error"),
    (
        "212",
        "document anti-spoofing risk (recapture, tampering or photocopy)",
    ),
];

/// `SubCode` meanings for ID OCR.
const ID_OCR: &[(&str, &str)] = &[
    ("200", "verification passed"),
    (
        "211",
        "document image quality too low or document incomplete",
    ),
    (
        "212",
        "document anti-spoofing risk (recapture, tampering or photocopy)",
    ),
    (
        "213",
        "expected document type not detected or not recognised",
    ),
];

/// `SubCode` meanings for face liveness.
const FACE_LIVENESS: &[(&str, &str)] = &[
    ("200", "verification passed"),
    ("204", "face comparison mismatch"),
    ("205", "liveness attack risk detected"),
    (
        "206",
        "business policy restriction: device or environment risk (safe mode)",
    ),
];

/// The short English meaning of `sub_code` for `product`, or `None` for an unknown code or
/// [`Product::Other`]. Leading and trailing spaces in `sub_code` are ignored.
pub fn sub_code_meaning(product: &Product, sub_code: &str) -> Option<&'static str> {
    let table = match product {
        Product::Ekyc => EKYC,
        Product::IdOcr => ID_OCR,
        Product::FaceLiveness => FACE_LIVENESS,
        Product::Other(_) => return None,
    };
    let sub_code = sub_code.trim();
    table
        .iter()
        .find(|(code, _)| *code == sub_code)
        .map(|(_, meaning)| *meaning)
}

/// Every `SubCode` documented for `product` (empty for [`Product::Other`]).
pub fn documented_sub_codes(product: &Product) -> Vec<&'static str> {
    match product {
        Product::Ekyc => EKYC,
        Product::IdOcr => ID_OCR,
        Product::FaceLiveness => FACE_LIVENESS,
        Product::Other(_) => &[],
    }
    .iter()
    .map(|(code, _)| *code)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_per_product() {
        assert_eq!(
            documented_sub_codes(&Product::Ekyc),
            [
                "200", "201", "202", "204", "205", "206", "207", "209", "212"
            ]
        );
        assert_eq!(
            documented_sub_codes(&Product::IdOcr),
            ["200", "211", "212", "213"]
        );
        assert_eq!(
            documented_sub_codes(&Product::FaceLiveness),
            ["200", "204", "205", "206"]
        );
        assert!(documented_sub_codes(&Product::Other("X".into())).is_empty());
    }

    #[test]
    fn meanings() {
        assert_eq!(
            sub_code_meaning(&Product::Ekyc, "200"),
            Some("verification passed")
        );
        assert_eq!(
            sub_code_meaning(&Product::Ekyc, "205"),
            Some("liveness attack risk detected")
        );
        assert!(
            sub_code_meaning(&Product::Ekyc, "201")
                .unwrap()
                .contains("authoritative")
        );
        assert!(
            sub_code_meaning(&Product::Ekyc, "212")
                .unwrap()
                .contains("spoofing")
        );
        assert!(
            sub_code_meaning(&Product::IdOcr, "211")
                .unwrap()
                .contains("quality")
        );
        assert!(
            sub_code_meaning(&Product::IdOcr, "213")
                .unwrap()
                .contains("document type")
        );
        assert_eq!(
            sub_code_meaning(&Product::FaceLiveness, " 204 "),
            Some("face comparison mismatch")
        );
        // Codes of one product are unknown to another.
        assert_eq!(sub_code_meaning(&Product::IdOcr, "205"), None);
        assert_eq!(sub_code_meaning(&Product::FaceLiveness, "212"), None);
        assert_eq!(sub_code_meaning(&Product::Ekyc, "211"), None);
        assert_eq!(sub_code_meaning(&Product::Ekyc, "999"), None);
        assert_eq!(
            sub_code_meaning(&Product::Other("eKYC_NDI".into()), "200"),
            None
        );
        for product in [Product::Ekyc, Product::IdOcr, Product::FaceLiveness] {
            for code in documented_sub_codes(&product) {
                let meaning = sub_code_meaning(&product, code).unwrap();
                assert!(!meaning.is_empty());
                assert_eq!(meaning, meaning.to_lowercase());
                assert!(!meaning.ends_with('.'));
            }
        }
    }
}
