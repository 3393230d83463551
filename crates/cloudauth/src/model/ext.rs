//! The decoded `ExtFaceInfo` and `ExtIdInfo` values and what they nest.
//!
//! Every struct keeps keys it does not model in `extra`. None of them prints personal data in
//! `Debug`: OCR values, images, the video URL (a bearer credential for 15 minutes), the device
//! token and the predicted age and gender are shown as presence and length only.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::de;

/// `Debug` of an optional sensitive string: `None`, or `Some(<N bytes>)`.
pub(crate) struct Redacted<'a>(pub(crate) Option<&'a str>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(s) => write!(f, "Some(<{} bytes>)", s.len()),
        }
    }
}

/// `Debug` of an extra-keys map: the keys only.
pub(crate) struct Keys<'a>(pub(crate) &'a Map<String, Value>);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Liveness and face-comparison details (`Result.ExtFaceInfo`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtFaceInfo {
    /// `facePassed`: `Y` / `N`.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_passed: Option<String>,
    /// `faceComparisonScore`: 0 to 100 (default threshold 90).
    #[serde(
        default,
        deserialize_with = "de::lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_comparison_score: Option<f64>,
    /// `faceImg`: the captured face, Base64 (only with `IsReturnImage=Y`). Personal data.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_img: Option<String>,
    /// `faceAttack`: `Y` when a liveness attack was detected.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_attack: Option<String>,
    /// `faceOcclusion`: `Y` when the face was occluded.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_occlusion: Option<String>,
    /// `faceQuality`: 0 to 100.
    #[serde(
        default,
        deserialize_with = "de::lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_quality: Option<f64>,
    /// `docVideoUrl`: signed OSS URL of the evidence video (valid 15 minutes). A credential.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub doc_video_url: Option<String>,
    /// `faceAge`: predicted age (documented as a string; numbers are accepted). Personal data.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_age: Option<String>,
    /// `faceGender`: predicted gender, `M` / `F`. Personal data.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_gender: Option<String>,
    /// `authorityComparisonScore`: 0 to 100 against the authoritative source (PRC ID only).
    #[serde(
        default,
        deserialize_with = "de::lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub authority_comparison_score: Option<f64>,
    /// `faceAttackScore`: 0 to 100, likelihood of a fake-face attack.
    #[serde(
        default,
        deserialize_with = "de::lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub face_attack_score: Option<f64>,
    /// `guardRiskScore`: 0 to 100, device risk.
    #[serde(
        default,
        deserialize_with = "de::lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub guard_risk_score: Option<f64>,
    /// `deviceToken`: device-guard token (valid 7 days).
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_token: Option<String>,
    /// Keys not modelled above, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ExtFaceInfo {
    /// `facePassed` as a boolean (`Y` / `N`, any case); `None` when absent or other.
    pub fn face_passed(&self) -> Option<bool> {
        yes_no(self.face_passed.as_deref())
    }
}

impl fmt::Debug for ExtFaceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtFaceInfo")
            .field("face_passed", &self.face_passed)
            .field("face_comparison_score", &self.face_comparison_score)
            .field("face_img", &Redacted(self.face_img.as_deref()))
            .field("face_attack", &self.face_attack)
            .field("face_occlusion", &self.face_occlusion)
            .field("face_quality", &self.face_quality)
            .field("doc_video_url", &Redacted(self.doc_video_url.as_deref()))
            .field("face_age", &Redacted(self.face_age.as_deref()))
            .field("face_gender", &Redacted(self.face_gender.as_deref()))
            .field(
                "authority_comparison_score",
                &self.authority_comparison_score,
            )
            .field("face_attack_score", &self.face_attack_score)
            .field("guard_risk_score", &self.guard_risk_score)
            .field("device_token", &Redacted(self.device_token.as_deref()))
            .field("extra_keys", &Keys(&self.extra))
            .finish()
    }
}

/// Document OCR and anti-spoofing details (`Result.ExtIdInfo`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtIdInfo {
    /// `ocrIdPassed`: `Y` / `N`.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ocr_id_passed: Option<String>,
    /// `idImage`: the document's front, Base64 (only with `IsReturnImage=Y`). Personal data.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id_image: Option<String>,
    /// `idBackImage`: the document's back, Base64 (only with `IsReturnImage=Y`). Personal data.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id_back_image: Option<String>,
    /// `ocrIdInfo`: OCR fields of the front (object or JSON string; empty when OCR failed).
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ocr_id_info: Option<OcrIdInfo>,
    /// `ocrIdEditInfo`: OCR fields as edited by the user (`ShowOcrResult`).
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ocr_id_edit_info: Option<OcrIdInfo>,
    /// `ocrIdBackInfo`: OCR fields of the back.
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ocr_id_back_info: Option<OcrIdBackInfo>,
    /// `spoofInfo`: anti-spoofing result for the front (`IdSpoof=Y`).
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spoof_info: Option<SpoofInfo>,
    /// `spoofBackInfo`: anti-spoofing result for the back.
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spoof_back_info: Option<SpoofInfo>,
    /// Keys not modelled above, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ExtIdInfo {
    /// `ocrIdPassed` as a boolean (`Y` / `N`, any case); `None` when absent or other.
    pub fn ocr_id_passed(&self) -> Option<bool> {
        yes_no(self.ocr_id_passed.as_deref())
    }
}

impl fmt::Debug for ExtIdInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtIdInfo")
            .field("ocr_id_passed", &self.ocr_id_passed)
            .field("id_image", &Redacted(self.id_image.as_deref()))
            .field("id_back_image", &Redacted(self.id_back_image.as_deref()))
            .field("ocr_id_info", &self.ocr_id_info)
            .field("ocr_id_edit_info", &self.ocr_id_edit_info)
            .field("ocr_id_back_info", &self.ocr_id_back_info)
            .field("spoof_info", &self.spoof_info)
            .field("spoof_back_info", &self.spoof_back_info)
            .field("extra_keys", &Keys(&self.extra))
            .finish()
    }
}

