//! Verification scenarios: what a CheckResult call for a transaction id returns.
//!
//! A [`VerificationSpec`] (from a scenario file, the admin API or Rust) describes one finished
//! (or not yet finished) verification; creating it yields a [`Verification`] with the generated
//! transaction id, timestamps and the evidence video's SHA-256.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::images::ImageSpec;
use crate::ocr::{self, DocKind, Person, Rng};

/// How long results are kept after the verification completed.
pub const RESULT_RETENTION: TimeDelta = TimeDelta::days(30);
/// How long the evidence video exists after the verification completed.
pub const VIDEO_RETENTION: TimeDelta = TimeDelta::minutes(30);
/// How long a `docVideoUrl` stays valid after the CheckResult call that issued it.
pub const VIDEO_URL_VALIDITY: TimeDelta = TimeDelta::minutes(15);

/// The ID Verification product (solution) that ran the verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Product {
    /// Face liveness plus document OCR (`ExtFaceInfo` and `ExtIdInfo`).
    #[default]
    #[serde(rename = "eKYC", alias = "EKYC", alias = "ekyc")]
    Ekyc,
    /// Document OCR only (`ExtIdInfo` only).
    #[serde(rename = "ID_OCR", alias = "id_ocr")]
    IdOcr,
    /// Face liveness only (`ExtFaceInfo` only).
    #[serde(rename = "FACE_LIVENESS", alias = "face_liveness")]
    FaceLiveness,
}

