package libcontainer

import "testing"

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		state byte
		start uint64
		bad   bool
	}{
		{"plain", "42 (sh) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10 18446744073709551615", 'S', 12345, false},
		{"paren in comm", "7 (a) b) (c) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 999 0 0 0", 'Z', 999, false},
		{"short", "7 (x) S 1 2", 0, 0, true},
		{"no paren", "garbage", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseProcStat([]byte(tt.line))
			if tt.bad {
				if err == nil {
					t.Fatalf("expected an error, got %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tt.state || st.StartTime != tt.start {
				t.Fatalf("got %c/%d, want %c/%d", st.State, st.StartTime, tt.state, tt.start)
			}
		})
	}
}
