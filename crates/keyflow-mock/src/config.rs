//! Start-up settings of the mock: latency, stream pacing, benchmark mode, free models.

use std::time::Duration;

/// Models that answer at zero balance unless the config says otherwise.
///
/// These mirror SiliconFlow's free tier of 2025–26 as far as the catalogue
/// carries them (see `catalogue::MODELS`).
pub const DEFAULT_FREE_MODELS: &[&str] = &[
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen3-8B",
    "THUDM/glm-4-9b-chat",
    "Qwen/Qwen2.5-Coder-7B-Instruct",
    "BAAI/bge-m3",
    "BAAI/bge-reranker-v2-m3",
    "Kwai-Kolors/Kolors",
    "FunAudioLLM/SenseVoiceSmall",
];

/// How the mock behaves as a whole; per-key behaviour is set on `MockState`.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Added before every answer (after auth), to imitate network and queueing time.
    pub latency: Duration,
    /// Content chunks per streamed answer (at least 1 is always sent).
    pub stream_chunks: usize,
    /// Pause between two streamed chunks.
    pub chunk_interval: Duration,
    /// Benchmark mode: canned answers, no per-key recording, faults or limits.
    pub fast: bool,
    /// Model ids that cost nothing and work at zero balance.
    pub free_models: Vec<String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            stream_chunks: 5,
            chunk_interval: Duration::ZERO,
            fast: false,
            free_models: DEFAULT_FREE_MODELS.iter().map(|model| (*model).to_owned()).collect(),
        }
    }
}

impl MockConfig {
    /// Whether `model` is in the free list.
    pub fn is_free(&self, model: &str) -> bool {
        self.free_models.iter().any(|free| free == model)
    }
}
