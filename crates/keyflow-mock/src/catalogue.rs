//! The fixed model catalogue: kinds, prices, context sizes and accepted image sizes.
//!
//! Prices are deterministic so tests can predict a key's balance after a
//! request: `cost = price × units`, with units = total tokens / 1e6, images,
//! videos or UTF-8 bytes / 1e6 depending on the model.

/// What a model does; decides the routes that accept it and its `type`/`sub_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Embedding,
    Reranker,
    TextToImage,
    TextToSpeech,
    SpeechToText,
    TextToVideo,
}

impl Kind {
    /// The `type` filter value of `GET /v1/models`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Chat | Kind::Embedding | Kind::Reranker => "text",
            Kind::TextToImage => "image",
            Kind::TextToSpeech | Kind::SpeechToText => "audio",
            Kind::TextToVideo => "video",
        }
    }

    /// The `sub_type` filter value of `GET /v1/models`.
    ///
    /// SiliconFlow's enum has no value for speech synthesis, so the mock uses
    /// `text-to-speech` there.
    pub fn sub_type_name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Embedding => "embedding",
            Kind::Reranker => "reranker",
            Kind::TextToImage => "text-to-image",
            Kind::TextToSpeech => "text-to-speech",
            Kind::SpeechToText => "speech-to-text",
            Kind::TextToVideo => "text-to-video",
        }
    }
}

/// How a paid model is billed, in CNY.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Price {
    /// Per million tokens (prompt + completion together).
    PerMillionTokens(f64),
    /// Per generated image.
    PerImage(f64),
    /// Per UTF-8 byte of synthesized input, times one million.
    PerMillionBytes(f64),
    /// Per submitted video job.
    PerVideo(f64),
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub id: &'static str,
    pub kind: Kind,
    /// What a paid call costs; free models (config) are never charged.
    pub price: Price,
    /// Context window in tokens; longer prompts get 400 20015.
    pub context: u64,
    /// Accepts `suffix` (fill-in-the-middle) on `/v1/completions`.
    pub fim: bool,
    /// Streams `reasoning_content` before `content`.
    pub reasoning: bool,
}

const fn spec(id: &'static str, kind: Kind, price: Price, context: u64) -> ModelSpec {
    ModelSpec { id, kind, price, context, fim: false, reasoning: false }
}

use Kind::*;
use Price::*;

/// Every model the mock knows; any other id is "Model does not exist".
pub const MODELS: &[ModelSpec] = &[
    spec("Qwen/Qwen2.5-7B-Instruct", Chat, PerMillionTokens(0.35), 32_768),
    spec("Qwen/Qwen3-8B", Chat, PerMillionTokens(0.5), 131_072),
    spec("THUDM/glm-4-9b-chat", Chat, PerMillionTokens(0.6), 131_072),
    spec("Pro/Qwen/Qwen2.5-7B-Instruct", Chat, PerMillionTokens(0.35), 32_768),
    ModelSpec { fim: true, ..spec("deepseek-ai/DeepSeek-V3", Chat, PerMillionTokens(8.0), 65_536) },
    ModelSpec {
        fim: true,
        reasoning: true,
        ..spec("Pro/deepseek-ai/DeepSeek-R1", Chat, PerMillionTokens(16.0), 98_304)
    },
    ModelSpec { fim: true, ..spec("Qwen/Qwen2.5-Coder-7B-Instruct", Chat, PerMillionTokens(0.35), 32_768) },
    spec("BAAI/bge-m3", Embedding, PerMillionTokens(0.1), 8_192),
    spec("Qwen/Qwen3-Embedding-8B", Embedding, PerMillionTokens(0.28), 32_768),
    spec("BAAI/bge-reranker-v2-m3", Reranker, PerMillionTokens(0.1), 8_192),
    spec("Qwen/Qwen3-Reranker-8B", Reranker, PerMillionTokens(0.28), 32_768),
    spec("Kwai-Kolors/Kolors", TextToImage, PerImage(0.0), 0),
    spec("Qwen/Qwen-Image", TextToImage, PerImage(0.3), 0),
    spec("black-forest-labs/FLUX.1-schnell", TextToImage, PerImage(0.05), 0),
    spec("Tongyi-MAI/Z-Image-Turbo", TextToImage, PerImage(0.1), 0),
    spec("black-forest-labs/FLUX.2-pro", TextToImage, PerImage(0.5), 0),
    spec("FunAudioLLM/CosyVoice2-0.5B", TextToSpeech, PerMillionBytes(105.0), 0),
    spec("FunAudioLLM/SenseVoiceSmall", SpeechToText, PerMillionTokens(0.0), 0),
    spec("Wan-AI/Wan2.2-T2V-A14B", TextToVideo, PerVideo(2.0), 0),
];

/// The catalogue entry for `id`, if the mock knows the model.
pub fn find(id: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|model| model.id == id)
}

/// The `image_size` values a text-to-image model accepts, and its default.
///
/// Taken from the size table of `siliconflow-api.md` §9.1; the mock accepts
/// exactly these strings and nothing else.
pub fn image_sizes(model: &str) -> (&'static [&'static str], &'static str) {
    match model {
        "Kwai-Kolors/Kolors" => (&["1024x1024", "960x1280", "768x1024", "720x1440", "720x1280"], "1024x1024"),
        "Qwen/Qwen-Image" => {
            (&["1328x1328", "1664x928", "928x1664", "1472x1140", "1140x1472", "1584x1056", "1056x1584"], "1328x1328")
        }
        "Tongyi-MAI/Z-Image-Turbo" => (&["512x512", "768x1024", "1024x576", "576x1024"], "512x512"),
        "black-forest-labs/FLUX.2-pro" => (&["512x512", "768x1024", "1024x768", "576x1024", "1024x576"], "512x512"),
        _ => (&["1024x1024", "512x1024", "768x512", "768x1024", "1024x576", "576x1024"], "1024x1024"),
    }
}

/// The `image_size` values of the video models.
pub const VIDEO_SIZES: &[&str] = &["1280x720", "720x1280", "960x960"];

/// System voice names; a voice is `"<model>:<name>"`.
pub const SYSTEM_VOICES: &[&str] = &["alex", "benjamin", "charles", "david", "anna", "bella", "claire", "diana"];

/// The cost in CNY of `units` of `model` (tokens, images, bytes or videos).
pub fn cost(model: &ModelSpec, units: u64) -> f64 {
    let units = units as f64;
    match model.price {
        PerMillionTokens(price) | PerMillionBytes(price) => price * units / 1_000_000.0,
        PerImage(price) | PerVideo(price) => price * units,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        for (i, a) in MODELS.iter().enumerate() {
            assert!(MODELS[i + 1..].iter().all(|b| b.id != a.id), "{}", a.id);
        }
    }

    #[test]
    fn cost_scales_by_unit() {
        let v3 = find("deepseek-ai/DeepSeek-V3").unwrap();
        assert!((cost(v3, 1_000_000) - 8.0).abs() < 1e-9);
        let image = find("Qwen/Qwen-Image").unwrap();
        assert!((cost(image, 2) - 0.6).abs() < 1e-9);
    }
}
