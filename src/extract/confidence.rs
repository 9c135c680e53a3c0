//! How sure detection is that it found the whole article: a figure from 0 to 1 read from
//! what the chosen block is like, so the reader can be told when the Light page may be
//! incomplete. It decides nothing about what is content.
//!
//! Three signs, each from 0 to 1, are weighed: the article's length (nothing under
//! [`SHORT`] characters, all of it from [`LONG`], on a log scale), how much of its text is
//! outside links, and how many paragraphs of running prose it has (all of it from
//! [`PROSE_PARAGRAPHS`]). Blocks found only once detection's stricter rules were dropped,
//! which is how notices, menus and comment threads get chosen, count for less; blocks in
//! the page's own article markup count for a little more.

use super::readable::Found;

/// Article length in characters under which the length sign is 0.
const SHORT: f64 = 200.0;
/// Article length in characters from which the length sign is 1.
const LONG: f64 = 3000.0;
/// Prose paragraphs from which the paragraph sign is 1.
const PROSE_PARAGRAPHS: f64 = 4.0;
/// Weights of the length, prose and paragraph signs.
const WEIGHTS: [f64; 3] = [0.4, 0.3, 0.3];
/// Factor for each detection attempt, strictest first.
const ATTEMPT_FACTOR: [f64; 4] = [1.0, 0.85, 0.7, 0.55];
/// What the page's own article markup adds.
const MARKED_BONUS: f64 = 0.1;
/// Confidence in an article taken from the page's structured data (JSON-LD `articleBody`,
/// framework state): its text is the publisher's own, but nothing says it is whole.
pub(crate) const EMBEDDED: f64 = 0.8;
/// Below this, the Light page says the article may be incomplete.
pub const LOW: f64 = 0.5;

/// Confidence in a block detection found.
pub(crate) fn of(found: &Found) -> f64 {
    let chars = found.text_len.max(1) as f64;
    let length = ((chars.ln() - SHORT.ln()) / (LONG.ln() - SHORT.ln())).clamp(0.0, 1.0);
    let prose = (1.0 - 2.0 * found.link_density).clamp(0.0, 1.0);
    let paragraphs = (found.paragraphs as f64 / PROSE_PARAGRAPHS).min(1.0);
    let signs = WEIGHTS[0] * length + WEIGHTS[1] * prose + WEIGHTS[2] * paragraphs;
    let factor = ATTEMPT_FACTOR
        .get(found.attempt)
        .copied()
        .unwrap_or(ATTEMPT_FACTOR[ATTEMPT_FACTOR.len() - 1]);
    let bonus = if found.marked { MARKED_BONUS } else { 0.0 };
    (signs * factor + bonus).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text_len: usize, link_density: f64, paragraphs: usize, attempt: usize) -> Found {
        Found {
            article: 0,
            byline: None,
            text_len,
            marked: false,
            link_density,
            attempt,
            paragraphs,
            form: false,
            whole_body: false,
        }
    }

    #[test]
    fn a_long_story_of_paragraphs_is_sure() {
        assert!(of(&found(4000, 0.02, 9, 0)) > 0.9);
    }

    #[test]
    fn a_short_notice_or_a_menu_is_not() {
        assert!(of(&found(150, 0.0, 1, 0)) < LOW);
        assert!(of(&found(900, 0.8, 0, 0)) < LOW);
        assert!(of(&found(400, 0.1, 1, 3)) < LOW);
    }

    #[test]
    fn looser_rules_lower_it() {
        let strict = of(&found(1500, 0.1, 4, 0));
        let loose = of(&found(1500, 0.1, 4, 2));
        assert!(loose < strict, "{loose} !< {strict}");
    }
}
