//! Small statistics: median, nearest-rank percentiles, the busiest window of events.

/// The median of `values` (mean of the two middle values for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of `values`; `None` if empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// The most events in any half-open window `[t, t + window)`, with `times` in any unit and
/// order (sorted here).
pub fn max_in_window(times: &[i64], window: i64) -> usize {
    let mut t = times.to_vec();
    t.sort_unstable();
    let mut best = 0;
    let mut start = 0;
    for end in 0..t.len() {
        while t[end] - t[start] >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Events per second between the first and the last event: `(n - 1) / span`, the rate an
/// evenly spaced limiter achieves. `None` for fewer than two events or a zero span.
pub fn rate_per_second(times_ms: &[i64]) -> Option<f64> {
    let first = times_ms.iter().min()?;
    let last = times_ms.iter().max()?;
    let span = (last - first) as f64 / 1000.0;
    (times_ms.len() >= 2 && span > 0.0).then(|| (times_ms.len() - 1) as f64 / span)
}

/// The smallest distance between two consecutive events (any order); `None` for fewer than two.
pub fn min_gap(times: &[i64]) -> Option<i64> {
    let mut t = times.to_vec();
    t.sort_unstable();
    t.windows(2).map(|w| w[1] - w[0]).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }

    #[test]
    fn windows_and_rates() {
        // 10 per second, evenly spaced: at most 10 in any second.
        let t: Vec<i64> = (0..50).map(|i| i * 100).collect();
        assert_eq!(max_in_window(&t, 1000), 10);
        let r = rate_per_second(&t).unwrap();
        assert!((r - 10.0).abs() < 1e-9, "{r}");
        // A burst of 5 at once.
        assert_eq!(max_in_window(&[0, 0, 0, 0, 0, 5000], 1000), 5);
        assert_eq!(rate_per_second(&[1]), None);
        assert_eq!(min_gap(&t), Some(100));
        assert_eq!(min_gap(&[5]), None);
    }
}
