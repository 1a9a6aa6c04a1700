//! Server-side SVG charts: a line of clicks over time, drawn from numbers only; every label is
//! escaped here, since the SVG is inserted into the page as markup.

/// Escapes text for XML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A line chart of `points` (label, value), with a title for assistive technology.
pub fn line(title: &str, points: &[(String, i64)]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 200.0;
    const PAD: f64 = 30.0;
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(2) as f64 - 1.0;
    let coords: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let x = PAD + (W - 2.0 * PAD) * i as f64 / n;
            let y = H - PAD - (H - 2.0 * PAD) * (*v as f64) / max;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let first = points.first().map(|(l, _)| escape(l)).unwrap_or_default();
    let last = points.last().map(|(l, _)| escape(l)).unwrap_or_default();
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-title\">\
         <title id=\"chart-title\">{title}</title>\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\"/>\
         <polyline class=\"line\" points=\"{pts}\"/>\
         <text x=\"{PAD}\" y=\"{ty}\">{first}</text>\
         <text x=\"{r}\" y=\"{ty}\" text-anchor=\"end\">{last}</text>\
         <text x=\"2\" y=\"{PAD}\">{max}</text></svg>",
        title = escape(title),
        b = H - PAD,
        r = W - PAD,
        ty = H - 8.0,
        pts = coords.join(" "),
        max = max as i64,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_escaped() {
        let svg = super::line("<script>", &[("<b>".into(), 1), ("\"x\"".into(), 3)]);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("&quot;x&quot;"));
    }
}
