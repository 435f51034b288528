//! Bar charts drawn on the server as SVG, so they show without JavaScript:
//! a pure model here (bars with their coordinates, axis ticks at 1-2-5
//! steps, labels thinned so they never overlap), drawn by
//! `templates/partials/chart_bar.html`. The chart's drawing space is
//! [`WIDTH`] units wide, the width of a 360 px phone, so its text is
//! read at its size there and grows no larger than twice it elsewhere.

/// The drawing's width and height, in SVG units.
pub const WIDTH: f64 = 360.0;
pub const HEIGHT: f64 = 200.0;
/// Room on the left for the tick labels, below for the bar labels.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
/// The width a character of a label takes at the chart's font size.
const CHAR_WIDTH: f64 = 6.5;
/// The space kept between two labels.
const LABEL_GAP: f64 = 8.0;

/// One bar: its value, the words for it, where it is drawn and whether its
/// label is shown (labels are thinned to fit).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub text: String,
    pub partial: bool,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The middle of the bar, where its label is centred.
    pub centre: f64,
    pub show_label: bool,
}

/// A horizontal line of the axis with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub value: i64,
    pub text: String,
    pub y: f64,
}

/// A bar chart of a series, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    /// One line saying what the chart shows, for those who do not see it.
    pub summary: String,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    /// Where the zero line is drawn.
    pub zero_y: f64,
    pub left: f64,
    pub right: f64,
    /// Where the bar labels' baseline is.
    pub label_y: f64,
}

/// One point of a series: its label, its value, whether it is still going
/// on (drawn lighter).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub value: i64,
    pub partial: bool,
}

impl BarChart {
    /// The chart of `points`, values shown by `words` (a count, or money).
    /// Negative values hang below the zero line.
    pub fn new(title: &str, summary: String, points: &[Point], words: fn(i64) -> String) -> Self {
        let low = points.iter().map(|p| p.value).min().unwrap_or(0).min(0);
        let high = points.iter().map(|p| p.value).max().unwrap_or(0).max(0);
        let ticks = nice_ticks(low, high);
        let (bottom_value, top_value) = match (ticks.first(), ticks.last()) {
            (Some(&b), Some(&t)) if t > b => (b, t),
            _ => (0, 1),
        };
        let plot_height = HEIGHT - TOP - BOTTOM;
        let y_of = |value: i64| {
            let share = (value - bottom_value) as f64 / (top_value - bottom_value) as f64;
            round(TOP + plot_height * (1.0 - share))
        };
        let zero_y = y_of(0);
        let plot_width = WIDTH - LEFT - RIGHT;
        let slot = plot_width / points.len().max(1) as f64;
        let every = label_step(points, slot);
        let bars = points
            .iter()
            .enumerate()
            .map(|(i, point)| {
                let y = y_of(point.value);
                let x = LEFT + slot * i as f64;
                let centre = x + slot / 2.0;
                let half = point.label.chars().count() as f64 * CHAR_WIDTH / 2.0;
                Bar {
                    label: point.label.clone(),
                    value: point.value,
                    text: words(point.value),
                    partial: point.partial,
                    x: round(x + slot * 0.1),
                    y: y.min(zero_y),
                    width: round(slot * 0.8),
                    height: round((y - zero_y).abs()),
                    centre: round(centre),
                    // Every `every`-th label, if it fits inside the drawing.
                    show_label: i % every == 0 && centre + half <= WIDTH && centre >= half,
                }
            })
            .collect();
        BarChart {
            title: title.into(),
            summary,
            bars,
            ticks: ticks
                .into_iter()
                .map(|value| Tick {
                    value,
                    text: words(value),
                    y: y_of(value),
                })
                .collect(),
            zero_y,
            left: LEFT,
            right: WIDTH - RIGHT,
            label_y: HEIGHT - 8.0,
        }
    }

    /// The drawing's `viewBox`.
    pub fn view_box(&self) -> String {
        format!("0 0 {WIDTH} {HEIGHT}")
    }
}

