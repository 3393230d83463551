//! The `CheckResult` request: validated business parameters, sent in the query string.

use std::fmt;

/// Maximum length of `MerchantBizId` (the seeds: "up to 32 letters and digits").
pub const MERCHANT_BIZ_ID_MAX_LEN: usize = 32;
/// Maximum length accepted for `TransactionId` (observed ids are 32 characters).
pub const TRANSACTION_ID_MAX_LEN: usize = 64;

/// A request parameter named in an [`InvalidRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestField {
    /// `MerchantBizId`.
    MerchantBizId,
    /// `TransactionId`.
    TransactionId,
}

impl RequestField {
    /// The wire name of the parameter.
    pub const fn name(self) -> &'static str {
        match self {
            RequestField::MerchantBizId => "MerchantBizId",
            RequestField::TransactionId => "TransactionId",
        }
    }
}

impl fmt::Display for RequestField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A request parameter breaks a rule. Names the field and the rule, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// The parameter is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The offending parameter.
        field: RequestField,
    },
    /// The parameter is longer than allowed.
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// The offending parameter.
        field: RequestField,
        /// The maximum length.
        max: usize,
    },
    /// The parameter has a character outside its allowed set.
    #[error("{field} may only contain {allowed}")]
    Charset {
        /// The offending parameter.
        field: RequestField,
        /// The allowed set, in words.
        allowed: &'static str,
    },
}

impl InvalidRequest {
    /// The parameter that broke a rule.
    pub fn field(&self) -> RequestField {
        match *self {
            InvalidRequest::Empty { field }
            | InvalidRequest::TooLong { field, .. }
            | InvalidRequest::Charset { field, .. } => field,
        }
    }
}

/// A validated `CheckResult` request.
///
/// The ids are not personal data (logs carry the transaction id), so `Debug` is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResultRequest {
    merchant_biz_id: String,
    transaction_id: String,
    return_image: bool,
    extra_image_control_list: Option<String>,
    return_five_category_spoof_result: Option<String>,
}

fn validate(
    field: RequestField,
    value: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(u8) -> bool,
) -> Result<(), InvalidRequest> {
    if value.is_empty() {
        return Err(InvalidRequest::Empty { field });
    }
    if !value.bytes().all(ok) {
        return Err(InvalidRequest::Charset { field, allowed });
    }
    // All bytes are ASCII here, so the byte length is the character count.
    if value.len() > max {
        return Err(InvalidRequest::TooLong { field, max });
    }
    Ok(())
}

impl CheckResultRequest {
    /// A request for one transaction, without images.
    ///
    /// `merchant_biz_id`: 1 to 32 ASCII letters and digits. `transaction_id`: 1 to 64 of
    /// `A-Z a-z 0-9 _ -` (the id returned by `Initialize` and stored server side).
    pub fn new(
        merchant_biz_id: impl Into<String>,
        transaction_id: impl Into<String>,
    ) -> Result<Self, InvalidRequest> {
        let merchant_biz_id = merchant_biz_id.into();
        let transaction_id = transaction_id.into();
        validate(
            RequestField::MerchantBizId,
            &merchant_biz_id,
            MERCHANT_BIZ_ID_MAX_LEN,
            "ascii letters and digits",
            |b| b.is_ascii_alphanumeric(),
        )?;
        validate(
            RequestField::TransactionId,
            &transaction_id,
            TRANSACTION_ID_MAX_LEN,
            "ascii letters, digits, '_' and '-'",
            |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
        )?;
        Ok(CheckResultRequest {
            merchant_biz_id,
            transaction_id,
            return_image: false,
            extra_image_control_list: None,
            return_five_category_spoof_result: None,
        })
    }

    /// Whether to ask for the images (`IsReturnImage=Y`). Default: no.
    #[must_use]
    pub fn return_image(mut self, yes: bool) -> Self {
        self.return_image = yes;
        self
    }

    /// Sets `ExtraImageControlList` (newer SDKs; passed through as given).
    #[must_use]
    pub fn extra_image_control_list(mut self, value: impl Into<String>) -> Self {
        self.extra_image_control_list = Some(value.into());
        self
    }

    /// Sets `ReturnFiveCategorySpoofResult` (newer SDKs; passed through as given).
    #[must_use]
    pub fn return_five_category_spoof_result(mut self, value: impl Into<String>) -> Self {
        self.return_five_category_spoof_result = Some(value.into());
        self
    }

    /// The `MerchantBizId`.
    pub fn merchant_biz_id(&self) -> &str {
        &self.merchant_biz_id
    }

    /// The `TransactionId`.
    pub fn transaction_id(&self) -> &str {
        &self.transaction_id
    }

    /// Whether images are requested.
    pub fn is_return_image(&self) -> bool {
        self.return_image
    }

