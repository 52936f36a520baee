package cli

import (
	"fmt"
	"strings"
)

// splitKeyValue splits "key=value" at the first '='. The value may be empty
// and may contain '='; the key may not be empty.
func splitKeyValue(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return "", "", fmt.Errorf("%q is not key=value", s)
	}
	return key, value, nil
}

// parseKeyValues parses each "key=value" of list into a map; a later key
// replaces an earlier one. It returns nil for an empty list.
func parseKeyValues(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(list))
	for _, s := range list {
		k, v, err := splitKeyValue(s)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// splitKeyValueList splits a comma-separated "k1=v1,k2=v2" list as found in
// an environment variable. A piece without '=' continues the previous value,
// so "cleanup.policy=compact,delete" stays one entry; empty pieces are
// dropped.
func splitKeyValueList(s string) []string {
	var out []string
	for _, piece := range strings.Split(s, ",") {
		switch {
		case strings.TrimSpace(piece) == "":
		case !strings.Contains(piece, "=") && len(out) > 0:
			out[len(out)-1] += "," + piece
		default:
			out = append(out, piece)
		}
	}
	return out
}