/// Show every n-th label so that no two overlap: a label takes its
/// characters' width plus a gap, and a bar's slot is `slot` wide.
fn label_step(points: &[Point], slot: f64) -> usize {
    let widest = points
        .iter()
        .map(|p| p.label.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let needed = widest * CHAR_WIDTH + LABEL_GAP;
    if slot <= 0.0 {
        return 1;
    }
    ((needed / slot).ceil() as usize).max(1)
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Axis ticks from at or below `low` to at or above `high` (0 among them),
/// at a step of 1, 2 or 5 times a power of ten, about five of them.
pub fn nice_ticks(low: i64, high: i64) -> Vec<i64> {
    let span = high.saturating_sub(low).max(1);
    let rough = span / 4;
    let mut magnitude: i64 = 1;
    while magnitude.saturating_mul(10) <= rough {
        magnitude *= 10;
    }
    let step = [1, 2, 5, 10]
        .into_iter()
        .map(|k| k * magnitude)
        .find(|step| span / step <= 5)
        .unwrap_or(10 * magnitude);
    let first = low.div_euclid(step) * step;
    let mut ticks = vec![first];
    let mut tick = first;
    while tick < high {
        tick += step;
        ticks.push(tick);
    }
    if ticks.len() == 1 {
        ticks.push(first + step);
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[i64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| Point {
                label: format!("{} Nov", i + 1),
                value,
                partial: false,
            })
            .collect()
    }

    fn count(value: i64) -> String {
        value.to_string()
    }

    #[test]
    fn charts_ticks_step_by_one_two_or_five() {
        assert_eq!(nice_ticks(0, 0), [0, 1]);
        assert_eq!(nice_ticks(0, 3), [0, 1, 2, 3]);
        assert_eq!(nice_ticks(0, 7), [0, 2, 4, 6, 8]);
        assert_eq!(nice_ticks(0, 23), [0, 5, 10, 15, 20, 25]);
        assert_eq!(nice_ticks(0, 100), [0, 20, 40, 60, 80, 100]);
        assert_eq!(nice_ticks(0, 1_234_500), [0, 500_000, 1_000_000, 1_500_000]);
        assert_eq!(nice_ticks(-30, 70), [-40, -20, 0, 20, 40, 60, 80]);
        for (low, high) in [(0, 1), (0, 99), (-7, 0), (0, 999_999), (-5, 5)] {
            let ticks = nice_ticks(low, high);
            assert!(
                ticks.len() <= 8 && ticks.contains(&0),
                "{low} {high}: {ticks:?}"
            );
            assert!(ticks[0] <= low && *ticks.last().unwrap() >= high);
        }
    }

    #[test]
    fn charts_bars_stand_on_the_zero_line() {
        let chart = BarChart::new("Orders", "s".into(), &points(&[0, 4, 2]), count);
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.bars[0].height, 0.0);
        assert_eq!(chart.bars[0].y, chart.zero_y);
        let tall = &chart.bars[1];
        assert_eq!(tall.y, TOP);
        assert_eq!(tall.y + tall.height, chart.zero_y);
        assert!((chart.bars[2].height * 2.0 - tall.height).abs() < 0.2);
        assert!(
            chart
                .bars
                .iter()
                .all(|b| b.x >= LEFT && b.x + b.width <= WIDTH - RIGHT)
        );
    }

    #[test]
    fn charts_negative_values_hang_below_zero() {
        let chart = BarChart::new("Earnings", "s".into(), &points(&[-30, 70]), count);
        let (down, up) = (&chart.bars[0], &chart.bars[1]);
        assert_eq!(down.y, chart.zero_y);
        assert!(down.height > 0.0 && up.y + up.height == chart.zero_y);
        assert!(chart.zero_y < HEIGHT - BOTTOM);
    }

    #[test]
    fn charts_a_zero_series_draws_an_axis() {
        let chart = BarChart::new("Orders", "s".into(), &points(&[0; 7]), count);
        assert_eq!(chart.zero_y, HEIGHT - BOTTOM);
        assert!(chart.bars.iter().all(|b| b.height == 0.0 && b.show_label));
        let empty = BarChart::new("Orders", "s".into(), &[], count);
        assert!(empty.bars.is_empty() && empty.ticks.len() == 2);
    }

    #[test]
    fn charts_labels_never_overlap() {
        for n in [1, 7, 13, 28, 31, 53] {
            let chart = BarChart::new("Orders", "s".into(), &points(&vec![1; n]), count);
            let shown: Vec<&Bar> = chart.bars.iter().filter(|b| b.show_label).collect();
            assert!(!shown.is_empty());
            for pair in shown.windows(2) {
                let room = pair[1].centre - pair[0].centre;
                let half = |b: &Bar| b.label.chars().count() as f64 * CHAR_WIDTH / 2.0;
                assert!(room >= half(pair[0]) + half(pair[1]), "{n} bars");
            }
            let last = shown.last().unwrap();
            assert!(
                last.centre + last.label.chars().count() as f64 * CHAR_WIDTH / 2.0 <= WIDTH + 0.1
            );
        }
    }
}
