// Package fuzzedit turns fuzz inputs into a one-byte edit of a string, for the fuzz
// targets that change a signed request after signing it. It is for tests only; no
// production code imports it.
package fuzzedit

// Apply applies one edit to s at pos (modulo its length): op 0 replaces the byte
// with b, 1 inserts b before it, 2 deletes it, 3 swaps it with the next one. An
// empty s becomes b.
func Apply(s string, pos uint, op, b byte) string {
	if len(s) == 0 {
		return string([]byte{b})
	}
	i := int(pos % uint(len(s)))
	switch op % 4 {
	case 0:
		return s[:i] + string([]byte{b}) + s[i+1:]
	case 1:
		return s[:i] + string([]byte{b}) + s[i:]
	case 2:
		return s[:i] + s[i+1:]
	default:
		if i+1 >= len(s) {
			return s[:i]
		}
		return s[:i] + s[i+1:i+2] + s[i:i+1] + s[i+2:]
	}
}
