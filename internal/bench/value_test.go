package bench

import (
	"bytes"
	"compress/flate"
	"errors"
	"testing"
	"time"
)

func TestStamp(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr error
	}{
		{name: "exact", size: StampSize},
		{name: "larger", size: 1024},
		{name: "short", size: StampSize - 1, wantErr: ErrShortValue},
		{name: "empty", size: 0, wantErr: ErrShortValue},
	}
	at := time.Unix(1714564800, 123456789)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := make([]byte, tt.size)
			if tt.wantErr == nil {
				Stamp(v, at)
			}
			got, err := StampTime(v)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err == nil && !got.Equal(at) {
				t.Errorf("got %s, want %s", got, at)
			}
		})
	}
}

// deflated returns the size of b compressed with DEFLATE.
func deflated(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func TestValues(t *testing.T) {
	tests := []struct {
		name         string
		size         int
		compressible bool
		// ratio bounds compressed/original size of 64 values in a row.
		minRatio, maxRatio float64
	}{
		{name: "random", size: 1024, minRatio: 0.99, maxRatio: 1.1},
		{name: "compressible", size: 1024, compressible: true, minRatio: 0, maxRatio: 0.1},
		{name: "tiny random", size: 1, minRatio: 0.9, maxRatio: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := NewValues(tt.size, tt.compressible, 1)
			var all []byte
			for i := range 64 {
				v := vs.Next()
				if len(v) != tt.size {
					t.Fatalf("value %d: got %d bytes, want %d", i, len(v), tt.size)
				}
				all = append(all, v...)
			}
			ratio := float64(deflated(t, all)) / float64(len(all))
			if ratio < tt.minRatio || ratio > tt.maxRatio {
				t.Errorf("got compression ratio %.3f, want within [%g, %g]", ratio, tt.minRatio, tt.maxRatio)
			}
		})
	}
}

// TestValuesDistinctWithinABatch checks that random values do not repeat
// within the largest record batch a producer makes (~1 MB), where a codec
// could find the repeat.
func TestValuesDistinctWithinABatch(t *testing.T) {
	for _, size := range []int{16, 100, 1024, 100 << 10} {
		vs := NewValues(size, false, 7)
		seen := map[string]int{}
		for i := range max(1<<20/size, 2) + 1 {
			v := string(vs.Next())
			if j, ok := seen[v]; ok {
				t.Fatalf("size %d: value %d repeats value %d", size, i, j)
			}
			seen[v] = i
		}
	}
}
