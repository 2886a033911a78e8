package main

import "testing"

func TestSysmonThread(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		tids []int
		want int
	}{
		{"in creation order", 100, []int{100, 101, 102, 105}, 101},
		{"listed in any order", 100, []int{107, 100, 103, 104}, 103},
		{"the main thread alone", 100, []int{100}, 0},
		{"ids wrapped past pid_max", 4194300, []int{4194300, 4194302, 12, 13}, 0},
	} {
		if got := sysmonThread(tc.pid, tc.tids); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
