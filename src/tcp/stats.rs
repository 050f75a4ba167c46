//! Summary statistics over probe RTTs (pure).

use serde::Serialize;

/// RTT statistics in µs; every field is null when there is no sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RttStats {
    /// Smallest.
    pub min: Option<f64>,
    /// Mean.
    pub avg: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
    /// Mean deviation as ping reports it: sqrt(mean(x²) − mean²).
    pub mdev: Option<f64>,
    /// Median (nearest rank).
    pub p50: Option<f64>,
    /// 90th percentile (nearest rank).
    pub p90: Option<f64>,
    /// 99th percentile (nearest rank).
    pub p99: Option<f64>,
    /// Mean absolute difference between consecutive samples (RFC 3550-style, unsmoothed).
    pub jitter: Option<f64>,
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Round to nanosecond precision so JSON stays readable.
pub fn round_ns(us: f64) -> f64 {
    (us * 1000.0).round() / 1000.0
}

impl RttStats {
    /// Statistics over samples in probe order.
    pub fn from_samples(samples: &[f64]) -> RttStats {
        if samples.is_empty() {
            return RttStats::default();
        }
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let sq = samples.iter().map(|x| x * x).sum::<f64>() / n;
        let mdev = (sq - mean * mean).max(0.0).sqrt();
        let mut sorted = samples.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let jitter = if samples.len() > 1 {
            let d: f64 = samples.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
            Some(round_ns(d / (n - 1.0)))
        } else {
            None
        };
        RttStats {
            min: sorted.first().copied(),
            max: sorted.last().copied(),
            avg: Some(round_ns(mean)),
            mdev: Some(round_ns(mdev)),
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            jitter,
        }
    }
}

/// Loss in percent: probes with no answer at all over probes sent. Never negative.
pub fn loss_pct(sent: u32, unanswered: u32) -> f64 {
    if sent == 0 {
        return 0.0;
    }
    let v = f64::from(unanswered.min(sent)) * 100.0 / f64::from(sent);
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_all_null() {
        assert_eq!(RttStats::from_samples(&[]), RttStats::default());
        assert_eq!(RttStats::from_samples(&[]).min, None);
    }

    #[test]
    fn known_values() {
        let s = RttStats::from_samples(&[10.0, 20.0, 30.0, 40.0]);
        assert_eq!(s.min, Some(10.0));
        assert_eq!(s.max, Some(40.0));
        assert_eq!(s.avg, Some(25.0));
        assert_eq!(s.mdev, Some(11.18)); // sqrt(750-625)
        assert_eq!(s.p50, Some(20.0));
        assert_eq!(s.p90, Some(40.0));
        assert_eq!(s.p99, Some(40.0));
        assert_eq!(s.jitter, Some(10.0));
        let one = RttStats::from_samples(&[5.5]);
        assert_eq!(
            (one.p50, one.mdev, one.jitter),
            (Some(5.5), Some(0.0), None)
        );
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = RttStats::from_samples(&v);
        assert_eq!((s.p50, s.p90, s.p99), (Some(50.0), Some(90.0), Some(99.0)));
    }

    #[test]
    fn loss_never_negative() {
        assert_eq!(loss_pct(0, 0), 0.0);
        assert_eq!(loss_pct(4, 1), 25.0);
        assert_eq!(loss_pct(3, 1), 33.33);
        assert_eq!(loss_pct(2, 5), 100.0);
    }
}
