//! Key choice: uniform or zipf over a fixed list of keys.

use rand::Rng;
use rand::distr::Distribution as _;
use rand_distr::Zipf;

use super::config::Distribution;
use crate::Error;

/// Draws key indexes in `0..n` from a [`Distribution`]. Cheap to clone: one
/// per worker, each with its own random generator.
#[derive(Debug, Clone)]
pub struct KeyPicker {
    n: usize,
    zipf: Option<Zipf<f64>>,
}

impl KeyPicker {
    /// A picker over `n` keys (`n >= 1`).
    pub fn new(n: usize, dist: Distribution) -> Result<Self, Error> {
        if n == 0 {
            return Err(Error::Config("the key set is empty".into()));
        }
        let zipf = match dist {
            Distribution::Uniform | Distribution::Sequential => None,
            Distribution::Zipf { s } => Some(
                Zipf::new(n as f64, s)
                    .map_err(|e| Error::Config(format!("zipf over {n} keys with s={s}: {e}")))?,
            ),
        };
        Ok(KeyPicker { n, zipf })
    }

    /// The next key index, in `0..n`. Under zipf, index 0 is the most
    /// popular key, index 1 the next, and so on.
    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        match &self.zipf {
            None => rng.random_range(0..self.n),
            // Zipf samples 1..=n as a float holding an integer.
            Some(z) => (z.sample(rng) as usize).clamp(1, self.n) - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// Uniform picks stay in range and reach every key of a small set.
    #[test]
    fn uniform_covers_the_range() {
        let p = KeyPicker::new(10, Distribution::Uniform).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[p.pick(&mut rng)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
    }

    /// Zipf s=1.1 over 1000 keys: the first key is drawn about 1/H(1000,1.1)
    /// of the time (~17.9 %), far more than key 100, and every pick is in range.
    #[test]
    fn zipf_is_skewed_towards_the_first_keys() {
        let n = 1000;
        let p = KeyPicker::new(n, Distribution::Zipf { s: 1.1 }).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0u32; n];
        let draws = 100_000;
        for _ in 0..draws {
            counts[p.pick(&mut rng)] += 1;
        }
        let h: f64 = (1..=n).map(|k| (k as f64).powf(-1.1)).sum();
        let expected0 = draws as f64 / h;
        let got0 = f64::from(counts[0]);
        assert!(
            (got0 - expected0).abs() < expected0 * 0.05,
            "got {got0}, expected {expected0}"
        );
        assert!(
            counts[0] > 50 * counts[100].max(1) / 10,
            "{} vs {}",
            counts[0],
            counts[100]
        );
    }

    /// An empty key set and a bad exponent are refused with a clear error.
    #[test]
    fn bad_input_is_refused() {
        assert!(KeyPicker::new(0, Distribution::Uniform).is_err());
        assert!(KeyPicker::new(5, Distribution::Zipf { s: -1.0 }).is_err());
    }
}
