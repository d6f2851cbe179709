//! Value parsers for counts and rates on the command line that say what
//! is wrong with a bad number (`--rate -5`: "must be positive, got -5")
//! instead of clap's generic "unexpected argument" (each flag using them
//! also sets `allow_negative_numbers`, so a negative number reaches them).

use std::fmt::Display;
use std::str::FromStr;

/// A whole number of at least 1 (connections, threads, pipeline...).
pub fn positive_count<T>(text: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + From<u8>,
    T::Err: Display,
{
    let n: T = count(text)?;
    if n < T::from(1) {
        return Err(format!("must be at least 1, got {text}"));
    }
    Ok(n)
}

/// A whole number of 0 or more (a size).
pub fn count<T>(text: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    if text.trim_start().starts_with('-') {
        return Err(format!("must be positive, got {text}"));
    }
    text.parse()
        .map_err(|err| format!("{text} is not a whole number: {err}"))
}

/// A rate per second above 0.
pub fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Ok(_) => Err(format!("must be positive, got {text}")),
        Err(_) => Err(format!("{text} is not a number per second")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Negative and zero counts and rates are refused naming the value.
    #[test]
    fn negative_and_zero_numbers_are_refused_with_the_value() {
        assert_eq!(positive_count::<usize>("4"), Ok(4));
        assert_eq!(
            positive_count::<usize>("0"),
            Err("must be at least 1, got 0".to_string())
        );
        assert_eq!(
            positive_count::<u64>("-3"),
            Err("must be positive, got -3".to_string())
        );
        assert_eq!(count::<usize>("0"), Ok(0));
        assert_eq!(positive_rate("2.5"), Ok(2.5));
        assert_eq!(
            positive_rate("-5"),
            Err("must be positive, got -5".to_string())
        );
        assert!(positive_rate("fast").is_err());
    }
}
