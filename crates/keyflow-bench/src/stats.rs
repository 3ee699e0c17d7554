//! Percentiles of one run and medians over repeated runs.

/// The `q` quantile (0..=1) of `sorted`, nearest rank; `None` when empty.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Latency percentiles of one run, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From samples in µs (sorted here).
    pub fn of_micros(samples: &mut [u64]) -> Option<Percentiles> {
        samples.sort_unstable();
        let ms = |q: f64| quantile(samples, q).map(|us| us as f64 / 1000.0);
        Some(Percentiles { p50: ms(0.5)?, p99: ms(0.99)?, p999: ms(0.999)?, max: ms(1.0)? })
    }
}

/// The median of `values`, ignoring NaN; `None` when there is none.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let samples: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&samples, 0.5), Some(500));
        assert_eq!(quantile(&samples, 0.99), Some(990));
        assert_eq!(quantile(&samples, 0.999), Some(999));
        assert_eq!(quantile(&samples, 1.0), Some(1000));
        assert_eq!(quantile(&samples, 0.0), Some(1));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([f64::NAN]), None);
    }

    #[test]
    fn percentiles_in_ms() {
        let mut samples: Vec<u64> = (1..=1000).rev().map(|n| n * 1000).collect();
        let p = Percentiles::of_micros(&mut samples).expect("samples");
        assert_eq!((p.p50, p.p99, p.max), (500.0, 990.0, 1000.0));
    }
}
