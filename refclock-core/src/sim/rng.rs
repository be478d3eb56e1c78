//! Seeded noise for the simulators. It has to be cheap and repeatable, not cryptographic.

/// xorshift64* with uniform and Gaussian draws.
#[derive(Clone, Debug)]
pub struct SimRng {
    state: u64,
    /// Box–Muller makes two normals at a time; the second waits here.
    spare_normal: Option<f64>,
}

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        // A zero state would stay zero; mixing the seed also decorrelates nearby seeds.
        let state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        SimRng { state, spare_normal: None }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [low, high].
    pub fn uniform(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low).max(0) as u64 + 1;
        low + (self.next_u64() % span) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal draw.
    pub fn normal(&mut self) -> f64 {
        if let Some(spare) = self.spare_normal.take() {
            return spare;
        }
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        let angle = std::f64::consts::TAU * self.unit();
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_variance_and_zero_mean() {
        let mut rng = SimRng::new(7);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (SimRng::new(3), SimRng::new(3));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(SimRng::new(3).next_u64(), SimRng::new(4).next_u64());
    }
}
