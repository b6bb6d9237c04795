package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// WriteSVG draws each result's throughput and its p50 and p99 latency over
// time, one panel each, as an SVG file (no dependencies, viewable in any
// browser).
func WriteSVG(path string, results ...Result) error {
	const w, h, pad = 900.0, 260.0, 50.0
	var b strings.Builder
	panels := 2 * len(results)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h*float64(panels))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	panel := 0
	for _, r := range results {
		series := []struct {
			title string
			unit  string
			lines map[string][]float64
			color map[string]string
		}{
			{r.Name + ": throughput", "/s", map[string][]float64{"rate": pick(r.Series, func(p Point) float64 { return p.Rate })}, map[string]string{"rate": "#1f77b4"}},
			{r.Name + ": latency", "ms", map[string][]float64{
				"p50": pick(r.Series, func(p Point) float64 { return p.P50 }),
				"p99": pick(r.Series, func(p Point) float64 { return p.P99 }),
			}, map[string]string{"p50": "#2ca02c", "p99": "#d62728"}},
		}
		for _, s := range series {
			y0 := float64(panel) * h
			maxV := 0.0
			n := 0
			for _, vs := range s.lines {
				for _, v := range vs {
					maxV = math.Max(maxV, v)
				}
				n = max(n, len(vs))
			}
			if maxV == 0 {
				maxV = 1
			}
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", pad, y0+20, escapeXML(s.title))
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`+"\n", pad, y0+h-pad, w-pad/2, y0+h-pad)
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`+"\n", pad, y0+30, pad, y0+h-pad)
			fmt.Fprintf(&b, `<text x="5" y="%.0f">%.4g%s</text>`+"\n", y0+35, maxV, s.unit)
			fmt.Fprintf(&b, `<text x="5" y="%.0f">0</text>`+"\n", y0+h-pad)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">time (s) →</text>`+"\n", w-pad*2.5, y0+h-pad+18)
			legend := 0
			for _, name := range []string{"rate", "p50", "p99"} {
				vs, ok := s.lines[name]
				if !ok {
					continue
				}
				var pts []string
				for i, v := range vs {
					x := pad + (w-1.5*pad)*float64(i)/math.Max(1, float64(n-1))
					y := y0 + h - pad - (h-pad-30)*v/maxV
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				}
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color[name], strings.Join(pts, " "))
				fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", w-pad*2.5+float64(legend)*40, y0+20, s.color[name], name)
				legend++
			}
			panel++
		}
	}
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func pick(ps []Point, f func(Point) float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}

func escapeXML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