impl Product {
    /// The product code as written by the service (`eKYC`, `ID_OCR`, `FACE_LIVENESS`).
    pub fn code(self) -> &'static str {
        match self {
            Product::Ekyc => "eKYC",
            Product::IdOcr => "ID_OCR",
            Product::FaceLiveness => "FACE_LIVENESS",
        }
    }

    /// The SubCodes the product documents.
    pub fn sub_codes(self) -> &'static [u16] {
        match self {
            Product::Ekyc => &[200, 201, 202, 204, 205, 206, 207, 209, 212],
            Product::IdOcr => &[200, 211, 212, 213],
            Product::FaceLiveness => &[200, 204, 205, 206],
        }
    }

    /// The SubCode used for `passed = false` when none is given.
    pub fn default_failure(self) -> u16 {
        match self {
            Product::Ekyc | Product::FaceLiveness => 205,
            Product::IdOcr => 211,
        }
    }

    /// Whether results carry `ExtFaceInfo` (and so may have an evidence video).
    pub fn has_face(self) -> bool {
        matches!(self, Product::Ekyc | Product::FaceLiveness)
    }

    /// Whether results carry `ExtIdInfo`.
    pub fn has_document(self) -> bool {
        matches!(self, Product::Ekyc | Product::IdOcr)
    }

    /// The images captured by default.
    pub fn default_images(self) -> ImageSet {
        let face = Some(ImageSpec::jpeg(480, 640));
        let id = Some(ImageSpec::jpeg(856, 540));
        match self {
            Product::Ekyc => ImageSet {
                face,
                id,
                id_back: None,
            },
            Product::IdOcr => ImageSet {
                face: None,
                id,
                id_back: Some(ImageSpec::png(856, 540)),
            },
            Product::FaceLiveness => ImageSet {
                face,
                id: None,
                id_back: None,
            },
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The images a verification captured (returned as base64 only with `IsReturnImage=Y`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSet {
    /// `faceImg` (face products).
    pub face: Option<ImageSpec>,
    /// `idImage`, the document front (document products).
    pub id: Option<ImageSpec>,
    /// `idBackImage`, the document back; when present, `ocrIdBackInfo` and `spoofBackInfo`
    /// are returned too.
    pub id_back: Option<ImageSpec>,
}

/// The valid `spoofType` values.
pub const SPOOF_TYPES: &[&str] = &["SCREEN_REMARK", "PHOTO_COPY", "TAMPER", "SHORTCUT"];

/// A verification to create. Every field is optional; [`Default`] is a passed eKYC with a
/// Hong Kong ID card (2018), default images and no video, completed now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerificationSpec {
    /// The transaction id; generated (`hks` + 29 lowercase hex) when absent.
    pub transaction_id: Option<String>,
    /// The merchant business id; generated (32 lowercase hex) when absent.
    pub merchant_biz_id: Option<String>,
    /// eKYC (default), ID_OCR or FACE_LIVENESS.
    pub product: Product,
    /// Document type code (`00000008` by default for document products; see
    /// [`crate::ocr::DOC_TYPES`]). Ignored for FACE_LIVENESS.
    pub doc_type: Option<String>,
    /// Overall outcome (`Passed`); also accepts `"Y"`/`"N"`. Defaults from `sub_code`, or `true`.
    #[serde(deserialize_with = "de_opt_yes_no")]
    pub passed: Option<bool>,
    /// `SubCode` (`200` when passed; see [`Product::sub_codes`]); also accepts a string.
    #[serde(deserialize_with = "de_opt_sub_code")]
    pub sub_code: Option<u16>,
    /// `spoofType` values for SubCode 212 (default `["SCREEN_REMARK"]`).
    pub spoof_types: Option<Vec<String>>,
    /// Captured images; absent means the product's defaults ([`Product::default_images`]).
    pub images: Option<ImageSet>,
    /// Evidence video size in bytes; absent or 0 means no video (face products only).
    pub video_size: Option<u64>,
    /// Seed of the video bytes; defaults to the transaction id.
    pub video_seed: Option<String>,
    /// When the verification completed; defaults to `not_completed_until`, else now.
    pub completed_at: Option<DateTime<Utc>>,
    /// Alternative to `completed_at`: completed this long before creation (e.g. `"31m"`).
    #[serde(with = "humantime_serde")]
    pub completed_ago: Option<Duration>,
    /// CheckResult answers `ProcessNotCompleted` until this time.
    pub not_completed_until: Option<DateTime<Utc>>,
    /// Alternative to `not_completed_until`: not completed for this long after creation.
    #[serde(with = "humantime_serde")]
    pub not_completed_for: Option<Duration>,
    /// Hostile-input testing: the `docVideoUrl` CheckResult returns, verbatim (unsigned, any
    /// scheme or host), instead of the emulator's signed URL. Face products only; works with
    /// or without `video_size`.
    pub doc_video_url: Option<String>,
    /// Hostile-input testing: values set inside an `Ext*` JSON after everything else,
    /// keyed `<field>.<key>` (`"ExtFaceInfo.faceImg"`, `"ExtIdInfo.idImage"`); a string
    /// value is sent as is, so it may be malformed base64 or JSON text.
    pub ext_fields: BTreeMap<String, Value>,
    /// Hostile-input testing: whole `Ext*` strings sent verbatim instead of the generated
    /// JSON (`"ExtFaceInfo"`, `"ExtIdInfo"`, `"ExtBasicInfo"`), e.g. truncated JSON.
    pub ext_raw: BTreeMap<String, String>,
}

/// The `Ext*` fields [`VerificationSpec::ext_raw`] may replace.
pub const EXT_FIELDS: &[&str] = &["ExtFaceInfo", "ExtIdInfo", "ExtBasicInfo"];

impl VerificationSpec {
    /// A passed eKYC verification (HK ID card 2018).
    pub fn ekyc() -> Self {
        Self {
            product: Product::Ekyc,
            ..Self::default()
        }
    }

    /// A passed ID OCR verification (HK ID card 2018, front and back).
    pub fn id_ocr() -> Self {
        Self {
            product: Product::IdOcr,
            ..Self::default()
        }
    }

    /// A passed face liveness verification.
    pub fn face_liveness() -> Self {
        Self {
            product: Product::FaceLiveness,
            ..Self::default()
        }
    }

    /// Sets the outcome: `passed` with `sub_code`.
    pub fn with_outcome(mut self, passed: bool, sub_code: u16) -> Self {
        self.passed = Some(passed);
        self.sub_code = Some(sub_code);
        self
    }

    /// Sets a failed outcome with `sub_code`.
    pub fn failed(self, sub_code: u16) -> Self {
        self.with_outcome(false, sub_code)
    }

    /// Sets the transaction id.
    pub fn with_transaction_id(mut self, id: impl Into<String>) -> Self {
        self.transaction_id = Some(id.into());
        self
    }

    /// Sets the merchant business id.
    pub fn with_merchant_biz_id(mut self, id: impl Into<String>) -> Self {
        self.merchant_biz_id = Some(id.into());
        self
    }

    /// Sets the document type code.
    pub fn with_doc_type(mut self, code: impl Into<String>) -> Self {
        self.doc_type = Some(code.into());
        self
    }

    /// Adds an evidence video of `size` bytes.
    pub fn with_video(mut self, size: u64) -> Self {
        self.video_size = Some(size);
        self
    }

    /// Sets the captured images.
    pub fn with_images(mut self, images: ImageSet) -> Self {
        self.images = Some(images);
        self
    }

    /// Completed `ago` before creation.
    pub fn completed_ago(mut self, ago: Duration) -> Self {
        self.completed_ago = Some(ago);
        self
    }

    /// Not completed until `for_` after creation.
    pub fn not_completed_for(mut self, for_: Duration) -> Self {
        self.not_completed_for = Some(for_);
        self
    }

    /// Returns `url` verbatim as `docVideoUrl` (see [`VerificationSpec::doc_video_url`]).
    pub fn with_doc_video_url(mut self, url: impl Into<String>) -> Self {
        self.doc_video_url = Some(url.into());
        self
    }

    /// Sets `key` inside the `field` JSON (`"ExtFaceInfo"`, `"faceImg"`) to `value`.
    pub fn with_ext_field(mut self, field: &str, key: &str, value: impl Into<Value>) -> Self {
        self.ext_fields
            .insert(format!("{field}.{key}"), value.into());
        self
    }

    /// Sends `text` verbatim as the `field` string (`"ExtIdInfo"`).
    pub fn with_ext_raw(mut self, field: &str, text: impl Into<String>) -> Self {
        self.ext_raw.insert(field.to_owned(), text.into());
        self
    }
}

/// The evidence video of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Size in bytes.
    pub size: u64,
    /// Seed of the generated bytes ([`crate::video`]).
    pub seed: String,
    /// Object key in the bucket (`<transaction id>.webm`).
    pub object_key: String,
    /// SHA-256 of the whole video (hex in JSON).
    #[serde(with = "hex_array")]
    pub sha256: [u8; 32],
    /// When the video is deleted (30 minutes after completion).
    pub deleted_at: DateTime<Utc>,
}

/// A created verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Transaction id to call CheckResult with.
    pub transaction_id: String,
    /// Merchant business id.
    pub merchant_biz_id: String,
    /// The product.
    pub product: Product,
    /// Document type code (document products).
    pub doc_type: Option<String>,
    /// `Passed`.
    pub passed: bool,
    /// `SubCode`.
    pub sub_code: u16,
    /// Emulator time of creation.
    pub created_at: DateTime<Utc>,
    /// When the verification completed (CheckResult answers `ProcessNotCompleted` before).
    pub completed_at: DateTime<Utc>,
    /// When the result is deleted (`TransactionIdInvalid` from then on).
    pub result_expires_at: DateTime<Utc>,
    /// Captured images.
    pub images: ImageSet,
    /// The evidence video, if any.
    pub video: Option<VideoInfo>,
}

