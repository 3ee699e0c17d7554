//! Live request and token rates from in-memory rings: per second over the
//! last minute (RPM, TPM) and per minute over the last day (RPD, TPD).

use parking_lot::Mutex;

use serde::Serialize;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The second (or minute) this slot counts; stale slots are skipped.
    epoch: u64,
    requests: u64,
    tokens: u64,
}

struct Ring<const N: usize> {
    slots: [Slot; N],
}

impl<const N: usize> Ring<N> {
    fn add(&mut self, epoch: u64, requests: u64, tokens: u64) {
        let slot = &mut self.slots[(epoch % N as u64) as usize];
        if slot.epoch != epoch {
            *slot = Slot { epoch, requests: 0, tokens: 0 };
        }
        slot.requests += requests;
        slot.tokens += tokens;
    }

    fn sum(&self, now: u64) -> (u64, u64) {
        let oldest = now.saturating_sub(N as u64 - 1);
        self.slots
            .iter()
            .filter(|s| s.epoch >= oldest && s.epoch <= now && (s.requests > 0 || s.tokens > 0))
            .fold((0, 0), |(r, t), s| (r + s.requests, t + s.tokens))
    }
}

pub struct Live {
    seconds: Mutex<Ring<60>>,
    minutes: Mutex<Ring<1440>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            seconds: Mutex::new(Ring { slots: [Slot::default(); 60] }),
            minutes: Mutex::new(Ring { slots: [Slot::default(); 1440] }),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Rates {
    /// Requests in the last 60 seconds.
    pub rpm: u64,
    /// Tokens in the last 60 seconds.
    pub tpm: u64,
    /// Requests in the last 24 hours.
    pub rpd: u64,
    /// Tokens in the last 24 hours.
    pub tpd: u64,
}

impl Live {
    pub fn add(&self, unix_secs: u64, tokens: u64) {
        self.seconds.lock().add(unix_secs, 1, tokens);
        self.minutes.lock().add(unix_secs / 60, 1, tokens);
    }

    pub fn rates(&self, unix_secs: u64) -> Rates {
        let (rpm, tpm) = self.seconds.lock().sum(unix_secs);
        let (rpd, tpd) = self.minutes.lock().sum(unix_secs / 60);
        Rates { rpm, tpm, rpd, tpd }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide() {
        let live = Live::default();
        live.add(1_000, 10);
        live.add(1_030, 5);
        assert_eq!(live.rates(1_030), Rates { rpm: 2, tpm: 15, rpd: 2, tpd: 15 });
        // A minute later the first request left the minute window, not the day.
        assert_eq!(live.rates(1_060), Rates { rpm: 1, tpm: 5, rpd: 2, tpd: 15 });
        assert_eq!(live.rates(1_000 + 86_400 + 60), Rates::default());
    }
}
