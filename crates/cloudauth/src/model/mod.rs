//! The `CheckResult` response, parsed losslessly, and the vocabulary around it.
//!
//! Parsing is lenient where the service is (see [`de`]): `Ext*` values may be JSON strings or
//! objects, numbers may be strings, and unknown keys are kept in each struct's `extra`. The
//! typed model is a convenience view; [`CheckResult::raw`] is the authoritative record.
//!
//! Serializing the model writes the `Ext*` values as decoded objects (not re-encoded strings)
//! and omits absent fields; deserializing that output gives back an equal model.

pub mod de;
mod ext;
pub mod subcode;

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use ext::{ExtFaceInfo, ExtIdInfo, OcrIdBackInfo, OcrIdInfo, SpoofInfo};
pub use subcode::sub_code_meaning;

use ext::{Keys, yes_no};

/// The `Code` of a successful response.
pub const SUCCESS_CODE: &str = "Success";

/// The response envelope: `RequestId`, `Code`, `Message`, `Result` (PascalCase on the wire).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckResultResponse {
    /// `RequestId` (also read from `requestId`).
    #[serde(
        default,
        alias = "requestId",
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    /// `Code`: `Success`, or an error code (also read from `code`).
    #[serde(
        default,
        alias = "code",
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    /// `Message` (also read from `message`).
    #[serde(
        default,
        alias = "message",
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<String>,
    /// `Result`, present on success.
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<CheckResultResult>,
    /// Keys not modelled above (`HostId`, `Recommend`, `AccessDeniedDetail`, …), as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CheckResultResponse {
    /// Whether `Code` is `Success`.
    pub fn is_success(&self) -> bool {
        self.code.as_deref() == Some(SUCCESS_CODE)
    }
}

impl fmt::Debug for CheckResultResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckResultResponse")
            .field("request_id", &self.request_id)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("result", &self.result)
            .field("extra_keys", &Keys(&self.extra))
            .finish()
    }
}

/// `Result`: the verdict and the decoded `Ext*` details.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckResultResult {
    /// `Passed`: `Y`, `N` (or the legacy `P`, pending).
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub passed: Option<String>,
    /// `SubCode`, e.g. `200` (see [`sub_code_meaning`]).
    #[serde(
        default,
        deserialize_with = "de::lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sub_code: Option<String>,
    /// `ExtFaceInfo`, decoded (eKYC and face liveness).
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext_face_info: Option<ExtFaceInfo>,
    /// `ExtIdInfo`, decoded (eKYC and ID OCR).
    #[serde(
        default,
        deserialize_with = "de::json_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext_id_info: Option<ExtIdInfo>,
    /// `EkycResult` (undocumented for CheckResult; decoded when it holds JSON).
    #[serde(
        default,
        deserialize_with = "de::json_value_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ekyc_result: Option<Value>,
    /// `ExtBasicInfo` (undocumented for CheckResult; decoded when it holds JSON).
    #[serde(
        default,
        deserialize_with = "de::json_value_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext_basic_info: Option<Value>,
    /// `ExtRiskInfo` (undocumented for CheckResult; decoded when it holds JSON).
    #[serde(
        default,
        deserialize_with = "de::json_value_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext_risk_info: Option<Value>,
    /// `ExtInfo` (extended information; decoded when it holds JSON).
    #[serde(
        default,
        deserialize_with = "de::json_value_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext_info: Option<Value>,
    /// `ExtSourceInfo` (authoritative-source scores; decoded when it holds JSON).
    #[serde(
        default,
        deserialize_with = "de::json_value_in_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext_source_info: Option<Value>,
    /// Keys not modelled above, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CheckResultResult {
    /// `Passed` as a boolean: `Y` → true, `N` → false (any case); `P`, other or absent → `None`.
    pub fn passed(&self) -> Option<bool> {
        yes_no(self.passed.as_deref())
    }
}

/// `Debug` of an opaque value that may hold personal data: presence only.
struct Presence<'a>(Option<&'a Value>);

impl fmt::Debug for Presence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(_) => f.write_str("Some(<redacted>)"),
        }
    }
}

impl fmt::Debug for CheckResultResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckResultResult")
            .field("passed", &self.passed)
            .field("sub_code", &self.sub_code)
            .field("ext_face_info", &self.ext_face_info)
            .field("ext_id_info", &self.ext_id_info)
            .field("ekyc_result", &Presence(self.ekyc_result.as_ref()))
            .field("ext_basic_info", &Presence(self.ext_basic_info.as_ref()))
            .field("ext_risk_info", &Presence(self.ext_risk_info.as_ref()))
            .field("ext_info", &Presence(self.ext_info.as_ref()))
            .field("ext_source_info", &Presence(self.ext_source_info.as_ref()))
            .field("extra_keys", &Keys(&self.extra))
            .finish()
    }
}

