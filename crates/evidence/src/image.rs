//! Images carried in a `CheckResult` (`faceImg`, `idImage`, `idBackImage`, ...): base64
//! decoding and content-type sniffing from the bytes themselves.

use base64::Engine as _;

/// An image format recognised from its leading bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// WebP (`RIFF....WEBP`).
    Webp,
}

impl ImageFormat {
    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// The file extension, without dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }
}

/// Recognises JPEG, PNG and WebP from their signatures.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// Why an image field could not be turned into an artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The field is not valid base64 (the position is reported, never the content).
    #[error("invalid base64 at byte {offset}")]
    InvalidBase64 {
        /// Byte offset of the first offending character.
        offset: usize,
    },
    /// The field decodes to no bytes.
    #[error("image is empty")]
    Empty,
}

/// Decodes a base64 image field.
///
/// Accepts the standard alphabet with or without padding, ignores ASCII whitespace (line
/// breaks inserted by some encoders) and an optional `data:<type>;base64,` prefix.
pub fn decode_base64(field: &str) -> Result<Vec<u8>, ImageError> {
    let payload = match field.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map_or(rest, |(_, data)| data),
        None => field,
    };
    let compact: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(&compact).map_err(|e| match e {
        base64::DecodeError::InvalidByte(offset, _)
        | base64::DecodeError::InvalidLastSymbol(offset, _) => ImageError::InvalidBase64 { offset },
        base64::DecodeError::InvalidLength(len) => ImageError::InvalidBase64 { offset: len },
        base64::DecodeError::InvalidPadding => ImageError::InvalidBase64 {
            offset: compact.len(),
        },
    })?;
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn sniffs_the_three_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0]), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageFormat::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageFormat::Webp));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVE"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(ImageFormat::Png.content_type(), "image/png");
        assert_eq!(ImageFormat::Jpeg.extension(), "jpg");
    }

    #[test]
    fn decodes_plain_wrapped_unpadded_and_data_urls() {
        let bytes = b"\x89PNG\r\n\x1a\nhello world!";
        let b64 = STANDARD.encode(bytes);
        assert_eq!(decode_base64(&b64).unwrap(), bytes);
        let wrapped = format!("{}\r\n{}", &b64[..8], &b64[8..]);
        assert_eq!(decode_base64(&wrapped).unwrap(), bytes);
        assert_eq!(decode_base64(b64.trim_end_matches('=')).unwrap(), bytes);
        assert_eq!(
            decode_base64(&format!("data:image/png;base64,{b64}")).unwrap(),
            bytes
        );
    }

    #[test]
    fn reports_invalid_base64_without_content() {
        let err = decode_base64("AAAA*AAA").unwrap_err();
        assert_eq!(err, ImageError::InvalidBase64 { offset: 4 });
        assert_eq!(err.to_string(), "invalid base64 at byte 4");
        assert!(matches!(
            decode_base64("A"),
            Err(ImageError::InvalidBase64 { .. })
        ));
        assert_eq!(decode_base64(""), Err(ImageError::Empty));
    }
}
