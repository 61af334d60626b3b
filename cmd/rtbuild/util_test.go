package main

import (
	"sort"
	"strconv"
	"strings"
)

func sortStrings(s []string)         { sort.Strings(s) }
func contains(s, substr string) bool { return strings.Contains(s, substr) }

func itoa(n int) string { return strconv.Itoa(n) }