impl Verification {
    /// SHA-256 of the evidence video, if there is one.
    pub fn video_sha256(&self) -> Option<[u8; 32]> {
        self.video.as_ref().map(|v| v.sha256)
    }
}

/// Why a spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid verification spec: {0}")]
pub struct SpecError(pub String);

/// A verification with its precomputed response parts.
#[derive(Debug)]
pub(crate) struct Record {
    pub info: Verification,
    pub seq: u64,
    /// `ExtFaceInfo` without `docVideoUrl` and `faceImg`.
    pub face: Option<Map<String, Value>>,
    /// `ExtIdInfo` without `idImage` and `idBackImage`.
    pub id: Option<Map<String, Value>>,
    /// Whether document images are returned (OCR completed).
    pub id_images: bool,
    /// Verbatim `docVideoUrl` ([`VerificationSpec::doc_video_url`]).
    pub doc_video_url: Option<String>,
    /// `(field, key, value)` set inside the `Ext*` JSON last.
    pub ext_fields: Vec<(String, String, Value)>,
    /// Verbatim `Ext*` strings.
    pub ext_raw: BTreeMap<String, String>,
}

/// Checks a transaction id as CheckResult would (`InvalidParameter` otherwise).
pub fn valid_transaction_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a merchant business id: up to 32 letters and digits.
pub fn valid_merchant_biz_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn generated_transaction_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("hks{}", &hex[..29])
}

