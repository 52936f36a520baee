package broker

import "testing"

func TestEndOffsetForEpoch(t *testing.T) {
	// The cache knows epoch 2 from offset 0 and epoch 5 from offset 40.
	cached := func(e int32) (int32, int64) {
		switch {
		case e >= 5:
			return 5, 100
		case e >= 2:
			return 2, 40
		}
		return -1, -1
	}
	tests := []struct {
		requested, current int32
		wantEpoch          int32
		wantOffset         int64
	}{
		{7, 7, 7, 100}, // current epoch, nothing appended in it yet
		{8, 7, -1, -1}, // above the current epoch
		{5, 7, 5, 100},
		{3, 7, 2, 40},
		{1, 7, -1, -1},
		{-1, 7, -1, -1},
	}
	for _, tt := range tests {
		e, off := endOffsetForEpoch(tt.requested, tt.current, 100, cached)
		if e != tt.wantEpoch || off != tt.wantOffset {
			t.Errorf("endOffsetForEpoch(%d, current %d): got %d, %d, want %d, %d", tt.requested, tt.current, e, off, tt.wantEpoch, tt.wantOffset)
		}
	}
}
