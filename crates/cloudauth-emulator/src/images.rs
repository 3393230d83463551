//! Generated, decodable JPEG and PNG images for `faceImg`, `idImage` and `idBackImage`.
//!
//! Images are synthetic patterns (gradients, a face-like oval, card-like bands) of the requested
//! size. Encoding a large JPEG takes milliseconds, so encoded images are cached per
//! (kind, format, size): bursts of thousands of CheckResult calls reuse the same base64 text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Largest accepted width or height.
pub const MAX_DIMENSION: u32 = 4096;

/// Entries kept in an [`ImageCache`] before it is emptied.
const CACHE_LIMIT: usize = 64;

/// The encoding of a generated image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// JPEG (starts `FF D8 FF`).
    Jpeg,
    /// PNG (starts `89 50 4E 47 0D 0A 1A 0A`).
    Png,
}

/// One image: its format and dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// JPEG or PNG.
    pub format: ImageFormat,
    /// Width in pixels (1..=4096).
    pub width: u32,
    /// Height in pixels (1..=4096).
    pub height: u32,
}

impl ImageSpec {
    /// A JPEG of `width` × `height`.
    pub fn jpeg(width: u32, height: u32) -> Self {
        Self {
            format: ImageFormat::Jpeg,
            width,
            height,
        }
    }

    /// A PNG of `width` × `height`.
    pub fn png(width: u32, height: u32) -> Self {
        Self {
            format: ImageFormat::Png,
            width,
            height,
        }
    }

    /// Checks the dimensions.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |d: u32| (1..=MAX_DIMENSION).contains(&d);
        if ok(self.width) && ok(self.height) {
            Ok(())
        } else {
            Err(format!(
                "image dimensions {}x{} out of range 1..={MAX_DIMENSION}",
                self.width, self.height
            ))
        }
    }
}

/// What an image shows (changes the pattern, so the three images of a verification differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// The captured face (`faceImg`).
    Face,
    /// The front of the document (`idImage`).
    IdFront,
    /// The back of the document (`idBackImage`).
    IdBack,
}

fn pixels(kind: ImageKind, w: u32, h: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    let (wf, hf) = (f64::from(w.max(2) - 1), f64::from(h.max(2) - 1));
    for y in 0..h {
        let fy = f64::from(y) / hf;
        for x in 0..w {
            let fx = f64::from(x) / wf;
            let (r, g, b) = match kind {
                ImageKind::Face => {
                    let (dx, dy) = ((fx - 0.5) / 0.32, (fy - 0.45) / 0.38);
                    if dx * dx + dy * dy <= 1.0 {
                        (224.0 - 40.0 * fy, 180.0 - 30.0 * fy, 150.0 - 20.0 * fx)
                    } else {
                        (60.0 + 120.0 * fx, 90.0 + 80.0 * fy, 160.0)
                    }
                }
                ImageKind::IdFront => {
                    let band = if fy < 0.18 { 60.0 } else { 0.0 };
                    let photo = fx > 0.68 && fx < 0.94 && fy > 0.3 && fy < 0.85;
                    if photo {
                        (150.0, 150.0 + 40.0 * fy, 170.0)
                    } else {
                        (200.0 - band, 220.0 - 60.0 * fx, 235.0 - 40.0 * fy)
                    }
                }
                ImageKind::IdBack => {
                    let stripe = if (x / 8 + y / 8) % 2 == 0 { 25.0 } else { 0.0 };
                    (
                        180.0 + stripe,
                        200.0 - 50.0 * fy,
                        190.0 + 40.0 * fx - stripe,
                    )
                }
            };
            data.extend_from_slice(&[r as u8, g as u8, b as u8]);
        }
    }
    data
}

/// Encodes a new image of `kind` as `spec` (raw JPEG or PNG bytes).
pub fn generate(kind: ImageKind, spec: ImageSpec) -> Result<Vec<u8>, String> {
    spec.validate()?;
    let data = pixels(kind, spec.width, spec.height);
    let mut out = Vec::new();
    match spec.format {
        ImageFormat::Jpeg => {
            let w = u16::try_from(spec.width).map_err(|e| e.to_string())?;
            let h = u16::try_from(spec.height).map_err(|e| e.to_string())?;
            jpeg_encoder::Encoder::new(&mut out, 85)
                .encode(&data, w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| format!("jpeg encoding failed: {e}"))?;
        }
        ImageFormat::Png => {
            let mut encoder = png::Encoder::new(&mut out, spec.width, spec.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder
                .write_header()
                .map_err(|e| format!("png header: {e}"))?;
            writer
                .write_image_data(&data)
                .map_err(|e| format!("png encoding failed: {e}"))?;
            writer
                .finish()
                .map_err(|e| format!("png encoding failed: {e}"))?;
        }
    }
    Ok(out)
}

/// Cache of base64-encoded generated images, keyed by (kind, spec).
#[derive(Debug, Default)]
pub struct ImageCache {
    entries: Mutex<HashMap<(ImageKind, ImageSpec), Arc<str>>>,
}

impl ImageCache {
    /// The base64 text of the image `(kind, spec)`, generated on first use.
    pub fn base64(&self, kind: ImageKind, spec: ImageSpec) -> Result<Arc<str>, String> {
        let key = (kind, spec);
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        // Encode outside the lock: concurrent first uses may both encode, which is harmless.
        let encoded: Arc<str> = base64::engine::general_purpose::STANDARD
            .encode(generate(kind, spec)?)
            .into();
        let mut entries = self.lock();
        if entries.len() >= CACHE_LIMIT {
            entries.clear();
        }
        Ok(entries.entry(key).or_insert(encoded).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ImageKind, ImageSpec), Arc<str>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_and_png_have_their_signatures() {
        let jpeg = generate(ImageKind::Face, ImageSpec::jpeg(64, 48)).unwrap();
        assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        let png = generate(ImageKind::IdBack, ImageSpec::png(33, 21)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR carries the dimensions.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 33);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 21);
    }

    #[test]
    fn dimensions_are_validated() {
        assert!(generate(ImageKind::Face, ImageSpec::jpeg(0, 10)).is_err());
        assert!(generate(ImageKind::Face, ImageSpec::png(10, MAX_DIMENSION + 1)).is_err());
        assert!(generate(ImageKind::IdFront, ImageSpec::jpeg(1, 1)).is_ok());
    }

    #[test]
    fn cache_returns_the_same_text() {
        let cache = ImageCache::default();
        let a = cache
            .base64(ImageKind::IdFront, ImageSpec::jpeg(40, 30))
            .unwrap();
        let b = cache
            .base64(ImageKind::IdFront, ImageSpec::jpeg(40, 30))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache
            .base64(ImageKind::IdBack, ImageSpec::jpeg(40, 30))
            .unwrap();
        assert_ne!(a, c);
    }
}
