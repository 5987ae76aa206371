package bench

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// writePlot draws, for every phase of every system, receipts per second
// and the p50 and p99 send→receipt latency of each second's receipts
// against time since the phase's first send, and writes it as SVG.
func writePlot(path string, r Result) error {
	rate := plot.New()
	rate.Title.Text = "receipts per second"
	rate.X.Label.Text = "seconds since the phase's first send"
	rate.Y.Label.Text = "receipts/s"
	lat := plot.New()
	lat.Title.Text = "send to receipt latency of each second's receipts (solid p99, dashed p50)"
	lat.X.Label.Text = rate.X.Label.Text
	lat.Y.Label.Text = "ms"
	for _, p := range []*plot.Plot{rate, lat} {
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
	}

	series := 0
	add := func(name string, s *Summary) error {
		if s == nil {
			return nil
		}
		for i, f := range s.Rounds {
			var receipts, p50, p99 plotter.XYs
			for _, b := range f.Timeline {
				receipts = append(receipts, plotter.XY{X: b.T, Y: float64(b.Receipts)})
				if b.Receipts > 0 {
					p50 = append(p50, plotter.XY{X: b.T, Y: b.P50Ms})
					p99 = append(p99, plotter.XY{X: b.T, Y: b.P99Ms})
				}
			}
			if len(receipts) == 0 {
				continue
			}
			label := fmt.Sprintf("%s round %d", name, i+1)
			color := plotutil.Color(series)
			series++
			for _, l := range []struct {
				p      *plot.Plot
				xy     plotter.XYs
				dashed bool
				legend bool
			}{{rate, receipts, false, true}, {lat, p99, false, true}, {lat, p50, true, false}} {
				if len(l.xy) == 0 {
					continue
				}
				line, err := plotter.NewLine(l.xy)
				if err != nil {
					return fmt.Errorf("plot %s: %w", label, err)
				}
				line.Color = color
				if l.dashed {
					line.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
				}
				l.p.Add(line)
				if l.legend {
					l.p.Legend.Add(label, line)
				}
			}
		}
		return nil
	}
	for _, s := range []struct {
		name string
		sum  *Summary
	}{{"herald", &r.Herald}, {"versus", r.Versus}, {"floor", &r.Floor}, {"raw", r.Raw}} {
		if err := add(s.name, s.sum); err != nil {
			return err
		}
	}

	img := vgsvg.New(vg.Points(900), vg.Points(800))
	canvases := plot.Align([][]*plot.Plot{{rate}, {lat}}, draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(20), PadX: vg.Points(10), PadTop: vg.Points(10), PadBottom: vg.Points(10)}, draw.New(img))
	rate.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	return nil
}
