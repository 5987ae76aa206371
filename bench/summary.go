package bench

import (
	"reflect"
	"slices"
)

// Summary is one system's figures over the rounds: the median, smallest
// and largest value of every field, each taken on its own, and every round.
type Summary struct {
	Median Figures   `json:"median"`
	Min    Figures   `json:"min"`
	Max    Figures   `json:"max"`
	Rounds []Figures `json:"rounds"`
}

// Stat is the median and range of one figure over the rounds.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return Stat{Median: median(s), Min: s[0], Max: s[len(s)-1]}
}

// median of sorted s; the mean of the middle two for an even count.
func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summarize takes the median and range of every number field of rounds.
func summarize(rounds []Figures) Summary {
	sum := Summary{Rounds: rounds}
	if len(rounds) == 0 {
		return sum
	}
	med, lo, hi := reflect.ValueOf(&sum.Median).Elem(), reflect.ValueOf(&sum.Min).Elem(), reflect.ValueOf(&sum.Max).Elem()
	for i := range med.NumField() {
		if med.Field(i).Kind() != reflect.Float64 {
			continue
		}
		v := make([]float64, len(rounds))
		for r := range rounds {
			v[r] = reflect.ValueOf(rounds[r]).Field(i).Float()
		}
		st := statOf(v)
		med.Field(i).SetFloat(st.Median)
		lo.Field(i).SetFloat(st.Min)
		hi.Field(i).SetFloat(st.Max)
	}
	return sum
}

// Ratios compares two systems round by round (each round's figure of one
// over the same round's figure of the other, so both come from the same
// machine state), then takes the median and range of those ratios.
type Ratios struct {
	CPUPerDelivery Stat `json:"cpu_ms_per_delivery"`
	DeliveredPerS  Stat `json:"delivered_per_s"`
	CompletedPerS  Stat `json:"completed_deliveries_per_s"`
}

func ratiosOf(num, den []Figures) Ratios {
	var cpu, del, comp []float64
	for i := range min(len(num), len(den)) {
		cpu = append(cpu, ratio(num[i].CPUMsPerDelivery, den[i].CPUMsPerDelivery))
		del = append(del, ratio(num[i].DeliveredPerS, den[i].DeliveredPerS))
		comp = append(comp, ratio(num[i].CompletedPerS, den[i].CompletedPerS))
	}
	return Ratios{CPUPerDelivery: statOf(cpu), DeliveredPerS: statOf(del), CompletedPerS: statOf(comp)}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