impl Record {
    pub(crate) fn build(
        spec: &VerificationSpec,
        now: DateTime<Utc>,
        seq: u64,
    ) -> Result<Self, SpecError> {
        let err = |m: String| Err(SpecError(m));
        let product = spec.product;
        let transaction_id = spec
            .transaction_id
            .clone()
            .unwrap_or_else(generated_transaction_id);
        if !valid_transaction_id(&transaction_id) {
            return err(format!(
                "transaction_id must be 1..=64 characters of [A-Za-z0-9_-], got {} characters",
                transaction_id.len()
            ));
        }
        let merchant_biz_id = spec
            .merchant_biz_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        if !valid_merchant_biz_id(&merchant_biz_id) {
            return err("merchant_biz_id must be 1..=32 letters and digits".into());
        }

        let (doc_type, kind) = if product.has_document() {
            let code = spec
                .doc_type
                .clone()
                .unwrap_or_else(|| "00000008".to_owned());
            let Some(kind) = ocr::doc_kind(&code) else {
                let known: Vec<&str> = ocr::DOC_TYPES.iter().map(|(c, _)| *c).collect();
                return err(format!(
                    "unknown doc_type {code:?}; known: {}",
                    known.join(", ")
                ));
            };
            (Some(code), Some(kind))
        } else {
            (None, None)
        };

        let sub_code = match (spec.passed, spec.sub_code) {
            (_, Some(code)) => code,
            (Some(false), None) => product.default_failure(),
            (_, None) => 200,
        };
        let passed = spec.passed.unwrap_or(sub_code == 200);
        if !product.sub_codes().contains(&sub_code) {
            return err(format!(
                "sub_code {sub_code} is not documented for {product}; use one of {:?}",
                product.sub_codes()
            ));
        }
        if passed != (sub_code == 200) {
            return err(format!("passed={passed} contradicts sub_code {sub_code}"));
        }
        if matches!(sub_code, 201 | 202 | 207 | 209) && kind != Some(DocKind::PrcIdCard) {
            return err(format!(
                "sub_code {sub_code} only occurs for PRC ID cards (doc_type 00000001) with the authority check"
            ));
        }
        let spoof_types = spec
            .spoof_types
            .clone()
            .unwrap_or_else(|| vec!["SCREEN_REMARK".into()]);
        if let Some(bad) = spoof_types
            .iter()
            .find(|t| !SPOOF_TYPES.contains(&t.as_str()))
        {
            return err(format!("unknown spoof type {bad:?}; use {SPOOF_TYPES:?}"));
        }

        let images = spec.images.unwrap_or_else(|| product.default_images());
        for (name, img, allowed) in [
            ("face", images.face, product.has_face()),
            ("id", images.id, product.has_document()),
            ("id_back", images.id_back, product.has_document()),
        ] {
            if let Some(img) = img {
                if !allowed {
                    return err(format!("{product} results carry no {name} image"));
                }
                img.validate()
                    .map_err(|e| SpecError(format!("{name} image: {e}")))?;
            }
        }

        let ago = |d: Option<Duration>| d.map(|d| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX));
        let not_completed_until = spec
            .not_completed_until
            .or_else(|| ago(spec.not_completed_for).map(|d| now + d));
        let completed_at = spec
            .completed_at
            .or_else(|| ago(spec.completed_ago).map(|d| now - d))
            .or(not_completed_until)
            .unwrap_or(now);
        let completed_at = match not_completed_until {
            Some(until) if until > completed_at => {
                if spec.completed_at.is_some() || spec.completed_ago.is_some() {
                    return err("not_completed_until is after completed_at".into());
                }
                until
            }
            _ => completed_at,
        };