/// Anti-spoofing result (`spoofInfo`, `spoofBackInfo`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpoofInfo {
    /// `spoofResult`: `Y` when a risk was detected.
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spoof_result: Option<String>,
    /// `spoofType`: `SCREEN_REMARK`, `PHOTO_COPY`, `TAMPER`, `SHORTCUT`, …
    #[serde(
        default,
        deserialize_with = "de::lenient_string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub spoof_type: Option<Vec<String>>,
    /// Keys not modelled above, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for SpoofInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpoofInfo")
            .field("spoof_result", &self.spoof_result)
            .field("spoof_type", &self.spoof_type)
            .field("extra_keys", &Keys(&self.extra))
            .finish()
    }
}

/// `Y` → true, `N` → false (any case), anything else → `None`.
pub(crate) fn yes_no(v: Option<&str>) -> Option<bool> {
    match v {
        Some(s) if s.eq_ignore_ascii_case("Y") => Some(true),
        Some(s) if s.eq_ignore_ascii_case("N") => Some(false),
        _ => None,
    }
}

/// Defines a struct of optional OCR strings (personal data) with an `extra` map, a `Debug`
/// that lists only which fields are present, and accessors by wire name.
macro_rules! ocr_struct {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// Every value is personal data: `Debug` prints only the names of present fields.
        #[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(
                    rename = $wire,
                    default,
                    deserialize_with = "de::lenient_string",
                    skip_serializing_if = "Option::is_none"
                )]
                pub $field: Option<String>,
            )*
            /// Keys not modelled above, as received.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }

        impl $name {
            /// Wire names of every modelled field, in declaration order.
            pub const FIELD_NAMES: &'static [&'static str] = &[$($wire),*];

            /// Every modelled field as `(wire name, value)`, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, Option<&str>)> {
                vec![$(($wire, self.$field.as_deref())),*]
            }

            /// Wire names of the present fields (modelled ones, then `extra` keys).
            pub fn present_fields(&self) -> Vec<&str> {
                self.fields()
                    .into_iter()
                    .filter(|(_, v)| v.is_some())
                    .map(|(k, _)| k)
                    .chain(self.extra.keys().map(String::as_str))
                    .collect()
            }

            /// Whether no field (modelled or extra) is present.
            pub fn is_empty(&self) -> bool {
                self.present_fields().is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("present", &self.present_fields())
                    .finish_non_exhaustive()
            }
        }
    };
}

ocr_struct! {
    /// OCR fields of a document's front (`ocrIdInfo`, `ocrIdEditInfo`): the union of the
    /// fields of all seven document types in the eKYC documentation.
    OcrIdInfo {
        /// `name` (HK ID, permits, PRC ID).
        name => "name",
        /// `englishName`: English or Pinyin name.
        english_name => "englishName",
        /// `nameCode`: Chinese commercial code (HK ID).
        name_code => "nameCode",
        /// `sex`: `M` / `F`.
        sex => "sex",
        /// `birthDate`.
        birth_date => "birthDate",
        /// `idNumber`: document number.
        id_number => "idNumber",
        /// `currentIssueDate`: date of registration (HK ID).
        current_issue_date => "currentIssueDate",
        /// `firstIssueDate`: month and year of first registration (HK ID).
        first_issue_date => "firstIssueDate",
        /// `isPermanent`: `Y` / `N` (HK ID).
        is_permanent => "isPermanent",
        /// `symbols`: symbol code (HK ID).
        symbols => "symbols",
        /// `issueDate` (permits, PRC ID).
        issue_date => "issueDate",
        /// `expiryDate` (permits, passport, Macao ID, PRC ID).
        expiry_date => "expiryDate",
        /// `placeOfIssue` (exit-entry permit, Taiwan residents permit).
        place_of_issue => "placeOfIssue",
        /// `originOfIssue`: issuing authority.
        origin_of_issue => "originOfIssue",
        /// `surname` (passport MRZ, Macao ID English).
        surname => "surname",
        /// `givenname` (passport MRZ, Macao ID English).
        givenname => "givenname",
        /// `passportNo` (passport).
        passport_no => "passportNo",
        /// `nationality`: 3-letter code (passport).
        nationality => "nationality",
        /// `countryCode`: issuing country, 3-letter code (passport).
        country_code => "countryCode",
        /// `surnameCN`: Chinese surname (Macao ID).
        surname_cn => "surnameCN",
        /// `givennameCN`: Chinese given name (Macao ID).
        givenname_cn => "givennameCN",
        /// `placeOfBirth`: place-of-birth code (Macao ID).
        place_of_birth => "placeOfBirth",
        /// `ethnicity` (PRC ID).
        ethnicity => "ethnicity",
        /// `address` (PRC ID).
        address => "address",
        /// `province` (PRC ID, reserved).
        province => "province",
        /// `city` (PRC ID, reserved).
        city => "city",
    }
}

ocr_struct! {
    /// OCR fields of a document's back (`ocrIdBackInfo`).
    OcrIdBackInfo {
        /// `originOfIssue`: issuing authority.
        origin_of_issue => "originOfIssue",
        /// `issueDate`.
        issue_date => "issueDate",
        /// `expireDate` (the spelling of the documentation's back-side example).
        expire_date => "expireDate",
        /// `expiryDate` (the front-side spelling, accepted here too).
        expiry_date => "expiryDate",
    }
}
