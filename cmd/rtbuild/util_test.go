package main

import (
	"sort"
	"strings"
)

func sortStrings(s []string)         { sort.Strings(s) }
func contains(s, substr string) bool { return strings.Contains(s, substr) }
