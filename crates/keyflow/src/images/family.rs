//! Image model families: which ids are image models by name, the sizes each
//! family accepts, and the mapping of a size wish to the nearest of them.
//!
//! The tables are `shared/siliconflow-api.md` §9.1; upstream answers 400
//! for any other `image_size`, so keyflow never sends one it has not chosen
//! from here.

use super::marker::contains_ci;
use super::size::SizeWish;

/// Name fragments of the image families, for models the catalogue does not
/// list (yet): the catalogue decides whenever it knows a model.
const IMAGE_NAME_FRAGMENTS: &[&str] = &["kolors", "flux", "stable-diffusion", "qwen-image", "z-image"];

/// The flexible family takes any size up to this many pixels.
const FLEXIBLE_MAX_PIXELS: u64 = 2_359_296;

/// Ratio and pixel-count target when only an orientation (or nothing) was asked.
const DEFAULT_SIDE: u32 = 1024;

/// Whether a model id names a known image family.
pub fn is_image_name(model: &str) -> bool {
    IMAGE_NAME_FRAGMENTS.iter().any(|fragment| contains_ci(model, fragment))
}

/// A group of models that accept the same `image_size` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Kolors,
    QwenImage,
    /// Qwen-Image-Edit(-2509): takes no `image_size` at all.
    QwenImageEdit,
    ZImage,
    /// FLUX.2-pro / FLUX.2-flex.
    Flux2,
    /// FLUX.1-schnell and SD3.5-large, and the fallback for unknown models
    /// (the list most SiliconFlow image models shared).
    Standard,
    /// FLUX.1-dev, Pro/FLUX.1-schnell, SD3-medium, SDXL, FLUX-1.1-pro:
    /// the listed sizes "and others" up to [`FLEXIBLE_MAX_PIXELS`].
    Flexible,
    /// stable-diffusion-2-1 (historic).
    Sd21,
}

impl Family {
    pub fn of(model: &str) -> Family {
        let has = |fragment: &str| contains_ci(model, fragment);
        let pro = model.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("pro/"));
        if has("kolors") {
            Family::Kolors
        } else if has("qwen-image-edit") {
            Family::QwenImageEdit
        } else if has("qwen-image") {
            Family::QwenImage
        } else if has("z-image") {
            Family::ZImage
        } else if has("flux.2") || has("flux-2") {
            Family::Flux2
        } else if has("flux.1-schnell") && !pro {
            Family::Standard
        } else if has("flux") || has("stable-diffusion-3-medium") || has("stable-diffusion-xl") {
            Family::Flexible
        } else if has("stable-diffusion-2-1") {
            Family::Sd21
        } else {
            Family::Standard
        }
    }

    /// The documented sizes, `(width, height)`.
    pub fn sizes(self) -> &'static [(u32, u32)] {
        match self {
            Family::Kolors => &[(1024, 1024), (960, 1280), (768, 1024), (720, 1440), (720, 1280)],
            Family::QwenImage => {
                &[(1328, 1328), (1664, 928), (928, 1664), (1472, 1140), (1140, 1472), (1584, 1056), (1056, 1584)]
            }
            Family::QwenImageEdit => &[],
            Family::ZImage => &[(512, 512), (768, 1024), (1024, 576), (576, 1024)],
            Family::Flux2 => &[(512, 512), (768, 1024), (1024, 768), (576, 1024), (1024, 576)],
            Family::Standard => &[(1024, 1024), (512, 1024), (768, 512), (768, 1024), (1024, 576), (576, 1024)],
            // The documented portrait list plus its landscape mirror ("others").
            Family::Flexible => &[
                (1024, 1024),
                (960, 1280),
                (1280, 960),
                (768, 1024),
                (1024, 768),
                (720, 1440),
                (1440, 720),
                (720, 1280),
                (1280, 720),
            ],
            Family::Sd21 => &[(512, 512), (512, 1024), (768, 512), (768, 1024), (1024, 576), (576, 1024)],
        }
    }

    /// The `image_size` to send for a wish; `None` when the family takes none.
    pub fn resolve(self, wish: Option<SizeWish>) -> Option<(u32, u32)> {
        let sizes = self.sizes();
        if sizes.is_empty() {
            return None;
        }
        let pixels = |w: u32, h: u32| f64::from(w) * f64::from(h);
        let default_pixels = pixels(DEFAULT_SIDE, DEFAULT_SIDE);
        match wish {
            Some(SizeWish::Exact(w, h)) if sizes.contains(&(w, h)) => Some((w, h)),
            Some(SizeWish::Exact(w, h)) if self == Family::Flexible && flexible_fits(w, h) => Some((w, h)),
            Some(SizeWish::Exact(w, h)) => nearest(sizes, f64::from(w) / f64::from(h), pixels(w, h)),
            Some(SizeWish::Ratio(a, b)) => nearest(sizes, f64::from(a) / f64::from(b), default_pixels),
            None => nearest(sizes, 1.0, default_pixels),
        }
    }
}

