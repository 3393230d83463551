//! Fake but plausible OCR results per document type (field sets from the CheckResult pages).
//!
//! Values are chosen deterministically from a seed (the transaction id), so repeated
//! CheckResult calls for one verification return identical data, as the real service does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A document type the emulator can produce OCR fields for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// People's Republic of China resident identity card (`00000001`, `CHN01001`).
    PrcIdCard,
    /// Hong Kong identity card, 2003 (`00000006`, `HKG01001`) or 2018 (`00000008`, `HKG01002`).
    HkIdCard,
    /// Exit-entry permit for travelling to and from Hong Kong and Macao (`00000007`).
    ExitEntryPermit,
    /// Mainland travel permit for Hong Kong and Macao residents (`00000009`).
    MainlandPermitHkMacao,
    /// Mainland travel permit for Taiwan residents (`00000012`).
    MainlandPermitTaiwan,
    /// ICAO e-passport read from the MRZ (`01000000`, `GLB03002`).
    Passport,
    /// Macao resident identity card (`MAC01001`..`MAC01003`; no 8-digit code is documented).
    MacaoIdCard,
}

/// Every accepted document type code and what it is.
pub const DOC_TYPES: &[(&str, DocKind)] = &[
    ("00000001", DocKind::PrcIdCard),
    ("CHN01001", DocKind::PrcIdCard),
    ("00000006", DocKind::HkIdCard),
    ("HKG01001", DocKind::HkIdCard),
    ("00000008", DocKind::HkIdCard),
    ("HKG01002", DocKind::HkIdCard),
    ("00000007", DocKind::ExitEntryPermit),
    ("00000009", DocKind::MainlandPermitHkMacao),
    ("00000012", DocKind::MainlandPermitTaiwan),
    ("01000000", DocKind::Passport),
    ("GLB03002", DocKind::Passport),
    ("MAC01001", DocKind::MacaoIdCard),
    ("MAC01002", DocKind::MacaoIdCard),
    ("MAC01003", DocKind::MacaoIdCard),
];

/// The document kind of a document type code, if the emulator knows it.
pub fn doc_kind(code: &str) -> Option<DocKind> {
    DOC_TYPES.iter().find(|(c, _)| *c == code).map(|(_, k)| *k)
}

/// A small deterministic generator seeded from text.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_seed(seed: &str) -> Self {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(seed.as_bytes());
        Self(u64::from_le_bytes(d[8..16].try_into().expect("8 bytes")))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A score in `[lo, hi)` with two decimals.
    pub(crate) fn score(&mut self, lo: f64, hi: f64) -> f64 {
        let steps = ((hi - lo) * 100.0) as u64;
        lo + self.below(steps) as f64 / 100.0
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// The person an OCR result describes.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub sex: &'static str,
    surname_cn: &'static str,
    given_cn: &'static str,
    surname_en: &'static str,
    given_en: &'static str,
    birth: (u32, u32, u32),
}

const MALE: &[(&str, &str, &str, &str)] = &[
    ("陳", "大文", "CHAN", "TAI MAN"),
    ("李", "志明", "LI", "CHI MING"),
    ("王", "建國", "WONG", "KIN KWOK"),
    ("張", "偉", "CHEUNG", "WAI"),
];
const FEMALE: &[(&str, &str, &str, &str)] = &[
    ("陳", "美玲", "CHAN", "MEI LING"),
    ("黃", "嘉欣", "WONG", "KA YAN"),
    ("林", "小紅", "LAM", "SIU HUNG"),
    ("劉", "慧敏", "LAU", "WAI MAN"),
];

impl Person {
    pub(crate) fn generate(rng: &mut Rng) -> Self {
        let male = rng.below(2) == 0;
        let (s_cn, g_cn, s_en, g_en) = *rng.pick(if male { MALE } else { FEMALE });
        let birth = (
            1960 + rng.below(45) as u32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        );
        Self {
            sex: if male { "M" } else { "F" },
            surname_cn: s_cn,
            given_cn: g_cn,
            surname_en: s_en,
            given_en: g_en,
            birth,
        }
    }

    fn birth_date(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.birth.0, self.birth.1, self.birth.2
        )
    }

    fn name_cn(&self) -> String {
        format!("{}{}", self.surname_cn, self.given_cn)
    }

    /// Pinyin-style upper-case name, e.g. `LI SI`.
    fn name_pinyin(&self) -> String {
        format!("{} {}", self.surname_en, self.given_en.replace(' ', ""))
    }

    pub(crate) fn age_in(&self, year: i32) -> i32 {
        year - self.birth.0 as i32
    }
}