    /// The business parameters as sent in the query string (unencoded): `MerchantBizId`,
    /// `TransactionId`, `IsReturnImage` (`Y`/`N`), then the optional ones only when set.
    pub fn query_params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("MerchantBizId", self.merchant_biz_id.clone()),
            ("TransactionId", self.transaction_id.clone()),
            (
                "IsReturnImage",
                if self.return_image { "Y" } else { "N" }.to_owned(),
            ),
        ];
        if let Some(v) = &self.extra_image_control_list {
            params.push(("ExtraImageControlList", v.clone()));
        }
        if let Some(v) = &self.return_five_category_spoof_result {
            params.push(("ReturnFiveCategorySpoofResult", v.clone()));
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MBI: &str = "e0c34a77f5ac40a5aa5e6ed20c350001";
    const TID: &str = "hksb7ba1b28130d24e015d694361bee4";

    #[test]
    fn query_params_default_and_full() {
        let r = CheckResultRequest::new(MBI, TID).unwrap();
        assert_eq!(
            r.query_params(),
            vec![
                ("MerchantBizId", MBI.to_owned()),
                ("TransactionId", TID.to_owned()),
                ("IsReturnImage", "N".to_owned()),
            ]
        );
        let r = r
            .return_image(true)
            .extra_image_control_list("a,b".to_owned())
            .return_five_category_spoof_result("Y".to_owned());
        assert!(r.is_return_image());
        assert_eq!(
            r.query_params(),
            vec![
                ("MerchantBizId", MBI.to_owned()),
                ("TransactionId", TID.to_owned()),
                ("IsReturnImage", "Y".to_owned()),
                ("ExtraImageControlList", "a,b".to_owned()),
                ("ReturnFiveCategorySpoofResult", "Y".to_owned()),
            ]
        );
    }

    #[test]
    fn merchant_biz_id_rules() {
        assert!(CheckResultRequest::new("a", TID).is_ok());
        assert!(CheckResultRequest::new("A".repeat(32), TID).is_ok());
        assert_eq!(
            CheckResultRequest::new("A".repeat(33), TID),
            Err(InvalidRequest::TooLong {
                field: RequestField::MerchantBizId,
                max: 32
            })
        );
        assert_eq!(
            CheckResultRequest::new("", TID),
            Err(InvalidRequest::Empty {
                field: RequestField::MerchantBizId
            })
        );
        for bad in ["abc-def", "abc_def", "abc def", "abcé", "ab\n", "a*"] {
            let err = CheckResultRequest::new(bad, TID).unwrap_err();
            assert!(
                matches!(
                    err,
                    InvalidRequest::Charset {
                        field: RequestField::MerchantBizId,
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn transaction_id_rules() {
        assert!(CheckResultRequest::new(MBI, "a").is_ok());
        assert!(CheckResultRequest::new(MBI, "a_b-C9").is_ok());
        assert!(CheckResultRequest::new(MBI, "x".repeat(64)).is_ok());
        assert_eq!(
            CheckResultRequest::new(MBI, "x".repeat(65)),
            Err(InvalidRequest::TooLong {
                field: RequestField::TransactionId,
                max: 64
            })
        );
        assert_eq!(
            CheckResultRequest::new(MBI, ""),
            Err(InvalidRequest::Empty {
                field: RequestField::TransactionId
            })
        );
        for bad in ["a.b", "a/b", "a b", "a%20", "ü", "a+b", "a=b&c"] {
            let err = CheckResultRequest::new(MBI, bad).unwrap_err();
            assert_eq!(err.field(), RequestField::TransactionId, "{bad:?}");
            assert!(matches!(err, InvalidRequest::Charset { .. }), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let err = CheckResultRequest::new(MBI, "secret value!").unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "TransactionId may only contain ascii letters, digits, '_' and '-'"
        );
        assert!(!text.contains("secret"));
        let err = CheckResultRequest::new("x".repeat(40), TID).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MerchantBizId must be at most 32 characters"
        );
    }

    proptest! {
        #[test]
        fn valid_ids_are_accepted_and_need_no_encoding(
            mbi in "[A-Za-z0-9]{1,32}",
            tid in "[A-Za-z0-9_-]{1,64}",
        ) {
            let r = CheckResultRequest::new(mbi.clone(), tid.clone()).unwrap();
            let params = r.query_params();
            prop_assert_eq!(crate::sign::percent_encode(&params[0].1), mbi);
            prop_assert_eq!(crate::sign::percent_encode(&params[1].1), tid);
        }

        #[test]
        fn anything_outside_the_charset_is_rejected(
            prefix in "[a-z0-9]{0,10}",
            bad in "[^A-Za-z0-9_-]",
        ) {
            let tid = format!("{prefix}{bad}");
            prop_assert!(CheckResultRequest::new(MBI, tid).is_err());
        }
    }
}