/// Whether the flexible family takes an arbitrary size as is.
fn flexible_fits(w: u32, h: u32) -> bool {
    let side = 256..=2048;
    side.contains(&w)
        && side.contains(&h)
        && w.is_multiple_of(8)
        && h.is_multiple_of(8)
        && u64::from(w) * u64::from(h) <= FLEXIBLE_MAX_PIXELS
}

/// The size of nearest aspect ratio, ties broken by nearest pixel count.
/// Both distances are on a log scale, so 2:1 and 1:2 are equally far from 1:1.
fn nearest(sizes: &[(u32, u32)], ratio: f64, pixels: f64) -> Option<(u32, u32)> {
    let distance = |&(w, h): &(u32, u32)| {
        let (w, h) = (f64::from(w), f64::from(h));
        ((w / h).ln() - ratio.ln()).abs()
    };
    let pixel_distance = |&(w, h): &(u32, u32)| ((f64::from(w) * f64::from(h)).ln() - pixels.ln()).abs();
    sizes.iter().copied().reduce(|best, size| {
        let (d_best, d_size) = (distance(&best), distance(&size));
        // Ratios within a rounding error of each other count as equal.
        let closer = if (d_size - d_best).abs() < 1e-9 {
            pixel_distance(&size) < pixel_distance(&best)
        } else {
            d_size < d_best
        };
        if closer {
            size
        } else {
            best
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use SizeWish::{Exact, Ratio};

    #[test]
    fn families_by_id() {
        assert_eq!(Family::of("Kwai-Kolors/Kolors"), Family::Kolors);
        assert_eq!(Family::of("Qwen/Qwen-Image"), Family::QwenImage);
        assert_eq!(Family::of("Qwen/Qwen-Image-Edit-2509"), Family::QwenImageEdit);
        assert_eq!(Family::of("Tongyi-MAI/Z-Image-Turbo"), Family::ZImage);
        assert_eq!(Family::of("black-forest-labs/FLUX.2-pro"), Family::Flux2);
        assert_eq!(Family::of("black-forest-labs/FLUX.1-schnell"), Family::Standard);
        assert_eq!(Family::of("Pro/black-forest-labs/FLUX.1-schnell"), Family::Flexible);
        assert_eq!(Family::of("black-forest-labs/FLUX.1-dev"), Family::Flexible);
        assert_eq!(Family::of("stabilityai/stable-diffusion-xl-base-1.0"), Family::Flexible);
        assert_eq!(Family::of("stabilityai/stable-diffusion-2-1"), Family::Sd21);
        assert_eq!(Family::of("stabilityai/stable-diffusion-3-5-large"), Family::Standard);
    }

    #[test]
    fn image_names() {
        for id in ["Kwai-Kolors/Kolors", "black-forest-labs/FLUX.1-dev", "runwayml/stable-diffusion-v1-5"] {
            assert!(is_image_name(id), "{id}");
        }
        assert!(is_image_name("qwen/qwen-image") && is_image_name("Tongyi-MAI/Z-Image-Turbo"));
        assert!(!is_image_name("Qwen/Qwen2.5-7B-Instruct") && !is_image_name("deepseek-ai/DeepSeek-V3"));
    }

    #[test]
    fn defaults_are_the_nearest_square() {
        assert_eq!(Family::Kolors.resolve(None), Some((1024, 1024)));
        assert_eq!(Family::QwenImage.resolve(None), Some((1328, 1328)));
        assert_eq!(Family::ZImage.resolve(None), Some((512, 512)));
        assert_eq!(Family::Flux2.resolve(None), Some((512, 512)));
        assert_eq!(Family::Standard.resolve(None), Some((1024, 1024)));
        assert_eq!(Family::QwenImageEdit.resolve(Some(Ratio(16, 9))), None);
    }

    #[test]
    fn ratios_map_per_family() {
        let r169 = Some(Ratio(16, 9));
        let r916 = Some(Ratio(9, 16));
        assert_eq!(Family::ZImage.resolve(r169), Some((1024, 576)));
        assert_eq!(Family::ZImage.resolve(r916), Some((576, 1024)));
        assert_eq!(Family::ZImage.resolve(Some(Ratio(3, 4))), Some((768, 1024)));
        assert_eq!(Family::Flux2.resolve(Some(Ratio(4, 3))), Some((1024, 768)));
        assert_eq!(Family::Standard.resolve(r169), Some((1024, 576)));
        assert_eq!(Family::Standard.resolve(Some(Ratio(1, 2))), Some((512, 1024)));
        assert_eq!(Family::Standard.resolve(Some(Ratio(3, 2))), Some((768, 512)));
        assert_eq!(Family::Sd21.resolve(Some(Ratio(1, 1))), Some((512, 512)));
        // Kolors has no landscape size: a square is the nearest ratio.
        assert_eq!(Family::Kolors.resolve(r169), Some((1024, 1024)));
        assert_eq!(Family::Kolors.resolve(r916), Some((720, 1280)));
        assert_eq!(Family::Kolors.resolve(Some(Ratio(1, 2))), Some((720, 1440)));
        assert_eq!(Family::QwenImage.resolve(r169), Some((1664, 928)));
        assert_eq!(Family::QwenImage.resolve(Some(Ratio(3, 2))), Some((1584, 1056)));
        assert_eq!(Family::QwenImage.resolve(Some(Ratio(3, 4))), Some((1140, 1472)));
        assert_eq!(Family::Flexible.resolve(r169), Some((1280, 720)));
    }

    #[test]
    fn exact_sizes_kept_or_mapped() {
        assert_eq!(Family::ZImage.resolve(Some(Exact(1024, 576))), Some((1024, 576)));
        assert_eq!(Family::ZImage.resolve(Some(Exact(1920, 1080))), Some((1024, 576)));
        assert_eq!(Family::Flux2.resolve(Some(Exact(1000, 1000))), Some((512, 512)));
        assert_eq!(Family::Standard.resolve(Some(Exact(500, 500))), Some((1024, 1024)));
        // Two sizes of the same ratio: the pixel count decides.
        assert_eq!(Family::Flexible.resolve(Some(Exact(1200, 900))), Some((1280, 960)));
        assert_eq!(Family::Flexible.resolve(Some(Exact(808, 606))), Some((1024, 768)));
        assert_eq!(Family::Flexible.resolve(Some(Ratio(4, 3))), Some((1280, 960)));
        assert_eq!(Family::Flexible.resolve(Some(Exact(1152, 896))), Some((1152, 896)));
        assert_eq!(Family::Flexible.resolve(Some(Exact(2048, 2048))), Some((1024, 1024)));
        assert_eq!(Family::Kolors.resolve(Some(Exact(768, 1024))), Some((768, 1024)));
    }
}