        let video = match spec.video_size.filter(|&s| s > 0) {
            None => None,
            Some(_) if !product.has_face() => {
                return err(format!(
                    "{product} has no evidence video (face products only)"
                ));
            }
            Some(size) => {
                let seed = spec
                    .video_seed
                    .clone()
                    .unwrap_or_else(|| transaction_id.clone());
                Some(VideoInfo {
                    size,
                    sha256: crate::video::expected_sha256(&seed, size),
                    seed,
                    object_key: format!("{transaction_id}.webm"),
                    deleted_at: completed_at + VIDEO_RETENTION,
                })
            }
        };

        if spec.doc_video_url.is_some() && !product.has_face() {
            return err(format!(
                "{product} results carry no docVideoUrl (face products only)"
            ));
        }
        let mut ext_fields = Vec::new();
        for (path, value) in &spec.ext_fields {
            let field = match path.split_once('.') {
                Some((field @ "ExtFaceInfo", key)) if product.has_face() && !key.is_empty() => {
                    (field, key)
                }
                Some((field @ "ExtIdInfo", key)) if product.has_document() && !key.is_empty() => {
                    (field, key)
                }
                _ => {
                    return err(format!(
                        "ext_fields key {path:?} must be ExtFaceInfo.<key> or ExtIdInfo.<key> of a field {product} returns"
                    ));
                }
            };
            ext_fields.push((field.0.to_owned(), field.1.to_owned(), value.clone()));
        }
        if let Some(bad) = spec
            .ext_raw
            .keys()
            .find(|k| !EXT_FIELDS.contains(&k.as_str()))
        {
            return err(format!("ext_raw key {bad:?} must be one of {EXT_FIELDS:?}"));
        }

        let mut rng = Rng::from_seed(&transaction_id);
        let person = Person::generate(&mut rng);
        let face = product.has_face().then(|| {
            face_fields(
                product,
                sub_code,
                &mut rng,
                &person,
                kind,
                completed_at.year(),
            )
        });
        let ocr_completed = !matches!(sub_code, 211 | 213);
        let id = kind.map(|kind| {
            id_fields(
                kind,
                sub_code,
                ocr_completed,
                images.id_back.is_some(),
                &spoof_types,
                &mut rng,
                &person,
            )
        });

        Ok(Record {
            info: Verification {
                transaction_id,
                merchant_biz_id,
                product,
                doc_type,
                passed,
                sub_code,
                created_at: now,
                completed_at,
                result_expires_at: completed_at + RESULT_RETENTION,
                images,
                video,
            },
            seq,
            face,
            id,
            id_images: ocr_completed,
            doc_video_url: spec.doc_video_url.clone(),
            ext_fields,
            ext_raw: spec.ext_raw.clone(),
        })
    }
}

fn face_fields(
    product: Product,
    sub_code: u16,
    rng: &mut Rng,
    person: &Person,
    kind: Option<DocKind>,
    year: i32,
) -> Map<String, Value> {
    let face_passed = match product {
        Product::FaceLiveness => sub_code == 200,
        _ => !matches!(sub_code, 205 | 206),
    };
    let yn = |b: bool| if b { "Y" } else { "N" };
    let comparison = if sub_code == 204 {
        rng.score(30.0, 80.0)
    } else {
        rng.score(90.5, 99.99)
    };
    let attack_score = if sub_code == 205 {
        rng.score(85.0, 99.9)
    } else {
        rng.score(0.5, 20.0)
    };
    let guard = if sub_code == 206 {
        rng.score(88.0, 99.9)
    } else {
        rng.score(0.5, 30.0)
    };
    let mut m = Map::new();
    m.insert("facePassed".into(), yn(face_passed).into());
    m.insert("faceComparisonScore".into(), json!(comparison));
    m.insert("faceAttack".into(), yn(sub_code == 205).into());
    m.insert("faceOcclusion".into(), "N".into());
    m.insert("faceQuality".into(), json!(rng.score(80.0, 99.5)));
    m.insert(
        "faceAge".into(),
        person.age_in(year).max(18).to_string().into(),
    );
    m.insert("faceGender".into(), person.sex.into());
    m.insert("faceAttackScore".into(), json!(attack_score));
    m.insert("guardRiskScore".into(), json!(guard));
    if kind == Some(DocKind::PrcIdCard) {
        let authority = if sub_code == 207 {
            rng.score(20.0, 70.0)
        } else {
            rng.score(80.0, 99.9)
        };
        m.insert("authorityComparisonScore".into(), json!(authority));
    }
    m
}