/// A successful `CheckResult` answer: the body byte for byte, the HTTP status, and the parse.
#[derive(Clone)]
pub struct CheckResult {
    /// The response body exactly as received: the authoritative record.
    pub raw: bytes::Bytes,
    /// The HTTP status (2xx).
    pub status: u16,
    /// The parsed body.
    pub response: CheckResultResponse,
}

impl fmt::Debug for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckResult")
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .field("status", &self.status)
            .field("response", &self.response)
            .finish()
    }
}

/// Whether an `Ext*` key names an image (`…Img` or `…Image`).
fn is_image_key(key: &str) -> bool {
    key.ends_with("Img") || key.ends_with("Image")
}

impl CheckResult {
    /// Parses `raw` (the body of a 2xx response). Errors are serde_json's, whose messages our
    /// deserializers keep free of values; callers should still prefer
    /// [`serde_json::Error::classify`], line and column over the message.
    pub fn parse(raw: bytes::Bytes, status: u16) -> Result<Self, serde_json::Error> {
        let response = serde_json::from_slice(&raw)?;
        Ok(CheckResult {
            raw,
            status,
            response,
        })
    }

    /// The `Result`, when present.
    pub fn result(&self) -> Option<&CheckResultResult> {
        self.response.result.as_ref()
    }

    /// `Result.Passed` as a boolean (see [`CheckResultResult::passed`]).
    pub fn passed(&self) -> Option<bool> {
        self.result().and_then(CheckResultResult::passed)
    }

    /// `Result.SubCode`.
    pub fn sub_code(&self) -> Option<&str> {
        self.result().and_then(|r| r.sub_code.as_deref())
    }

    /// `RequestId`.
    pub fn request_id(&self) -> Option<&str> {
        self.response.request_id.as_deref()
    }

    /// Every non-empty Base64 image, named by its wire key: `faceImg`, `idImage`,
    /// `idBackImage`, then any other string value in `ExtFaceInfo`'s and then `ExtIdInfo`'s
    /// unknown keys whose key ends in `Img` or `Image` (future image fields). Names borrow from
    /// `self` (the fixed ones are `'static`); an unknown key present in both `Ext*` values
    /// appears twice.
    pub fn images(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        let Some(result) = self.result() else {
            return out;
        };
        let known = [
            (
                "faceImg",
                result
                    .ext_face_info
                    .as_ref()
                    .and_then(|f| f.face_img.as_deref()),
            ),
            (
                "idImage",
                result
                    .ext_id_info
                    .as_ref()
                    .and_then(|i| i.id_image.as_deref()),
            ),
            (
                "idBackImage",
                result
                    .ext_id_info
                    .as_ref()
                    .and_then(|i| i.id_back_image.as_deref()),
            ),
        ];
        for (name, value) in known {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.push((name, v));
            }
        }
        let extras = result
            .ext_face_info
            .iter()
            .flat_map(|f| f.extra.iter())
            .chain(result.ext_id_info.iter().flat_map(|i| i.extra.iter()));
        for (key, value) in extras {
            if let Value::String(v) = value
                && is_image_key(key)
                && !v.is_empty()
            {
                out.push((key.as_str(), v.as_str()));
            }
        }
        out
    }

    /// `ExtFaceInfo.docVideoUrl`, when present and non-empty.
    pub fn doc_video_url(&self) -> Option<&str> {
        self.result()?
            .ext_face_info
            .as_ref()?
            .doc_video_url
            .as_deref()
            .filter(|u| !u.is_empty())
    }
}

/// Document type codes (`DocType` of `Initialize`, reference §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DocumentType {
    /// `00000001`: PRC resident identity card.
    PrcId,
    /// `00000006`: Hong Kong identity card, 2003 version.
    HkId2003,
    /// `00000008`: Hong Kong identity card, 2018 version.
    HkId2018,
    /// `00000007`: exit-entry permit for travelling to and from Hong Kong and Macao.
    ExitEntryPermit,
    /// `00000009`: mainland travel permit for Hong Kong and Macao residents.
    HkMacaoResidentsPermit,
    /// `00000012` (also read from `000000012`): mainland travel permit for Taiwan residents.
    TaiwanResidentsPermit,
    /// `01000000`: global e-passport (MRZ).
    EPassport,
    /// Any other code, as given (e.g. the eKYC_PRO codes `HKG01001`, `GLB03002`).
    Other(String),
}

