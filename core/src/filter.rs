//! What the discipline's filters share: the time line they run on, what a filter says about a
//! sample before using it, and how a mixture of Gaussian estimates is summed up as one.

/// Nanoseconds on the reference time line (Unix time in ns).
pub type Nanos = i64;

/// What the filter says a measurement should have been, and how sure it is.
#[derive(Clone, Copy, Debug)]
pub struct Innovation {
    /// Measured minus predicted phase, ns.
    pub residual_ns: f64,
    /// Variance of the residual (prediction plus measurement), ns².
    pub variance: f64,
}

/// The weighted mean of several Gaussian states and the covariance of the mixture (each
/// covariance plus the spread of the means).
pub fn blend<const N: usize>(
    states: impl Iterator<Item = ([f64; N], [[f64; N]; N])> + Clone,
    weights: &[f64],
) -> ([f64; N], [[f64; N]; N]) {
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut mean = [0.0; N];
    for ((x, _), w) in states.clone().zip(weights) {
        for (m, xi) in mean.iter_mut().zip(x) {
            *m += w / total * xi;
        }
    }
    let mut cov = [[0.0; N]; N];
    for ((x, c), w) in states.zip(weights) {
        for i in 0..N {
            for j in 0..N {
                cov[i][j] += w / total * (c[i][j] + (x[i] - mean[i]) * (x[j] - mean[j]));
            }
        }
    }
    (mean, cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blend_is_the_mixture_mean_and_covariance() {
        // Two equally likely estimates 2 apart, each with variance 1: the mixture has mean 1
        // and variance 1 + 1 (the spread), and the second coordinate moves with the first.
        let states = [([0.0, 10.0], [[1.0, 0.0], [0.0, 4.0]]), ([2.0, 20.0], [[1.0, 0.0], [0.0, 4.0]])];
        let (mean, cov) = blend(states.into_iter(), &[1.0, 1.0]);
        assert_eq!(mean, [1.0, 15.0]);
        assert_eq!(cov, [[2.0, 5.0], [5.0, 29.0]]);
        // Weights need not be normalised; a weightless estimate counts for nothing.
        let (mean, cov) = blend(states.into_iter(), &[3.0, 0.0]);
        assert_eq!((mean, cov), states[0]);
    }
}