fn spoof(risk: bool, types: &[String]) -> Value {
    if risk {
        json!({ "spoofResult": "Y", "spoofType": types })
    } else {
        json!({ "spoofResult": "N", "spoofType": [] })
    }
}

fn id_fields(
    kind: DocKind,
    sub_code: u16,
    ocr_completed: bool,
    has_back: bool,
    spoof_types: &[String],
    rng: &mut Rng,
    person: &Person,
) -> Map<String, Value> {
    let mut m = Map::new();
    let ocr_passed = !matches!(sub_code, 211..=213);
    m.insert(
        "ocrIdPassed".into(),
        if ocr_passed { "Y" } else { "N" }.into(),
    );
    let front = ocr::front_fields(kind, rng, person);
    let back = ocr::back_fields(kind, rng);
    if ocr_completed {
        m.insert("ocrIdInfo".into(), Value::Object(front));
    }
    m.insert("spoofInfo".into(), spoof(sub_code == 212, spoof_types));
    if has_back {
        if ocr_completed {
            m.insert("ocrIdBackInfo".into(), Value::Object(back));
        }
        m.insert("spoofBackInfo".into(), spoof(false, spoof_types));
    }
    m
}

/// The verifications known to the emulator.
#[derive(Debug, Default)]
pub(crate) struct Store {
    records: RwLock<HashMap<String, Arc<Record>>>,
}

impl Store {
    pub(crate) fn get(&self, transaction_id: &str) -> Option<Arc<Record>> {
        self.read().get(transaction_id).cloned()
    }

    /// Inserts `record`; `false` if the transaction id is taken.
    pub(crate) fn insert(&self, record: Record) -> bool {
        let mut map = self.records.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(&record.info.transaction_id) {
            return false;
        }
        map.insert(record.info.transaction_id.clone(), Arc::new(record));
        true
    }

    pub(crate) fn remove(&self, transaction_id: &str) -> bool {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(transaction_id)
            .is_some()
    }

    pub(crate) fn clear(&self) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) fn list(&self) -> Vec<Verification> {
        let map = self.read();
        let mut records: Vec<&Arc<Record>> = map.values().collect();
        records.sort_by_key(|r| r.seq);
        records.into_iter().map(|r| r.info.clone()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Record>>> {
        self.records.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn de_opt_yes_no<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum YesNo {
        Bool(bool),
        Text(String),
    }
    match Option::<YesNo>::deserialize(d)? {
        None => Ok(None),
        Some(YesNo::Bool(b)) => Ok(Some(b)),
        Some(YesNo::Text(t)) => match t.as_str() {
            "Y" | "y" | "true" => Ok(Some(true)),
            "N" | "n" | "false" => Ok(Some(false)),
            other => Err(serde::de::Error::custom(format!(
                "expected Y or N, got {other:?}"
            ))),
        },
    }
}

fn de_opt_sub_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Number(u16),
        Text(String),
    }
    match Option::<Code>::deserialize(d)? {
        None => Ok(None),
        Some(Code::Number(n)) => Ok(Some(n)),
        Some(Code::Text(t)) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("sub_code {t:?} is not a number"))),
    }
}

mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2025-01-15T08:30:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_are_a_passed_ekyc() {
        let r = Record::build(&VerificationSpec::default(), now(), 0).unwrap();
        assert_eq!(r.info.product, Product::Ekyc);
        assert!(r.info.passed);
        assert_eq!(r.info.sub_code, 200);
        assert_eq!(r.info.transaction_id.len(), 32);
        assert!(r.info.transaction_id.starts_with("hks"));
        assert!(
            r.info.transaction_id[3..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(r.info.merchant_biz_id.len(), 32);
        assert_eq!(r.info.completed_at, now());
        assert_eq!(r.info.result_expires_at, now() + TimeDelta::days(30));
        assert!(r.face.is_some() && r.id.is_some());
        assert_eq!(r.info.doc_type.as_deref(), Some("00000008"));
    }

    #[test]
    fn outcomes_are_validated() {
        let bad = |spec: VerificationSpec| Record::build(&spec, now(), 0).unwrap_err();
        bad(VerificationSpec::id_ocr().failed(205));
        bad(VerificationSpec::ekyc().with_outcome(true, 205));
        bad(VerificationSpec::ekyc().failed(201)); // HK ID: no authority check
        bad(VerificationSpec::id_ocr().with_video(10));
        bad(VerificationSpec::ekyc().with_doc_type("99999999"));
        bad(VerificationSpec::ekyc().with_transaction_id("has space"));
        bad(VerificationSpec::ekyc().with_merchant_biz_id("a".repeat(33)));
        let ok = Record::build(
            &VerificationSpec::ekyc()
                .with_doc_type("00000001")
                .failed(201),
            now(),
            0,
        );
        assert!(ok.is_ok());
        let failed = Record::build(
            &VerificationSpec {
                passed: Some(false),
                ..VerificationSpec::id_ocr()
            },
            now(),
            0,
        )
        .unwrap();
        assert_eq!(failed.info.sub_code, 211);
    }

    #[test]
    fn completion_times_resolve() {
        let spec = VerificationSpec::ekyc().not_completed_for(Duration::from_secs(600));
        let r = Record::build(&spec, now(), 0).unwrap();
        assert_eq!(r.info.completed_at, now() + TimeDelta::minutes(10));
        let spec = VerificationSpec::ekyc()
            .completed_ago(Duration::from_secs(31 * 60))
            .with_video(100);
        let r = Record::build(&spec, now(), 0).unwrap();
        assert_eq!(r.info.completed_at, now() - TimeDelta::minutes(31));
        let video = r.info.video.unwrap();
        assert_eq!(video.deleted_at, now() + TimeDelta::minutes(-1));
        assert_eq!(
            video.sha256,
            crate::video::expected_sha256(&r.info.transaction_id, 100)
        );
    }

    #[test]
    fn spoof_and_ocr_follow_the_sub_code() {
        let r = Record::build(&VerificationSpec::id_ocr().failed(212), now(), 0).unwrap();
        let id = r.id.unwrap();
        assert_eq!(id["ocrIdPassed"], "N");
        assert_eq!(id["spoofInfo"]["spoofResult"], "Y");
        assert_eq!(id["spoofInfo"]["spoofType"][0], "SCREEN_REMARK");
        assert!(id.contains_key("ocrIdInfo") && id.contains_key("ocrIdBackInfo"));
        let r = Record::build(&VerificationSpec::id_ocr().failed(213), now(), 0).unwrap();
        assert!(!r.id_images);
        assert!(!r.id.unwrap().contains_key("ocrIdInfo"));
        let r = Record::build(&VerificationSpec::ekyc().failed(205), now(), 0).unwrap();
        let face = r.face.unwrap();
        assert_eq!(face["facePassed"], "N");
        assert_eq!(face["faceAttack"], "Y");
    }

    #[test]
    fn spec_parses_from_toml_with_strings_or_numbers() {
        let spec: VerificationSpec = toml::from_str(
            "product = \"ID_OCR\"\npassed = \"N\"\nsub_code = \"213\"\ncompleted_ago = \"2h\"",
        )
        .unwrap();
        assert_eq!(spec.product, Product::IdOcr);
        assert_eq!(spec.passed, Some(false));
        assert_eq!(spec.sub_code, Some(213));
        assert_eq!(spec.completed_ago, Some(Duration::from_secs(7200)));
        let spec: VerificationSpec = toml::from_str("passed = true\nsub_code = 200").unwrap();
        assert_eq!((spec.passed, spec.sub_code), (Some(true), Some(200)));
    }
}