impl DocumentType {
    /// The code, e.g. `00000006` (`Other` as given).
    pub fn code(&self) -> &str {
        match self {
            DocumentType::PrcId => "00000001",
            DocumentType::HkId2003 => "00000006",
            DocumentType::HkId2018 => "00000008",
            DocumentType::ExitEntryPermit => "00000007",
            DocumentType::HkMacaoResidentsPermit => "00000009",
            DocumentType::TaiwanResidentsPermit => "00000012",
            DocumentType::EPassport => "01000000",
            DocumentType::Other(code) => code,
        }
    }

    /// A short English description (`None` for `Other`).
    pub fn description(&self) -> Option<&'static str> {
        Some(match self {
            DocumentType::PrcId => "prc resident identity card",
            DocumentType::HkId2003 => "hong kong identity card (2003)",
            DocumentType::HkId2018 => "hong kong identity card (2018)",
            DocumentType::ExitEntryPermit => "exit-entry permit for hong kong and macao",
            DocumentType::HkMacaoResidentsPermit => {
                "mainland travel permit for hong kong and macao residents"
            }
            DocumentType::TaiwanResidentsPermit => "mainland travel permit for taiwan residents",
            DocumentType::EPassport => "e-passport",
            DocumentType::Other(_) => return None,
        })
    }
}

impl FromStr for DocumentType {
    type Err = Infallible;

    /// Maps the known codes (surrounding spaces ignored); anything else is `Other`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Ok(match s {
            "00000001" => DocumentType::PrcId,
            "00000006" => DocumentType::HkId2003,
            "00000008" => DocumentType::HkId2018,
            "00000007" => DocumentType::ExitEntryPermit,
            "00000009" => DocumentType::HkMacaoResidentsPermit,
            "00000012" | "000000012" => DocumentType::TaiwanResidentsPermit,
            "01000000" => DocumentType::EPassport,
            other => DocumentType::Other(other.to_owned()),
        })
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The verification product (`ProductCode` of `Initialize`), which decides the result's shape
/// and the `SubCode` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Product {
    /// `eKYC` (also `eKYC_PRO`, `eKYC_MIN`): face and document.
    Ekyc,
    /// `ID_OCR` (also `ID_OCR_PRO`, `ID_OCR_MIN`, `ID_OCR_MAX`): document only.
    IdOcr,
    /// `FACE_LIVENESS` (also `FACE_LIVENESS_PRO`, `FACE_LIVENESS_MIN`): face only.
    FaceLiveness,
    /// Any other product code, as given (e.g. `eKYC_NDI`, `FACE_VERIFY`).
    Other(String),
}

impl Product {
    /// The canonical product code: `eKYC`, `ID_OCR`, `FACE_LIVENESS`, or `Other` as given.
    pub fn code(&self) -> &str {
        match self {
            Product::Ekyc => "eKYC",
            Product::IdOcr => "ID_OCR",
            Product::FaceLiveness => "FACE_LIVENESS",
            Product::Other(code) => code,
        }
    }

    /// Whether results of this product carry `ExtFaceInfo` (`None` for `Other`).
    pub fn has_face(&self) -> Option<bool> {
        match self {
            Product::Ekyc | Product::FaceLiveness => Some(true),
            Product::IdOcr => Some(false),
            Product::Other(_) => None,
        }
    }

    /// Whether results of this product carry `ExtIdInfo` (`None` for `Other`).
    pub fn has_id(&self) -> Option<bool> {
        match self {
            Product::Ekyc | Product::IdOcr => Some(true),
            Product::FaceLiveness => Some(false),
            Product::Other(_) => None,
        }
    }
}

impl FromStr for Product {
    type Err = Infallible;

    /// Maps `ProductCode` spellings, ASCII case-insensitively: `eKYC`, `eKYC_PRO`, `eKYC_MIN`
    /// → `Ekyc`; `ID_OCR`, `ID_OCR_PRO`, `ID_OCR_MIN`, `ID_OCR_MAX` → `IdOcr`; `FACE_LIVENESS`,
    /// `FACE_LIVENESS_PRO`, `FACE_LIVENESS_MIN` → `FaceLiveness`; anything else → `Other`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        Ok(match upper.as_str() {
            "EKYC" | "EKYC_PRO" | "EKYC_MIN" => Product::Ekyc,
            "ID_OCR" | "ID_OCR_PRO" | "ID_OCR_MIN" | "ID_OCR_MAX" => Product::IdOcr,
            "FACE_LIVENESS" | "FACE_LIVENESS_PRO" | "FACE_LIVENESS_MIN" => Product::FaceLiveness,
            _ => Product::Other(s.to_owned()),
        })
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

macro_rules! serde_via_str {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                match s.parse::<$ty>() {
                    Ok(v) => Ok(v),
                    Err(never) => match never {},
                }
            }
        }
    };
}

serde_via_str!(DocumentType);
serde_via_str!(Product);

#[cfg(test)]
pub(crate) mod tests;
