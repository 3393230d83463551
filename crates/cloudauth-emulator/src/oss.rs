//! OSS V1 query-string signed URLs (`docVideoUrl`) and OSS-style XML errors.
//!
//! `Signature = urlencode(base64(HMAC-SHA1(secret, VERB \n Content-MD5 \n Content-Type \n
//! Expires \n CanonicalizedOSSHeaders CanonicalizedResource)))`, resource `/<bucket>/<object>`.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use cloudauth::sign::percent_encode;

/// The V1 string to sign.
///
/// `oss_headers` are the request's `x-oss-*` headers (any case); they are lowercased, sorted
/// and written `name:value\n`.
pub fn string_to_sign(
    verb: &str,
    content_md5: &str,
    content_type: &str,
    expires: &str,
    oss_headers: &[(String, String)],
    resource: &str,
) -> String {
    let mut headers: Vec<(String, String)> = oss_headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(k, _)| k.starts_with("x-oss-"))
        .collect();
    headers.sort();
    let mut out = format!("{verb}\n{content_md5}\n{content_type}\n{expires}\n");
    for (k, v) in headers {
        out.push_str(&k);
        out.push(':');
        out.push_str(&v);
        out.push('\n');
    }
    out.push_str(resource);
    out
}

/// `base64(HMAC-SHA1(secret, string_to_sign))` (not URL-encoded).
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac accepts any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A presigned GET URL: `<base>/<bucket>/<object>?Expires=..&OSSAccessKeyId=..&Signature=..`.
pub fn presigned_get_url(
    base: &str,
    bucket: &str,
    object: &str,
    access_key_id: &str,
    secret: &str,
    expires: i64,
) -> String {
    let resource = format!("/{bucket}/{object}");
    let signature = sign(
        secret,
        &string_to_sign("GET", "", "", &expires.to_string(), &[], &resource),
    );
    format!(
        "{}{resource}?Expires={expires}&OSSAccessKeyId={}&Signature={}",
        base.trim_end_matches('/'),
        percent_encode(access_key_id),
        percent_encode(&signature)
    )
}

/// An OSS request id: 24 uppercase hex digits.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..24].to_ascii_uppercase()
}

/// OSS time format in errors: `2025-02-03T02:53:25.000Z`.
pub fn oss_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Escapes text for XML element content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An OSS `<Error>` document: `Code`, `Message`, `RequestId`, `HostId`, then `extra`
/// elements in order.
pub fn error_xml(
    code: &str,
    message: &str,
    request_id: &str,
    host_id: &str,
    extra: &[(&str, String)],
) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n");
    let mut element = |name: &str, value: &str| {
        out.push_str("  <");
        out.push_str(name);
        out.push('>');
        out.push_str(&xml_escape(value));
        out.push_str("</");
        out.push_str(name);
        out.push_str(">\n");
    };
    element("Code", code);
    element("Message", message);
    element("RequestId", request_id);
    element("HostId", host_id);
    for (name, value) in extra {
        element(name, value);
    }
    out.push_str("</Error>\n");
    out
}

/// The `RecommendDoc` link for an OSS error code (`EC`).
pub fn recommend_doc(ec: &str) -> String {
    format!("https://api.aliyun.com/troubleshoot?q={ec}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference §6.3: the docVideoUrl example is a valid V1 signature for `testsecret`.
    #[test]
    fn reference_example_signature() {
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "1736930700",
            &[],
            "/example-bucket/evidence/hksb7ba1b28130d24e015d694361bee4.webm",
        );
        assert_eq!(
            sts,
            "GET\n\n\n1736930700\n/example-bucket/evidence/hksb7ba1b28130d24e015d694361bee4.webm"
        );
        assert_eq!(
            percent_encode(&sign("testsecret", &sts)),
            "rkOOj082hF4NXsXWidhrdR16OqU%3D"
        );
        let url = presigned_get_url(
            "https://example-bucket.oss-cn-hongkong.aliyuncs.com/",
            "example-bucket",
            "evidence/hksb7ba1b28130d24e015d694361bee4.webm",
            "testid",
            "testsecret",
            1736930700,
        );
        assert!(
            url.ends_with(
                "?Expires=1736930700&OSSAccessKeyId=testid&Signature=rkOOj082hF4NXsXWidhrdR16OqU%3D"
            ),
            "{url}"
        );
    }

    #[test]
    fn oss_headers_are_canonicalised() {
        let sts = string_to_sign(
            "GET",
            "md5",
            "text/plain",
            "1",
            &[
                ("X-OSS-Meta-B".into(), " 2 ".into()),
                ("x-oss-a".into(), "1".into()),
                ("Other".into(), "x".into()),
            ],
            "/b/o",
        );
        assert_eq!(
            sts,
            "GET\nmd5\ntext/plain\n1\nx-oss-a:1\nx-oss-meta-b:2\n/b/o"
        );
    }

    #[test]
    fn error_document_shape() {
        let xml = error_xml(
            "AccessDenied",
            "Request has expired.",
            "ABC",
            "h",
            &[("EC", "0002-00000069".into())],
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Request has expired.</Message>\n  <RequestId>ABC</RequestId>\n  <HostId>h</HostId>\n  <EC>0002-00000069</EC>\n</Error>\n"
        );
        assert_eq!(xml_escape("a<&>\"'"), "a&lt;&amp;&gt;&quot;&apos;");
        assert_eq!(request_id().len(), 24);
        assert_eq!(
            oss_time("2025-02-03T02:53:25Z".parse().unwrap()),
            "2025-02-03T02:53:25.000Z"
        );
    }
}