fn date(y: u32, m: u32, d: u32) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// An 18-digit PRC resident ID number with a valid ISO 7064 MOD 11-2 check character.
fn prc_id_number(rng: &mut Rng, p: &Person) -> String {
    let body = format!(
        "110105{:04}{:02}{:02}{}",
        p.birth.0,
        p.birth.1,
        p.birth.2,
        rng.digits(3)
    );
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// A Hong Kong identity card number `A123456(7)` with a valid check digit.
fn hkid_number(rng: &mut Rng) -> String {
    let letter = (b'A' + rng.below(26) as u8) as char;
    let digits = rng.digits(6);
    // Single-letter prefix: a leading space counts 36 with weight 9.
    let mut sum = 36 * 9 + (u32::from(letter as u8 - b'A') + 10) * 8;
    for (i, b) in digits.bytes().enumerate() {
        sum += u32::from(b - b'0') * (7 - i as u32);
    }
    let check = match (11 - sum % 11) % 11 {
        10 => 'A',
        n => char::from(b'0' + n as u8),
    };
    format!("{letter}{digits}({check})")
}

fn macao_id_number(rng: &mut Rng) -> String {
    format!("{}{}({})", 1 + rng.below(7), rng.digits(6), rng.digits(1))
}

/// The front-side OCR fields (`ocrIdInfo`) of `kind` for `person`.
pub(crate) fn front_fields(kind: DocKind, rng: &mut Rng, p: &Person) -> Map<String, Value> {
    let issue_year = 2015 + rng.below(9) as u32;
    let (im, id) = (1 + rng.below(12) as u32, 1 + rng.below(28) as u32);
    let issue = date(issue_year, im, id);
    let expiry = date(issue_year + 10, im, id);
    let v = match kind {
        DocKind::PrcIdCard => json!({
            "name": p.name_cn(),
            "sex": p.sex,
            "ethnicity": "汉",
            "birthDate": p.birth_date(),
            "idNumber": prc_id_number(rng, p),
            "address": "北京市朝阳区建国路88号",
            "province": "",
            "city": "",
            "originOfIssue": "北京市公安局朝阳分局",
            "issueDate": issue,
            "expiryDate": expiry,
        }),
        DocKind::HkIdCard => json!({
            "name": p.name_cn(),
            "englishName": format!("{}, {}", p.surname_en, title_case(p.given_en)),
            "nameCode": format!("{} {} {}", rng.digits(4), rng.digits(4), rng.digits(4)),
            "sex": p.sex,
            "birthDate": p.birth_date(),
            "idNumber": hkid_number(rng),
            "currentIssueDate": issue,
            "firstIssueDate": format!("{:02}-{:02}", 1 + rng.below(12), (p.birth.0 + 18) % 100),
            "isPermanent": "Y",
            "symbols": "***AZ",
        }),
        DocKind::ExitEntryPermit => json!({
            "name": p.name_cn(),
            "englishName": p.name_pinyin(),
            "sex": p.sex,
            "birthDate": p.birth_date(),
            "idNumber": format!("C{}", rng.digits(8)),
            "issueDate": issue,
            "expiryDate": expiry,
            "placeOfIssue": "广东",
            "originOfIssue": "Exit and Entry Administration of the Ministry of Public Security",
        }),
        DocKind::MainlandPermitHkMacao => json!({
            "name": p.name_cn(),
            "englishName": p.name_pinyin(),
            "sex": p.sex,
            "birthDate": p.birth_date(),
            "idNumber": format!("H{}", rng.digits(8)),
            "issueDate": issue,
            "expiryDate": expiry,
            "originOfIssue": "Exit and Entry Administration of the Ministry of Public Security",
        }),
        DocKind::MainlandPermitTaiwan => json!({
            "name": p.name_cn(),
            "englishName": p.name_pinyin(),
            "sex": p.sex,
            "birthDate": p.birth_date(),
            "idNumber": rng.digits(8),
            "issueDate": issue,
            "expiryDate": date(issue_year + 5, im, id),
            "originOfIssue": "Exit and Entry Administration of the Ministry of Public Security",
            "placeOfIssue": "福建",
        }),
        DocKind::Passport => {
            let country = *rng.pick(&["GBR", "CAN", "AUS", "SGP", "CHN"]);
            json!({
                "surname": p.surname_en,
                "givenname": p.given_en,
                "sex": p.sex,
                "birthDate": p.birth_date(),
                "passportNo": format!("{}{}", (b'A' + rng.below(26) as u8) as char, rng.digits(8)),
                "nationality": country,
                "expiryDate": expiry,
                "countryCode": country,
            })
        }
        DocKind::MacaoIdCard => json!({
            "surnameCN": p.surname_cn,
            "givennameCN": p.given_cn,
            "surname": p.surname_en,
            "givenname": p.given_en,
            "sex": p.sex,
            "birthDate": p.birth_date(),
            "idNumber": macao_id_number(rng),
            "expiryDate": expiry,
            "placeOfBirth": "AS",
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! object literal"),
    }
}

/// The back-side OCR fields (`ocrIdBackInfo`), shaped like the documented PRC ID back.
pub(crate) fn back_fields(kind: DocKind, rng: &mut Rng) -> Map<String, Value> {
    let y = 2015 + rng.below(9) as u32;
    let (m, d) = (1 + rng.below(12) as u32, 1 + rng.below(28) as u32);
    let origin = match kind {
        DocKind::PrcIdCard => "Tanghe County Public Security Bureau",
        DocKind::HkIdCard => "Immigration Department, Hong Kong",
        DocKind::MacaoIdCard => "Identification Services Bureau, Macao",
        _ => "Exit and Entry Administration of the Ministry of Public Security",
    };
    let mut map = Map::new();
    map.insert("originOfIssue".into(), origin.into());
    map.insert("issueDate".into(), format!("{y:04}{m:02}{d:02}").into());
    map.insert(
        "expireDate".into(),
        format!("{:04}{m:02}{d:02}", y + 10).into(),
    );
    map
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kind: DocKind) -> Vec<String> {
        let mut rng = Rng::from_seed("t");
        let p = Person::generate(&mut rng);
        front_fields(kind, &mut rng, &p).keys().cloned().collect()
    }

    #[test]
    fn field_sets_follow_the_documentation() {
        assert_eq!(
            keys(DocKind::HkIdCard),
            [
                "name",
                "englishName",
                "nameCode",
                "sex",
                "birthDate",
                "idNumber",
                "currentIssueDate",
                "firstIssueDate",
                "isPermanent",
                "symbols"
            ]
        );
        assert_eq!(
            keys(DocKind::Passport),
            [
                "surname",
                "givenname",
                "sex",
                "birthDate",
                "passportNo",
                "nationality",
                "expiryDate",
                "countryCode"
            ]
        );
        assert_eq!(
            keys(DocKind::MacaoIdCard)[..2],
            ["surnameCN", "givennameCN"]
        );
        assert!(keys(DocKind::PrcIdCard).contains(&"ethnicity".to_owned()));
        assert!(keys(DocKind::MainlandPermitTaiwan).contains(&"placeOfIssue".to_owned()));
        assert!(!keys(DocKind::MainlandPermitHkMacao).contains(&"placeOfIssue".to_owned()));
    }

    #[test]
    fn id_numbers_have_valid_check_characters() {
        let mut rng = Rng::from_seed("numbers");
        for _ in 0..50 {
            let p = Person::generate(&mut rng);
            let prc = prc_id_number(&mut rng, &p);
            assert_eq!(prc.len(), 18);
            let hk = hkid_number(&mut rng);
            assert_eq!(hk.len(), 10, "{hk}");
            assert!(hk.ends_with(')'));
        }
        // Known-valid HKID: A123456(3).
        let mut sum = 36 * 9 + 10 * 8;
        for (i, d) in [1u32, 2, 3, 4, 5, 6].iter().enumerate() {
            sum += d * (7 - i as u32);
        }
        assert_eq!((11 - sum % 11) % 11, 3);
    }

    #[test]
    fn deterministic_per_seed() {
        let gen_for = |seed: &str| {
            let mut rng = Rng::from_seed(seed);
            let p = Person::generate(&mut rng);
            front_fields(DocKind::HkIdCard, &mut rng, &p)
        };
        assert_eq!(gen_for("a"), gen_for("a"));
        assert!(doc_kind("00000008").is_some() && doc_kind("nope").is_none());
    }
}
