package npm

import "strings"

// localeCompare approximates the "en" collation npm sorts with
// (@isaacs/string-locale-compare, i.e. Intl.Collator("en")) for the
// characters package names and paths hold: punctuation before digits before
// letters, case ignored at first and lower case first on a tie. It differs
// from byte order for "_" and "-" (which sort before "." and "/" and digits)
// and for case.
func localeCompare(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	for i := 0; i < len(ra) && i < len(rb); i++ {
		if wa, wb := primary(ra[i]), primary(rb[i]); wa != wb {
			if wa < wb {
				return -1
			}
			return 1
		}
	}
	if len(ra) != len(rb) {
		if len(ra) < len(rb) {
			return -1
		}
		return 1
	}
	for i := range ra { // tertiary: lower case first
		la, lb := isUpper(ra[i]), isUpper(rb[i])
		if la != lb {
			if !la {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

const punctOrder = "\t\n\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"

func primary(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return 1000 + int(r-'0')
	case r >= 'a' && r <= 'z':
		return 2000 + int(r-'a')
	case r >= 'A' && r <= 'Z':
		return 2000 + int(r-'A')
	}
	if i := strings.IndexRune(punctOrder, r); i >= 0 {
		return 100 + i
	}
	return 3000 + int(r)
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
